package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"google.golang.org/protobuf/proto"
)

// memStream is the stream under a coalescingStream: it records every
// Write it is given, can be made to fail them, and honours a write
// deadline that has passed.
type memStream struct {
	network.Stream // nil: calling anything not overridden panics

	mu       sync.Mutex
	writes   [][]byte
	failWith error
	deadline time.Time
	closed   bool
	resets   int
	wrote    chan struct{} // signalled (non-blocking) after each Write
}

func newMemStream() *memStream { return &memStream{wrote: make(chan struct{}, 1)} }

func (m *memStream) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.resets > 0:
		return 0, network.ErrReset
	case m.closed:
		return 0, errors.New("mem: write on closed stream")
	case m.failWith != nil:
		return 0, m.failWith
	case !m.deadline.IsZero() && !time.Now().Before(m.deadline):
		return 0, os.ErrDeadlineExceeded
	}
	m.writes = append(m.writes, bytes.Clone(b))
	select {
	case m.wrote <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (m *memStream) SetWriteDeadline(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deadline = t
	return nil
}

func (m *memStream) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memStream) CloseWrite() error { return m.Close() }

func (m *memStream) Reset() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resets++
	return nil
}

func (m *memStream) ResetWithError(network.StreamErrorCode) error { return m.Reset() }

func (m *memStream) snapshot() (writes [][]byte, closed bool, resets int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.writes...), m.closed, m.resets
}

func (m *memStream) delivered() []byte {
	w, _, _ := m.snapshot()
	return bytes.Join(w, nil)
}

// fakeClock hands out timers that fire only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	mu    sync.Mutex
	f     func()
	d     time.Duration
	armed bool
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) flushTimer {
	t := &fakeTimer{f: f, d: d, armed: true}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed, t.d = true, d
	return was
}

func (t *fakeTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

// fire runs every armed timer, as if its delay had run out; it reports
// how many ran.
func (c *fakeClock) fire() int {
	c.mu.Lock()
	ts := append([]*fakeTimer(nil), c.timers...)
	c.mu.Unlock()
	n := 0
	for _, t := range ts {
		t.mu.Lock()
		due := t.armed
		t.armed = false
		t.mu.Unlock()
		if due {
			n++
			t.f()
		}
	}
	return n
}

func (c *fakeClock) armed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		t.mu.Lock()
		a := t.armed
		t.mu.Unlock()
		if a {
			return true
		}
	}
	return false
}

func newTestCoalescer(limit int) (*coalescingStream, *memStream, *fakeClock) {
	m := newMemStream()
	clk := &fakeClock{}
	return newCoalescingStream(m, limit, time.Millisecond, clk.afterFunc), m, clk
}

func mustWrite(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	n, err := w.Write(b)
	if err != nil || n != len(b) {
		t.Fatalf("write %d bytes: n=%d err=%v", len(b), n, err)
	}
}

func TestCoalesceExactBytesInOrder(t *testing.T) {
	const limit = 1024
	c, m, clk := newTestCoalescer(limit)
	rng := rand.New(rand.NewSource(1))
	var want []byte
	var bigs [][]byte
	writes := 0
	for i := 0; i < 2000; i++ {
		size := 1 + rng.Intn(200)
		switch {
		case i%97 == 0:
			size = limit + rng.Intn(3*limit) // over the limit: straight through
		case i%89 == 0:
			size = limit // exactly the limit: buffered
		}
		b := make([]byte, size)
		rng.Read(b)
		want = append(want, b...)
		if size > limit {
			bigs = append(bigs, b)
		}
		mustWrite(t, c, b)
		writes++
		if i%50 == 0 {
			clk.fire()
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, closed, resets := m.snapshot()
	if !closed || resets != 0 {
		t.Fatalf("closed=%v resets=%d", closed, resets)
	}
	if !bytes.Equal(bytes.Join(got, nil), want) {
		t.Fatal("delivered bytes differ from the bytes written")
	}
	// Only a Write over the limit reaches the stream whole and over it.
	for i, w := range got {
		if len(w) > limit {
			if len(bigs) == 0 || !bytes.Equal(w, bigs[0]) {
				t.Fatalf("stream write %d: %d bytes, over the limit", i, len(w))
			}
			bigs = bigs[1:]
		}
	}
	if len(bigs) != 0 {
		t.Fatalf("%d large Writes not written through whole", len(bigs))
	}
	if len(got)*5 > writes {
		t.Errorf("%d Writes became %d stream writes: not coalesced", writes, len(got))
	}
	if clk.armed() {
		t.Error("a flush timer is still armed after Close")
	}
}

func TestCoalesceFlushOnSize(t *testing.T) {
	c, m, _ := newTestCoalescer(100)
	a, b := bytes.Repeat([]byte{'a'}, 60), bytes.Repeat([]byte{'b'}, 30)
	mustWrite(t, c, a)
	mustWrite(t, c, b)
	if w, _, _ := m.snapshot(); len(w) != 0 {
		t.Fatalf("%d writes under the limit, want none", len(w))
	}
	cc := bytes.Repeat([]byte{'c'}, 20) // 110 > 100: the first 90 go out
	mustWrite(t, c, cc)
	w, _, _ := m.snapshot()
	if len(w) != 1 || !bytes.Equal(w[0], append(a, b...)) {
		t.Fatalf("writes after passing the limit: %q", w)
	}
	big := bytes.Repeat([]byte{'d'}, 150) // over the limit: flush, then through
	mustWrite(t, c, big)
	w, _, _ = m.snapshot()
	if len(w) != 3 || !bytes.Equal(w[1], cc) || !bytes.Equal(w[2], big) {
		t.Fatalf("writes after a large Write: %d", len(w))
	}
}

func TestCoalesceFlushOnDelay(t *testing.T) {
	c, m, clk := newTestCoalescer(1 << 10)
	mustWrite(t, c, []byte("one"))
	mustWrite(t, c, []byte("two"))
	if w, _, _ := m.snapshot(); len(w) != 0 {
		t.Fatalf("flushed before the delay: %q", w)
	}
	if n := clk.fire(); n != 1 {
		t.Fatalf("%d timers fired, want 1", n)
	}
	if got := m.delivered(); string(got) != "onetwo" {
		t.Fatalf("after the delay: %q", got)
	}
	// The next byte arms the timer again, and a stale firing is harmless.
	mustWrite(t, c, []byte("three"))
	if !clk.armed() {
		t.Fatal("no timer armed for the next byte")
	}
	c.onTimer()
	c.onTimer()
	if got := m.delivered(); string(got) != "onetwothree" {
		t.Fatalf("after the second delay: %q", got)
	}
	if w, _, _ := m.snapshot(); len(w) != 2 {
		t.Fatalf("%d writes, want 2", len(w))
	}
}

// With the real clock, bytes go out within a bounded time of their Write.
func TestCoalesceFlushOnDelayRealClock(t *testing.T) {
	m := newMemStream()
	c := newCoalescingStream(m, 1<<10, time.Millisecond, realAfterFunc)
	mustWrite(t, c, []byte("hello"))
	select {
	case <-m.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("buffered bytes not flushed by the timer")
	}
	if got := m.delivered(); string(got) != "hello" {
		t.Fatalf("delivered %q", got)
	}
}

func TestCoalesceFlushErrorSurfaces(t *testing.T) {
	c, m, clk := newTestCoalescer(1 << 10)
	boom := errors.New("boom")
	mustWrite(t, c, []byte("lost"))
	m.mu.Lock()
	m.failWith = boom
	m.mu.Unlock()
	clk.fire()
	if _, _, resets := m.snapshot(); resets != 1 {
		t.Fatalf("stream reset %d times after a failed flush, want 1", resets)
	}
	if _, err := c.Write([]byte("next")); !errors.Is(err, boom) {
		t.Fatalf("Write after a failed flush: %v, want %v", err, boom)
	}
	if _, err := c.Write([]byte("again")); !errors.Is(err, boom) {
		t.Fatalf("second Write after a failed flush: %v", err)
	}
	if err := c.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close after a failed flush: %v", err)
	}
	if _, _, resets := m.snapshot(); resets != 1 {
		t.Fatalf("stream reset %d times, want 1", resets)
	}
}

func TestCoalesceSizeFlushErrorSurfaces(t *testing.T) {
	c, m, _ := newTestCoalescer(16)
	boom := errors.New("boom")
	mustWrite(t, c, []byte("0123456789"))
	m.mu.Lock()
	m.failWith = boom
	m.mu.Unlock()
	if _, err := c.Write([]byte("0123456789")); !errors.Is(err, boom) {
		t.Fatalf("Write that flushes into a failing stream: %v", err)
	}
	if _, err := c.Write(make([]byte, 100)); !errors.Is(err, boom) {
		t.Fatalf("large Write after the failure: %v", err)
	}
}

// A deadline set on the stream bounds the flushes that follow it.
func TestCoalesceDeadlineAppliesToFlush(t *testing.T) {
	c, m, clk := newTestCoalescer(1 << 10)
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, c, []byte("late"))
	clk.fire()
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write after a flush past the deadline: %v", err)
	}
	if len(m.delivered()) != 0 {
		t.Fatal("bytes delivered past the deadline")
	}
}

// A later deadline reaches the stream with the next flush, an earlier one
// at once.
func TestCoalesceDeadlineDeferred(t *testing.T) {
	c, m, clk := newTestCoalescer(1 << 10)
	dl := func() time.Time {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.deadline
	}
	d1 := time.Now().Add(time.Hour)
	d2 := d1.Add(time.Hour)
	_ = c.SetWriteDeadline(d1)
	if !dl().Equal(d1) {
		t.Fatal("first deadline not set on the stream")
	}
	_ = c.SetWriteDeadline(d2)
	mustWrite(t, c, []byte("x"))
	if !dl().Equal(d1) {
		t.Fatal("later deadline set before a flush")
	}
	clk.fire()
	if !dl().Equal(d2) {
		t.Fatal("later deadline not set by the flush")
	}
	d0 := time.Now().Add(time.Minute)
	_ = c.SetWriteDeadline(d0)
	if !dl().Equal(d0) {
		t.Fatal("earlier deadline not set at once")
	}
	_ = c.SetWriteDeadline(time.Time{})
	mustWrite(t, c, make([]byte, 2<<10)) // through, under no deadline
	if !dl().IsZero() {
		t.Fatal("cleared deadline not applied to the write")
	}
}

func TestCoalesceCloseFlushes(t *testing.T) {
	for _, name := range []string{"Close", "CloseWrite"} {
		t.Run(name, func(t *testing.T) {
			c, m, clk := newTestCoalescer(1 << 10)
			mustWrite(t, c, []byte("tail"))
			var err error
			if name == "Close" {
				err = c.Close()
			} else {
				err = c.CloseWrite()
			}
			if err != nil {
				t.Fatal(err)
			}
			w, closed, _ := m.snapshot()
			if !closed || len(w) != 1 || string(w[0]) != "tail" {
				t.Fatalf("after %s: writes %q closed %v", name, w, closed)
			}
			if clk.armed() {
				t.Fatal("flush timer still armed")
			}
			clk.fire()
			// Writes after closing reach the stream, which refuses them.
			if _, err := c.Write([]byte("more")); err == nil {
				t.Fatal("Write after close succeeded")
			}
		})
	}
}

func TestCoalesceResetDropsBuffer(t *testing.T) {
	c, m, clk := newTestCoalescer(1 << 10)
	mustWrite(t, c, []byte("dropped"))
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	clk.fire()
	if w, _, resets := m.snapshot(); len(w) != 0 || resets != 1 {
		t.Fatalf("after Reset: writes %q resets %d", w, resets)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, network.ErrReset) {
		t.Fatalf("Write after Reset: %v", err)
	}
}

// A Reset from another goroutine (gossipsub's reader, when the peer goes)
// while Writes and timer flushes run stops the Writes with an error.
func TestCoalesceResetWhileWriting(t *testing.T) {
	m := newMemStream()
	c := newCoalescingStream(m, 256, 20*time.Microsecond, realAfterFunc)
	done := make(chan error, 1)
	go func() {
		rec := make([]byte, 40)
		for {
			if _, err := c.Write(rec); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-m.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing flushed")
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, network.ErrReset) {
			t.Fatalf("Write after Reset: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Writes go on after Reset")
	}
}

// Concurrent Writes (and timer flushes) keep each Write's bytes together
// and each writer's Writes in order.
func TestCoalesceConcurrentWrites(t *testing.T) {
	m := newMemStream()
	c := newCoalescingStream(m, 512, 50*time.Microsecond, realAfterFunc)
	const writers, each = 8, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; i < each; i++ {
				size := 1 + rng.Intn(100)
				if i%37 == 0 {
					size = 600 // over the limit
				}
				rec := make([]byte, 8+size)
				binary.BigEndian.PutUint16(rec[0:], uint16(w))
				binary.BigEndian.PutUint16(rec[2:], uint16(i))
				binary.BigEndian.PutUint32(rec[4:], uint32(size))
				for j := range size {
					rec[8+j] = byte(w*31 + i + j)
				}
				if _, err := c.Write(rec); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := m.delivered()
	next := make([]int, writers)
	for len(got) > 0 {
		if len(got) < 8 {
			t.Fatalf("%d stray bytes", len(got))
		}
		w, i, size := int(binary.BigEndian.Uint16(got)), int(binary.BigEndian.Uint16(got[2:])), int(binary.BigEndian.Uint32(got[4:]))
		if w >= writers || i != next[w] || len(got) < 8+size {
			t.Fatalf("record writer %d index %d size %d: want index %d", w, i, size, next[w])
		}
		for j := range size {
			if got[8+j] != byte(w*31+i+j) {
				t.Fatalf("record %d/%d corrupt at %d", w, i, j)
			}
		}
		next[w]++
		got = got[8+size:]
	}
	for w, n := range next {
		if n != each {
			t.Errorf("writer %d: %d records delivered, want %d", w, n, each)
		}
	}
}

func newCoalesceTestHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// guardedHost coalesces the gossip streams it opens, and only those; the
// bytes arrive intact over a real yamux/noise connection.
func TestCoalesceGuardedHostNewStream(t *testing.T) {
	a, b := newCoalesceTestHost(t), newCoalesceTestHost(t)
	got := make(chan []byte, 1)
	b.SetStreamHandler(pubsub.GossipSubID_v12, func(s network.Stream) {
		data, _ := io.ReadAll(s)
		_ = s.Close()
		got <- data
	})
	b.SetStreamHandler("/other/1.0.0", func(s network.Stream) { _ = s.Reset() })
	connect(t, a, b)
	gh := guardedHost{Host: a}
	ctx, cancel := context.WithTimeout(context.Background(), netWait)
	defer cancel()

	s, err := gh.NewStream(ctx, b.ID(), pubsub.GossipSubDefaultProtocols...)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*coalescingStream); !ok {
		t.Fatalf("gossip stream is a %T, want a coalescing one", s)
	}
	var want []byte
	for i := range 500 {
		b := []byte(fmt.Sprintf("message %d;", i))
		want = append(want, b...)
		if err := s.SetWriteDeadline(time.Now().Add(netWait)); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s, b)
	}
	big := bytes.Repeat([]byte{7}, 3*coalesceLimit)
	want = append(want, big...)
	mustWrite(t, s, big)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-got:
		if !bytes.Equal(data, want) {
			t.Fatalf("received %d bytes, want %d identical", len(data), len(want))
		}
	case <-ctx.Done():
		t.Fatal("stream data not received")
	}

	o, err := gh.NewStream(ctx, b.ID(), "/other/1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.(*coalescingStream); ok {
		t.Fatal("a non-gossip stream is coalesced")
	}
	_ = o.Reset()
}

// rpcFrame is what gossipsub writes for rpc: a varint length and the
// RPC's protobuf encoding.
func rpcFrame(t testing.TB, rpc *pb.RPC) []byte {
	t.Helper()
	body, err := proto.Marshal(rpc)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func publishRPC(msgs ...string) *pb.RPC {
	rpc := &pb.RPC{}
	for _, m := range msgs {
		topic := "t/" + m
		rpc.Publish = append(rpc.Publish, &pb.Message{Topic: &topic, Data: append([]byte("data of "+m), bytes.Repeat([]byte{'.'}, 100)...)})
	}
	return rpc
}

func TestPublishOnly(t *testing.T) {
	one := rpcFrame(t, publishRPC("a"))
	two := rpcFrame(t, publishRPC("a", "b"))
	sub := true
	topic := "x"
	subs := rpcFrame(t, &pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: &sub, Topicid: &topic}}})
	mixed := rpcFrame(t, &pb.RPC{Publish: publishRPC("a").Publish, Control: &pb.ControlMessage{Graft: []*pb.ControlGraft{{TopicID: &topic}}}})
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"one message", one, true},
		{"two messages", two, true},
		{"subscriptions", subs, false},
		{"publish and control", mixed, false},
		{"empty frame", []byte{0}, false},
		{"no frame", nil, false},
		{"trailing byte", append(bytes.Clone(one), 0x12), false},
		{"short body", one[:len(one)-1], false},
		{"entry longer than the body", []byte{3, publishTag, 5, 0}, false},
		{"entry length overflows", []byte{12, publishTag, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, false},
		{"two frames in one write", append(bytes.Clone(one), one...), false},
	}
	for _, tc := range tests {
		body, ok := publishOnly(tc.b)
		if ok != tc.want {
			t.Errorf("%s: publishOnly = %v, want %v", tc.name, ok, tc.want)
			continue
		}
		if ok && !bytes.Equal(body, tc.b[len(tc.b)-len(body):]) {
			t.Errorf("%s: body is not the frame's tail", tc.name)
		}
	}
}

// TestCoalesceMergesPublishFrames: consecutive frames of published
// messages leave as one frame holding them all, in order and byte for byte
// the encoding of one RPC with the whole list; a frame of another kind
// ends the merged one and goes out unchanged, between its neighbours.
func TestCoalesceMergesPublishFrames(t *testing.T) {
	c, m, _ := newTestCoalescer(coalesceLimit)
	sub := true
	topic := "x"
	subs := &pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: &sub, Topicid: &topic}}}
	var names []string
	for i := range 200 { // 150 messages of about 120 bytes: a 3-byte prefix
		names = append(names, fmt.Sprintf("m%03d", i))
	}
	for _, n := range names[:150] {
		mustWrite(t, c, rpcFrame(t, publishRPC(n)))
	}
	mustWrite(t, c, rpcFrame(t, subs))
	mustWrite(t, c, rpcFrame(t, publishRPC(names[150:152]...)))
	for _, n := range names[152:] {
		mustWrite(t, c, rpcFrame(t, publishRPC(n)))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := rpcFrame(t, publishRPC(names[:150]...))
	if n, _ := binary.Uvarint(want); n < 1<<14 {
		t.Fatalf("the merged frame is %d bytes: too short to test a 3-byte prefix", n)
	}
	want = append(want, rpcFrame(t, subs)...)
	want = append(want, rpcFrame(t, publishRPC(names[150:]...))...)
	if got := m.delivered(); !bytes.Equal(got, want) {
		t.Fatalf("delivered %d bytes, want %d: not the three frames expected", len(got), len(want))
	}
	// A lone frame goes out as it came, with its own minimal prefix.
	c, m, clk := newTestCoalescer(coalesceLimit)
	f := rpcFrame(t, publishRPC("alone"))
	mustWrite(t, c, f)
	clk.fire()
	if got := m.delivered(); !bytes.Equal(got, f) {
		t.Fatalf("a lone frame became %x, want %x", got, f)
	}
}

// TestCoalesceMergedFramesDecode: any mix of publish frames, other frames
// and stray bytes written through a coalescer with a small limit reads
// back, frame by frame, as the same messages in the same order.
func TestCoalesceMergedFramesDecode(t *testing.T) {
	const limit = 2048
	c, m, clk := newTestCoalescer(limit)
	rng := rand.New(rand.NewSource(7))
	var want []string // published message topics, in order
	for i := range 3000 {
		switch r := rng.Intn(10); {
		case r < 8:
			k := 1 + rng.Intn(3)
			var ns []string
			for j := range k {
				ns = append(ns, fmt.Sprintf("%d.%d", i, j))
			}
			want = append(want, ns...)
			mustWrite(t, c, rpcFrame(t, publishRPC(ns...)))
		case r < 9:
			topic := fmt.Sprintf("graft %d", i)
			mustWrite(t, c, rpcFrame(t, &pb.RPC{Control: &pb.ControlMessage{Graft: []*pb.ControlGraft{{TopicID: &topic}}}}))
		default:
			// A message too large to buffer goes straight through.
			n := fmt.Sprintf("%d.big", i)
			rpc := publishRPC(n)
			rpc.Publish[0].Data = bytes.Repeat([]byte{1}, limit)
			want = append(want, n)
			mustWrite(t, c, rpcFrame(t, rpc))
		}
		if rng.Intn(40) == 0 {
			clk.fire()
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, frames := decodeFrames(t, m.delivered())
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d messages, want %d in the same order", len(got), len(want))
	}
	writes, _, _ := m.snapshot()
	t.Logf("%d messages in %d frames, %d stream writes", len(want), frames, len(writes))
	if frames*2 > len(want) {
		t.Errorf("%d messages in %d frames: not merged", len(want), frames)
	}
}

// decodeFrames reads varint-delimited RPCs as gossipsub does and returns
// the topics of their published messages, in order, and the frame count.
func decodeFrames(t *testing.T, b []byte) (topics []string, frames int) {
	t.Helper()
	for len(b) > 0 {
		n, pl := binary.Uvarint(b)
		if pl <= 0 || uint64(len(b)-pl) < n {
			t.Fatalf("frame %d: bad length prefix", frames)
		}
		var rpc pb.RPC
		if err := proto.Unmarshal(b[pl:pl+int(n)], &rpc); err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		for _, m := range rpc.Publish {
			topics = append(topics, strings.TrimPrefix(m.GetTopic(), "t/"))
		}
		b = b[pl+int(n):]
		frames++
	}
	return topics, frames
}

// TestCoalesceNoPublishToStrangers: a stream to a peer that is not
// admitted loses the publish entries of every frame (a frame of nothing
// else goes nowhere) and keeps the rest; once the peer is admitted, frames
// go out whole and merge again.
func TestCoalesceNoPublishToStrangers(t *testing.T) {
	c, m, _ := newTestCoalescer(coalesceLimit)
	admitted := false
	c.allow = func() bool { return admitted }
	sub := true
	topic := "x"
	subs := &pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: &sub, Topicid: &topic}}}
	graft := &pb.ControlMessage{Graft: []*pb.ControlGraft{{TopicID: &topic}}}
	mixed := publishRPC("a", "b")
	mixed.Control = graft
	mixed.Subscriptions = subs.Subscriptions

	mustWrite(t, c, rpcFrame(t, publishRPC("only")))
	mustWrite(t, c, rpcFrame(t, subs))
	mustWrite(t, c, rpcFrame(t, mixed))
	admitted = true
	mustWrite(t, c, rpcFrame(t, publishRPC("c")))
	mustWrite(t, c, rpcFrame(t, publishRPC("d")))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, rpcFrame(t, subs)...)
	want = append(want, rpcFrame(t, &pb.RPC{Subscriptions: subs.Subscriptions, Control: graft})...)
	want = append(want, rpcFrame(t, publishRPC("c", "d"))...)
	if got := m.delivered(); !bytes.Equal(got, want) {
		topics, frames := decodeFrames(t, got)
		t.Fatalf("delivered %d frames with messages %q, want: subscriptions, then subscriptions and control, then c and d merged", frames, topics)
	}
}

func TestWithoutPublish(t *testing.T) {
	topic := "x"
	control := &pb.RPC{Control: &pb.ControlMessage{Prune: []*pb.ControlPrune{{TopicID: &topic}}}}
	withPub := publishRPC("m")
	withPub.Control = control.Control
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"publish only", rpcFrame(t, publishRPC("m", "n")), nil},
		{"control only", rpcFrame(t, control), rpcFrame(t, control)},
		{"both", rpcFrame(t, withPub), rpcFrame(t, control)},
		{"not one frame", []byte{5, 1, 2}, []byte{5, 1, 2}},
		{"bad wire type", []byte{1, 0x17}, []byte{1, 0x17}},
		{"truncated entry", []byte{3, publishTag, 9, 0}, []byte{3, publishTag, 9, 0}},
	}
	for _, tc := range tests {
		if got := withoutPublish(tc.in); !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.want)
		}
	}
}
