package testnet

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

func TestBitfieldDelay(t *testing.T) {
	for _, tc := range []struct {
		configured, slot, want time.Duration
	}{
		{0, 6 * time.Second, 1500 * time.Millisecond}, // Polkadot's
		{0, 12 * time.Second, 1500 * time.Millisecond},
		{0, 2 * time.Second, 500 * time.Millisecond}, // a quarter of the slot
		{0, time.Second, 250 * time.Millisecond},
		{0, MinSlot, 125 * time.Millisecond},
		{-1, 6 * time.Second, 0}, // on import
		{300 * time.Millisecond, time.Second, 300 * time.Millisecond},
		{2 * time.Second, 6 * time.Second, 2 * time.Second},
	} {
		if got := resolveBitfieldDelay(tc.configured, tc.slot); got != tc.want {
			t.Errorf("configured %v, slot %v: %v, want %v", tc.configured, tc.slot, got, tc.want)
		}
	}
}

// fakeTimers is a clock the test moves and timers it fires by hand.
type fakeTimers struct {
	mu   sync.Mutex
	now  time.Time
	reqs chan fakeTimer
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func (f *fakeTimers) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTimers) set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.reqs <- fakeTimer{d, ch}
	return ch
}

// A leaf's bitfields are signed once they are due, not before; a leaf
// replaced before then is never signed for; one already due is signed at
// once.
func TestBitfieldQueueSignsWhenDue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	clock := &fakeTimers{now: t0, reqs: make(chan fakeTimer)}
	q := newBitfieldQueue()
	signs := make(chan types.Hash, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, clock.Now, clock.After, func(_ context.Context, leaf types.Hash) { signs <- leaf })
	}()
	expectTimer := func(want time.Duration) fakeTimer {
		t.Helper()
		select {
		case tm := <-clock.reqs:
			if tm.d != want {
				t.Fatalf("timer of %v, want %v", tm.d, want)
			}
			return tm
		case leaf := <-signs:
			t.Fatalf("signed %x while a timer of %v was expected", leaf[:2], want)
		case <-time.After(10 * time.Second):
			t.Fatalf("no timer of %v", want)
		}
		return fakeTimer{}
	}
	expectSign := func(want types.Hash) {
		t.Helper()
		select {
		case leaf := <-signs:
			if leaf != want {
				t.Fatalf("signed %x, want %x", leaf[:2], want[:2])
			}
		case tm := <-clock.reqs:
			t.Fatalf("a timer of %v while signing %x was expected", tm.d, want[:2])
		case <-time.After(10 * time.Second):
			t.Fatalf("%x never signed", want[:2])
		}
	}
	a, b, c := types.Hash{0xa}, types.Hash{0xb}, types.Hash{0xc}
	q.push(a, t0.Add(1500*time.Millisecond))
	timerA := expectTimer(1500 * time.Millisecond)
	// Block b replaces a 100 ms later: a's bitfields are never signed.
	clock.set(t0.Add(100 * time.Millisecond))
	q.push(b, t0.Add(1600*time.Millisecond))
	timerB := expectTimer(1500 * time.Millisecond)
	timerA.ch <- t0.Add(1500 * time.Millisecond)
	clock.set(t0.Add(1600 * time.Millisecond))
	timerB.ch <- t0.Add(1600 * time.Millisecond)
	expectSign(b)
	// A leaf already due (no delay) is signed without a timer.
	q.push(c, t0.Add(1600*time.Millisecond))
	expectSign(c)
	cancel()
	<-done
	select {
	case leaf := <-signs:
		t.Fatalf("signed %x after the last push", leaf[:2])
	default:
	}
}

// A node process gets --bitfield-delay only when the testnet was given
// one, the testnet's "on import" as 0s.
func TestNodeArgsBitfieldDelay(t *testing.T) {
	obs := peer.ID("observer")
	for _, tc := range []struct {
		delay time.Duration
		want  []string
	}{
		{0, nil},
		{-1, []string{"--bitfield-delay", "0s"}},
		{700 * time.Millisecond, []string{"--bitfield-delay", "700ms"}},
	} {
		cfg := Config{Nodes: 4, Validators: 8, LogLevel: "info", BitfieldDelay: tc.delay}
		got := nodeArgs(cfg, "chain.json", 1, "/b/node-1", "/ip4/127.0.0.1/tcp/7", []string{"/a", "/b"}, "127.0.0.1:9", obs, true)
		want := append([]string{"node", "--chain", "chain.json", "--validators", "1,5", "--base-path", "/b/node-1",
			"--listen", "/ip4/127.0.0.1/tcp/7", "--bootnodes", "/a,/b", "--metrics", "127.0.0.1:9",
			"--log-level", "info", "--trusted-peer", obs.String(), "--adversary"}, tc.want...)
		if !slices.Equal(got, want) {
			t.Errorf("delay %v:\n got %q\nwant %q", tc.delay, got, want)
		}
	}
}

// A node refuses a bitfield delay no bitfield could survive, before it
// starts anything.
func TestStartNodeRefusesBitfieldDelayOfASlot(t *testing.T) {
	g, err := NewGenesis(3, 1, 1, 1000, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = StartNode(t.Context(), NodeConfig{Genesis: g, Validator: 0, BitfieldDelay: time.Second})
	if !errors.Is(err, ErrUsage) || err.Error() != "--bitfield-delay 1s must be shorter than the slot (1s)" {
		t.Fatalf("err = %v", err)
	}
}
