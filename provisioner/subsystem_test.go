package provisioner

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type running struct {
	h    *harness
	s    *Subsystem
	leaf ActivatedLeaf
	done chan error
	stop context.CancelFunc
}

// startSubsystem runs a Subsystem over a fake chain and a manual clock,
// with one activated leaf.
func startSubsystem(t *testing.T, cfg Config) *running {
	t.Helper()
	h, leaf := lifecycleHarness(t, Config{})
	cfg.Chain, cfg.Clock = h.chain, h.clock
	s, err := NewSubsystem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{h: h, s: s, leaf: leaf, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-s.Done()
	})
	if err := s.ActiveLeaves(ctx, ActiveLeavesUpdate{Activated: []ActivatedLeaf{leaf}}); err != nil {
		t.Fatal(err)
	}
	// A subscription round trip: once it returns, the activation is done.
	if _, err := s.Subscribe(ctx, leaf.Hash, 1); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSubsystemServesRequests(t *testing.T) {
	r := startSubsystem(t, Config{})
	ctx := context.Background()
	if err := r.s.Feed(ctx, r.leaf.Hash, bitfield(0, "11")); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		resp InherentResponse
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := r.s.RequestInherentData(ctx, r.leaf.Hash)
		got <- answer{resp, err}
	}()
	// Held until PRE_PROPOSE: the loop arms a timer, and only moving the
	// clock past it releases the answer.
	r.h.clock.BlockUntilTimers(1)
	select {
	case a := <-got:
		t.Fatalf("answered before PRE_PROPOSE: %v", a.err)
	default:
	}
	r.h.clock.Advance(DefaultPrePropose)
	a := <-got
	if a.err != nil || len(a.resp.Data.Bitfields) != 1 {
		t.Fatalf("got %v with %d bitfields", a.err, len(a.resp.Data.Bitfields))
	}
	checkEncoding(t, a.resp)

	if _, err := r.s.RequestInherentData(ctx, testHash("nowhere", 1)); !errors.Is(err, ErrUnknownLeaf) {
		t.Fatalf("unknown leaf: %v", err)
	}
	if err := r.s.Feed(ctx, r.leaf.Hash, nil); !errors.Is(err, ErrInvalidData) {
		t.Fatalf("nil data: %v", err)
	}
}

func TestSubsystemConclude(t *testing.T) {
	r := startSubsystem(t, Config{})
	ctx := context.Background()
	held := make(chan error, 1)
	go func() {
		_, err := r.s.RequestInherentData(ctx, r.leaf.Hash)
		held <- err
	}()
	r.h.clock.BlockUntilTimers(1) // the request is held
	if err := r.s.Conclude(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-r.done; err != nil {
		t.Fatalf("Run after Conclude: %v", err)
	}
	if err := <-held; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("held request: %v", err)
	}
	if err := r.s.Feed(ctx, r.leaf.Hash, bitfield(0, "11")); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Feed after stop: %v", err)
	}
	if _, err := r.s.RequestInherentData(ctx, r.leaf.Hash); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("request after stop: %v", err)
	}
	if _, err := r.s.Subscribe(ctx, r.leaf.Hash, 1); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("subscribe after stop: %v", err)
	}
}

func TestSubsystemContextCancel(t *testing.T) {
	r := startSubsystem(t, Config{})
	held := make(chan error, 1)
	go func() {
		_, err := r.s.RequestInherentData(context.Background(), r.leaf.Hash)
		held <- err
	}()
	r.h.clock.BlockUntilTimers(1)
	r.stop()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := <-held; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("held request: %v", err)
	}
}

// TestSubsystemConcludeWithHungChainView: a chain view that ignores its
// context costs an assembly its bound and Conclude its grace period, and
// nothing more.
func TestSubsystemConcludeWithHungChainView(t *testing.T) {
	r := startSubsystem(t, Config{})
	ctx := context.Background()
	r.h.clock.Advance(DefaultPrePropose)
	r.h.chain.setHang("OnChainDisputes", true, false)
	answer := make(chan error, 1)
	go func() {
		_, err := r.s.RequestInherentData(ctx, r.leaf.Hash)
		answer <- err
	}()
	<-r.h.chain.entered
	r.h.clock.BlockUntilTimers(1) // the assembly bound
	r.h.clock.Advance(DefaultAssemblyTimeout)
	if err := <-answer; !errors.Is(err, ErrAssemblyTimeout) {
		t.Fatalf("got %v, want ErrAssemblyTimeout", err)
	}
	// The loop is free again while the call hangs.
	if err := r.s.Feed(ctx, r.leaf.Hash, bitfield(0, "11")); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Conclude(ctx); err != nil {
		t.Fatal(err)
	}
	r.h.clock.BlockUntilTimers(1) // the grace period
	select {
	case <-r.s.Done():
		t.Fatal("Run returned before its grace period with a call outstanding")
	default:
	}
	r.h.clock.Advance(DefaultConcludeGrace)
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The harness releases the hung call at cleanup; goleak checks it ends.
}

func TestSubsystemSlowSubscriberNeverBlocks(t *testing.T) {
	r := startSubsystem(t, Config{})
	ctx := context.Background()
	sub, err := r.s.Subscribe(ctx, r.leaf.Hash, 2)
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 10; v++ {
		if err := r.s.Feed(ctx, r.leaf.Hash, bitfield(types.ValidatorIndex(v), "11")); err != nil {
			t.Fatal(err)
		}
	}
	r.h.clock.Advance(DefaultPrePropose)
	resp, err := r.s.RequestInherentData(ctx, r.leaf.Hash)
	if err != nil || len(resp.Data.Bitfields) != 10 {
		t.Fatalf("got %v", err)
	}
	n := 0
	for range sub.C() {
		n++
	}
	if n != 2 || !errors.Is(sub.Err(), ErrSlowSubscriber) {
		t.Fatalf("slow subscriber got %d items then %v", n, sub.Err())
	}
}

func TestSubsystemRequestHonoursContext(t *testing.T) {
	r := startSubsystem(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	// Held (PRE_PROPOSE has not passed on the manual clock): ctx ends first.
	if _, err := r.s.RequestInherentData(ctx, r.leaf.Hash); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}
