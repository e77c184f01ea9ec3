package p2p

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// Outbound gossip writes. gossipsub's per-peer writer hands every RPC to
// its own Write on the stream, and each Write costs a yamux frame, a noise
// frame and a syscall: in a burst (a thousand bitfields of a hundred-odd
// bytes, each relayed to several mesh peers) that per-write cost is most
// of what gossip spends. coalescingStream sits between gossipsub and the
// outbound stream: Writes append to a buffer, and the buffer goes out in
// one write when it fills (coalesceLimit), coalesceDelay after its first
// byte, or when the stream is closed.
//
// One goroutine at a time owns the stream's write side (wmu): gossipsub's
// writer when a Write flushes, the timer's goroutine when the delay runs
// out. A failed flush resets the stream and the error comes back from the
// next Write, which gossipsub answers by dropping the stream.
//
// Frames that hold nothing but published messages are also merged: an RPC
// is a protobuf message, and the bodies of two RPCs whose only fields are
// `publish` entries, concatenated, are the body of one RPC with both
// lists. Gossipsub writes one frame (a varint length and an RPC) per Write,
// and a burst is mostly such frames (each message relayed alone), which
// the receiver would otherwise read, decode, check its sender's score
// for and hand to its event loop one by one. Consecutive publish-only
// frames in the buffer become one frame, in order, with a minimal length
// prefix (as every libp2p implementation expects); any other frame
// (subscriptions, control, anything not a well-formed frame) ends the
// merged one and goes out as it came. A merged frame stays under the
// buffer's limit (32 KiB), far below any receiver's frame limit (a
// stranger's is 64 KiB).
//
// A stream to a peer that is not admitted carries no published messages:
// gossipsub gates what it sends on the peer's score, but a peer it has no
// score record for yet (its subscriptions came before this node's own
// stream to it was open) scores 0, above the publish threshold, and a
// stranger joining every topic got a few messages that way under
// sybil-join. So each Write to such a peer loses its publish entries (a
// frame of nothing else is dropped whole); subscriptions and control go
// through.
//
// Write deadlines bound the flushes. gossipsub sets one (30 s on) before
// every Write, and setting a yamux deadline costs a timer, so a later
// deadline reaches the stream with the next flush; an earlier one (or the
// first) goes through at once, to cut short a flush in progress.

const (
	// coalesceLimit bounds the buffer: a Write that would take it past
	// the limit flushes first, and one the limit cannot hold goes straight
	// through. 32 KiB keeps a flush within one yamux and one noise frame.
	coalesceLimit = 32 << 10
	// coalesceDelay is how long a buffered byte may wait for company.
	coalesceDelay = 500 * time.Microsecond
)

// gossipProtocols are the protocols whose outbound streams coalesce.
var gossipProtocols = func() map[protocol.ID]bool {
	m := make(map[protocol.ID]bool)
	for _, p := range pubsub.GossipSubDefaultProtocols {
		m[p] = true
	}
	return m
}()

// isGossipStream reports whether a stream opened for pids is a gossip
// stream (gossipsub asks for its protocols; its tracer for another).
func isGossipStream(pids []protocol.ID) bool {
	for _, p := range pids {
		if !gossipProtocols[p] {
			return false
		}
	}
	return len(pids) > 0
}

// flushTimer is the part of *time.Timer a coalescingStream uses.
type flushTimer interface {
	Reset(time.Duration) bool
	Stop() bool
}

// afterFunc is time.AfterFunc, replaceable in tests.
type afterFunc func(time.Duration, func()) flushTimer

func realAfterFunc(d time.Duration, f func()) flushTimer { return time.AfterFunc(d, f) }

// coalesceBufs recycles flushed buffers among streams, so a quiet stream
// holds none.
var coalesceBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, coalesceLimit)
	return &b
}}

type coalescingStream struct {
	network.Stream
	// allow says whether the peer may be sent published messages (nil:
	// always).
	allow func() bool
	limit int
	delay time.Duration
	after afterFunc

	// wmu is held by whoever writes to the stream. Lock order: wmu, mu.
	wmu sync.Mutex

	mu  sync.Mutex
	buf *[]byte // pending bytes; nil when none
	// group is where the open merged frame starts in buf (mergePrefix
	// bytes reserved for its length, then the bodies), -1 when none.
	group int
	armed bool // a delayed flush is due
	timer flushTimer
	err   error // sticky: every later Write fails with it
	shut  bool  // closed for writing: Writes go straight through
	// wantDL is the write deadline last set, setDL the stream's.
	wantDL, setDL time.Time
}

func newCoalescingStream(s network.Stream, limit int, delay time.Duration, after afterFunc) *coalescingStream {
	return &coalescingStream{Stream: s, limit: limit, delay: delay, after: after, group: -1}
}

// mergePrefix is the room a merged frame's length takes while it is
// open: a varint of three bytes holds any length under 2 MiB.
const mergePrefix = 3

// publishTag is the protobuf key of RPC.publish (field 2, length-
// delimited).
const publishTag = 2<<3 | 2

// publishOnly returns the body of b when b is exactly one frame whose RPC
// holds only publish entries (and at least one).
func publishOnly(b []byte) ([]byte, bool) {
	n, pl := binary.Uvarint(b)
	if pl <= 0 || n == 0 || n != uint64(len(b)-pl) {
		return nil, false
	}
	body := b[pl:]
	for i := 0; i < len(body); {
		if body[i] != publishTag {
			return nil, false
		}
		i++
		l, k := binary.Uvarint(body[i:])
		if k <= 0 || l > uint64(len(body)-i-k) {
			return nil, false
		}
		i += k + int(l)
	}
	return body, true
}

// closeGroupLocked gives the open merged frame its minimal length prefix.
// Callers hold mu.
func (c *coalescingStream) closeGroupLocked() {
	if c.group < 0 {
		return
	}
	b := *c.buf
	start := c.group + mergePrefix
	var pre [binary.MaxVarintLen64]byte
	pl := binary.PutUvarint(pre[:], uint64(len(b)-start))
	copy(b[c.group+pl:], b[start:])
	copy(b[c.group:], pre[:pl])
	*c.buf = b[:len(b)-(mergePrefix-pl)]
	c.group = -1
}

// Write buffers b, or, when the buffer cannot take it, flushes and then
// buffers b or (if the limit cannot hold it) writes it through. A Write
// that returns nil has not necessarily reached the stream; an error from
// an earlier flush comes back here.
func (c *coalescingStream) Write(b []byte) (int, error) {
	if c.allow != nil && !c.allow() {
		n := len(b)
		if b = withoutPublish(b); len(b) == 0 {
			return n, nil
		}
		if _, err := c.write(b); err != nil {
			return 0, err
		}
		return n, nil
	}
	return c.write(b)
}

// withoutPublish returns the frame b without its RPC's publish entries:
// b itself when it has none or is not exactly one well-formed frame, nil
// when nothing else is left.
func withoutPublish(b []byte) []byte {
	n, pl := binary.Uvarint(b)
	if pl <= 0 || n != uint64(len(b)-pl) {
		return b
	}
	body := b[pl:]
	var kept []byte
	stripped := false
	for i := 0; i < len(body); {
		tag, k := binary.Uvarint(body[i:])
		if k <= 0 {
			return b
		}
		end := i + k
		switch tag & 7 {
		case 0:
			_, m := binary.Uvarint(body[end:])
			if m <= 0 {
				return b
			}
			end += m
		case 1:
			end += 8
		case 2:
			l, m := binary.Uvarint(body[end:])
			if m <= 0 || l > uint64(len(body)-end-m) {
				return b
			}
			end += m + int(l)
		case 5:
			end += 4
		default:
			return b
		}
		if end > len(body) {
			return b
		}
		if tag == publishTag {
			stripped = true
		} else {
			kept = append(kept, body[i:end]...)
		}
		i = end
	}
	if !stripped {
		return b
	}
	if len(kept) == 0 {
		return nil
	}
	return append(binary.AppendUvarint(nil, uint64(len(kept))), kept...)
}

// write is Write for a frame the peer may have.
func (c *coalescingStream) write(b []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if !c.shut && c.appendLocked(b) {
		c.mu.Unlock()
		return len(b), nil
	}
	c.mu.Unlock()

	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushOwned(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.err == nil && !c.shut && c.appendLocked(b) {
		c.mu.Unlock()
		return len(b), nil
	}
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	c.applyDeadline()
	n, err := c.Stream.Write(b)
	if err != nil {
		c.fail(err)
	}
	return n, err
}

// SetWriteDeadline sets the deadline for the flushes to come (and for
// one in progress, if the deadline is earlier than the stream's).
func (c *coalescingStream) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wantDL = t
	if !t.IsZero() && (c.setDL.IsZero() || t.Before(c.setDL)) {
		c.setDL = t
		return c.Stream.SetWriteDeadline(t)
	}
	return nil
}

func (c *coalescingStream) SetDeadline(t time.Time) error {
	if err := c.Stream.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// applyDeadline gives the stream the deadline last set, before a write.
// Callers hold wmu.
func (c *coalescingStream) applyDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.wantDL.Equal(c.setDL) {
		c.setDL = c.wantDL
		_ = c.Stream.SetWriteDeadline(c.wantDL)
	}
}

// appendLocked adds b to the buffer if it fits (merged into the open
// frame when both hold only published messages), arming the delayed flush
// for a first byte. Callers hold mu.
func (c *coalescingStream) appendLocked(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	have := 0
	if c.buf != nil {
		have = len(*c.buf)
	}
	body, merge := publishOnly(b)
	need := len(b)
	switch {
	case merge && c.group >= 0:
		need = len(body)
	case merge:
		need = mergePrefix + len(body)
	}
	if have+need > c.limit {
		return false
	}
	if c.buf == nil {
		c.buf = coalesceBufs.Get().(*[]byte)
	}
	switch {
	case !merge:
		c.closeGroupLocked()
		*c.buf = append(*c.buf, b...)
	default:
		if c.group < 0 {
			c.group = len(*c.buf)
			*c.buf = append(*c.buf, make([]byte, mergePrefix)...)
		}
		*c.buf = append(*c.buf, body...)
	}
	if !c.armed {
		c.armed = true
		if c.timer == nil {
			c.timer = c.after(c.delay, c.onTimer)
		} else {
			c.timer.Reset(c.delay)
		}
	}
	return true
}

// onTimer runs on the timer's goroutine when the delay runs out.
func (c *coalescingStream) onTimer() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	due := c.armed
	c.mu.Unlock()
	if due {
		_ = c.flushOwned()
	}
}

// flushOwned writes out the buffer. Callers hold wmu. On failure the
// stream is reset and the error kept for the next Write.
func (c *coalescingStream) flushOwned() error {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	buf := c.takeLocked()
	c.mu.Unlock()
	if buf == nil {
		return nil
	}
	c.applyDeadline()
	_, err := c.Stream.Write(*buf)
	*buf = (*buf)[:0]
	coalesceBufs.Put(buf)
	if err != nil {
		c.fail(err)
	}
	return err
}

// takeLocked detaches the pending bytes and disarms the delayed flush.
func (c *coalescingStream) takeLocked() *[]byte {
	if c.buf != nil {
		c.closeGroupLocked()
	}
	buf := c.buf
	c.buf = nil
	if c.armed {
		c.armed = false
		c.timer.Stop()
	}
	return buf
}

// fail records a write error and resets the stream: what was buffered
// behind the failed bytes cannot follow them.
func (c *coalescingStream) fail(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.dropLocked()
	c.mu.Unlock()
	if first {
		_ = c.Stream.Reset()
	}
}

func (c *coalescingStream) dropLocked() {
	if buf := c.takeLocked(); buf != nil {
		*buf = (*buf)[:0]
		coalesceBufs.Put(buf)
	}
}

// finish flushes and marks the write side shut, then runs done on the
// stream; a failed flush resets the stream instead.
func (c *coalescingStream) finish(done func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := c.flushOwned()
	c.mu.Lock()
	c.shut = true
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return done()
}

// Close flushes, then closes the stream.
func (c *coalescingStream) Close() error { return c.finish(c.Stream.Close) }

// CloseWrite flushes, then closes the stream for writing.
func (c *coalescingStream) CloseWrite() error { return c.finish(c.Stream.CloseWrite) }

// Reset drops what is buffered and resets the stream at once, without
// waiting for a flush in progress (the reset interrupts it).
func (c *coalescingStream) Reset() error {
	c.abandon()
	return c.Stream.Reset()
}

func (c *coalescingStream) ResetWithError(code network.StreamErrorCode) error {
	c.abandon()
	return c.Stream.ResetWithError(code)
}

func (c *coalescingStream) abandon() {
	c.mu.Lock()
	if c.err == nil {
		c.err = network.ErrReset
	}
	c.dropLocked()
	c.mu.Unlock()
}
