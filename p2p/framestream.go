package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Inbound gossip frames. gossipsub reads each RPC as a varint length and a
// body, allocating the whole length as soon as the prefix is in, and sets
// no deadline: a peer that sends prefixes and stalls holds that memory for
// as long as the connection lives. frameStream sits between the stream and
// gossipsub, follows the framing byte by byte, and before gossipsub sees a
// prefix it checks the frame against the sender's limit (a stranger may
// send subscriptions, nothing large), reserves the frame's bytes from the
// peer's and the node's budgets, and arms a deadline for the body. Between
// frames no deadline runs: a quiet validator is not a stalled one.

// Frame errors, testable with errors.Is.
var (
	ErrFrameBudget  = errors.New("gossip frame over the byte budget")
	ErrFrameStalled = errors.New("gossip frame stalled")
)

// frameBudget accounts frame bytes in flight per peer and in total.
type frameBudget struct {
	perPeer, total int

	mu    sync.Mutex
	used  int
	peers map[peer.ID]int
}

func newFrameBudget(perPeer, total int) *frameBudget {
	return &frameBudget{perPeer: perPeer, total: total, peers: make(map[peer.ID]int)}
}

func (b *frameBudget) reserve(p peer.ID, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.peers[p]+n > b.perPeer || b.used+n > b.total {
		return false
	}
	b.peers[p] += n
	b.used += n
	return true
}

func (b *frameBudget) release(p peer.ID, n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.peers[p] -= n; b.peers[p] <= 0 {
		delete(b.peers, p)
	}
}

func (b *frameBudget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// frameGuard holds what every frameStream of a node shares.
type frameGuard struct {
	cfg      *FrameConfig
	maxFrame int
	budget   *frameBudget
	admitted func(peer.ID) bool
	onDrop   func(reason string)
}

// frameStream wraps one inbound gossip stream.
type frameStream struct {
	network.Stream
	g    *frameGuard
	peer peer.ID

	mu sync.Mutex
	// prefix state: the varint being read.
	pre      uint64
	preShift uint
	inPrefix bool
	// body state.
	remaining int
	reserved  int
	deadline  time.Time
	// set is the read deadline last given to the stream: setting one
	// costs yamux a timer, and between frames it stays the zero time.
	set time.Time
}

func (g *frameGuard) wrap(s network.Stream) *frameStream {
	return &frameStream{Stream: s, g: g, peer: s.Conn().RemotePeer()}
}

// Read passes bytes through, following the framing; it fails (and
// gossipsub resets the stream) on a frame over the sender's limit or
// budget, or one whose body stalls.
func (f *frameStream) Read(b []byte) (int, error) {
	f.mu.Lock()
	mid := f.inPrefix || f.remaining > 0
	dl := f.deadline
	if !mid {
		dl = time.Time{}
	}
	change := !dl.Equal(f.set)
	f.set = dl
	f.mu.Unlock()
	if change {
		_ = f.Stream.SetReadDeadline(dl)
	}
	n, err := f.Stream.Read(b)
	if n > 0 {
		if ferr := f.follow(b[:n]); ferr != nil {
			f.releaseAll()
			return 0, ferr
		}
	}
	if err != nil {
		if mid && isTimeout(err) {
			f.g.drop("stalled")
			err = fmt.Errorf("%w: %w", ErrFrameStalled, err)
		}
		f.releaseAll()
	}
	return n, err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// follow advances the framing state over b.
func (f *frameStream) follow(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(b) > 0 {
		if f.remaining > 0 {
			k := min(len(b), f.remaining)
			f.remaining -= k
			b = b[k:]
			if f.remaining == 0 {
				f.g.budget.release(f.peer, f.reserved)
				f.reserved = 0
			}
			continue
		}
		c := b[0]
		b = b[1:]
		if !f.inPrefix {
			f.inPrefix = true
			f.pre, f.preShift = 0, 0
			f.deadline = time.Now().Add(f.g.cfg.Timeout)
		}
		if f.preShift > 56 {
			f.g.drop("prefix")
			return fmt.Errorf("%w: frame length prefix too long", ErrFrameTooLarge)
		}
		f.pre |= uint64(c&0x7f) << f.preShift
		f.preShift += 7
		if c&0x80 != 0 {
			continue
		}
		f.inPrefix = false
		if f.pre == 0 {
			continue
		}
		limit := f.g.maxFrame
		if !f.g.admitted(f.peer) {
			limit = min(limit, f.g.cfg.StrangerMax)
		}
		if f.pre > uint64(limit) {
			f.g.drop("oversize")
			return fmt.Errorf("%w: %d bytes from %s, limit %d", ErrFrameTooLarge, f.pre, f.peer, limit)
		}
		n := int(f.pre)
		if !f.g.budget.reserve(f.peer, n) {
			f.g.drop("budget")
			return fmt.Errorf("%w: %d bytes from %s", ErrFrameBudget, n, f.peer)
		}
		f.reserved = n
		f.remaining = n
		// The body gets Timeout, plus a second per MinRate bytes.
		f.deadline = time.Now().Add(f.g.cfg.Timeout + time.Duration(n)*time.Second/time.Duration(f.g.cfg.MinRate))
	}
	return nil
}

func (f *frameStream) releaseAll() {
	f.mu.Lock()
	n := f.reserved
	f.reserved, f.remaining, f.inPrefix = 0, 0, false
	f.mu.Unlock()
	f.g.budget.release(f.peer, n)
}

func (f *frameStream) Close() error {
	f.releaseAll()
	return f.Stream.Close()
}

func (f *frameStream) Reset() error {
	f.releaseAll()
	return f.Stream.Reset()
}

func (g *frameGuard) drop(reason string) {
	if g.onDrop != nil {
		g.onDrop(reason)
	}
}

// guardedHost is the host gossipsub is given: the stream handlers it
// registers read through a frameStream, and the gossip streams it opens
// write through a coalescingStream.
type guardedHost struct {
	host.Host
	g *frameGuard
}

func (h guardedHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil || !isGossipStream(pids) {
		return s, err
	}
	c := newCoalescingStream(s, coalesceLimit, coalesceDelay, realAfterFunc)
	if h.g != nil && h.g.admitted != nil {
		c.allow = func() bool { return h.g.admitted(p) }
	}
	return c, nil
}

func (h guardedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(h.g.wrap(s)) })
}

func (h guardedHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, m, func(s network.Stream) { handler(h.g.wrap(s)) })
}
