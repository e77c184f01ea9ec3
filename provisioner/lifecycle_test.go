package provisioner

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/types"
)

// lifecycleHarness: 10 validators, two occupied cores, one leaf registered
// (not yet active).
func lifecycleHarness(t *testing.T, cfg Config) (*harness, ActivatedLeaf) {
	t.Helper()
	h := newHarness(t, cfg)
	h.addSession(1, fakeIDs(10), 5)
	leaf := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{occupied(1, 10), occupied(2, 10)})
	return h, leaf
}

func TestJobActivationAndDeactivation(t *testing.T) {
	h, leaf := lifecycleHarness(t, Config{})
	other := h.addLeaf(olderLeaf, leafNumber-1, 1, nil)
	h.activate(leaf, other)
	h.activate(leaf) // again: nothing changes
	if got := metricValue(t, h.p.m.activeJobs); got != 2 || len(h.p.ActiveLeaves()) != 2 {
		t.Fatalf("active jobs = %v, want 2", got)
	}
	h.mustProvide(leaf.Hash, bitfield(0, "11"))
	h.deactivate(leaf.Hash)
	if got := metricValue(t, h.p.m.activeJobs); got != 1 {
		t.Fatalf("active jobs after deactivation = %v, want 1", got)
	}
	if _, ok := h.p.jobs[leaf.Hash]; ok {
		t.Fatal("deactivated job still held")
	}
	err := h.provide(leaf.Hash, bitfield(1, "11"))
	if !errors.Is(err, ErrUnknownLeaf) || discarded(h, "bitfield", "unknown_relay_parent") != 1 {
		t.Fatalf("data for a deactivated leaf: got %v, want a counted discard", err)
	}
	// A leaf activated again starts empty.
	h.activate(leaf)
	if got := h.inherent(leaf.Hash).Bitfields; len(got) != 0 {
		t.Fatalf("re-activated leaf kept %d bitfields", len(got))
	}
}

func TestDataForUnknownLeafIsDiscarded(t *testing.T) {
	h, leaf := lifecycleHarness(t, Config{})
	h.activate(leaf)
	for _, d := range []Data{bitfield(0, "11"), makeCandidate(v1(1, leafHash)), disputeSet(1, leafHash, votes(true, 0, 1))} {
		if err := h.provide(testHash("nowhere", 1), d); !errors.Is(err, ErrUnknownLeaf) {
			t.Fatalf("%s: got %v", d.kind(), err)
		}
		if discarded(h, d.kind(), "unknown_relay_parent") != 1 {
			t.Fatalf("%s: discard not counted", d.kind())
		}
	}
	if err := h.provide(leaf.Hash, (*SignedBitfield)(nil)); !errors.Is(err, ErrInvalidData) {
		t.Fatalf("nil data: got %v", err)
	}
}

func TestRequestHeldUntilPrePropose(t *testing.T) {
	h, leaf := lifecycleHarness(t, Config{})
	h.activate(leaf)
	early1, early2 := h.request(leaf.Hash), h.request(leaf.Hash)
	if next, ok := h.p.NextDeadline(); !ok || !next.Equal(t0.Add(DefaultPrePropose)) {
		t.Fatalf("next deadline %v %v, want PRE_PROPOSE after activation", next, ok)
	}
	h.clock.Advance(DefaultPrePropose - time.Millisecond)
	h.p.Tick(h.ctx)
	if !pending(early1) || !pending(early2) {
		t.Fatal("request answered before PRE_PROPOSE")
	}
	// A bitfield arriving while the request is held makes it in.
	h.mustProvide(leaf.Hash, bitfield(3, "10"))
	h.clock.Advance(time.Millisecond)
	h.p.Tick(h.ctx)
	r1, r2 := <-early1, <-early2
	if r1.Err != nil || r2.Err != nil {
		t.Fatalf("held requests failed: %v, %v", r1.Err, r2.Err)
	}
	if len(r1.Data.Bitfields) != 1 || r1.Data != r2.Data {
		t.Fatal("held requests should share one assembly with the bitfield")
	}
	if _, ok := h.p.NextDeadline(); ok {
		t.Fatal("no request is held any more")
	}
}

func TestLateRequestsReselect(t *testing.T) {
	h, leaf := lifecycleHarness(t, Config{})
	h.activate(leaf)
	h.mustProvide(leaf.Hash, bitfield(0, "10"))
	h.clock.Advance(DefaultPrePropose)
	first := h.request(leaf.Hash)
	if pending(first) {
		t.Fatal("a request after PRE_PROPOSE is answered at once")
	}
	h.mustProvide(leaf.Hash, bitfield(1, "11"))
	h.mustProvide(leaf.Hash, bitfield(0, "11"))
	second := <-h.request(leaf.Hash)
	if got := (<-first).Data.Bitfields; len(got) != 1 {
		t.Fatalf("first answer has %d bitfields, want 1", len(got))
	}
	if got := second.Data.Bitfields; len(got) != 2 || got[0].Payload.CountOnes() != 2 {
		t.Fatalf("second answer should reflect the new data")
	}
}

func TestRequestErrors(t *testing.T) {
	t.Run("unknown leaf is answered at once", func(t *testing.T) {
		h, _ := lifecycleHarness(t, Config{})
		r := <-h.request(testHash("nowhere", 1))
		if !errors.Is(r.Err, ErrUnknownLeaf) || r.Data != nil {
			t.Fatalf("got %v", r.Err)
		}
	})
	t.Run("deactivation answers held requests", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		held := h.request(leaf.Hash)
		h.deactivate(leaf.Hash)
		if r := <-held; !errors.Is(r.Err, ErrLeafDeactivated) {
			t.Fatalf("got %v", r.Err)
		}
	})
	t.Run("too many held requests", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{MaxHeldRequests: 2})
		h.activate(leaf)
		h.request(leaf.Hash)
		h.request(leaf.Hash)
		if r := <-h.request(leaf.Hash); !errors.Is(r.Err, ErrTooManyRequests) {
			t.Fatalf("got %v", r.Err)
		}
	})
	t.Run("a full reply channel never blocks the provisioner", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		h.clock.Advance(DefaultPrePropose)
		h.p.Request(h.ctx, leaf.Hash, make(chan InherentResponse)) // unbuffered, nobody reading
		h.p.Request(h.ctx, leaf.Hash, nil)
	})
	t.Run("requests metric", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		h.inherent(leaf.Hash)
		<-h.request(testHash("nowhere", 1))
		if ok, failed := metricValue(t, h.p.m.requests.WithLabelValues("succeeded")), metricValue(t, h.p.m.requests.WithLabelValues("failed")); ok != 1 || failed != 1 {
			t.Fatalf("succeeded %v failed %v, want 1 and 1", ok, failed)
		}
	})
}

func TestConcludeStopsEveryJob(t *testing.T) {
	h, leaf := lifecycleHarness(t, Config{})
	other := h.addLeaf(olderLeaf, leafNumber-1, 1, nil)
	h.activate(leaf, other)
	held := h.request(leaf.Hash)
	sub, err := h.p.Subscribe(other.Hash, 4)
	if err != nil {
		t.Fatal(err)
	}
	h.p.HandleSignal(h.ctx, Conclude{})
	if r := <-held; !errors.Is(r.Err, ErrShuttingDown) {
		t.Fatalf("held request: %v", r.Err)
	}
	if _, open := <-sub.C(); open || !errors.Is(sub.Err(), ErrShuttingDown) {
		t.Fatalf("subscription not closed for shutdown: %v", sub.Err())
	}
	if !h.p.Concluded() || len(h.p.jobs) != 0 || metricValue(t, h.p.m.activeJobs) != 0 {
		t.Fatal("jobs survive Conclude")
	}
	if r := <-h.request(leaf.Hash); !errors.Is(r.Err, ErrShuttingDown) {
		t.Fatalf("request after Conclude: %v", r.Err)
	}
	if err := h.provide(leaf.Hash, bitfield(0, "11")); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("data after Conclude: %v", err)
	}
	if _, err := h.p.Subscribe(leaf.Hash, 1); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("subscribe after Conclude: %v", err)
	}
	h.activate(leaf)
	if len(h.p.jobs) != 0 {
		t.Fatal("activation after Conclude started a job")
	}
}

func TestSubscriptions(t *testing.T) {
	t.Run("every accepted piece reaches every subscriber in order", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		a, _ := h.p.Subscribe(leaf.Hash, 8)
		b, _ := h.p.Subscribe(leaf.Hash, 0)
		bf := bitfield(0, "11")
		c := makeCandidate(v1(1, leafHash))
		h.mustProvide(leaf.Hash, bf)
		_ = h.provide(leaf.Hash, bitfield(1, "111")) // refused: not delivered
		d := disputeSet(1, leafHash, votes(true, 0, 2))
		h.mustProvide(leaf.Hash, d)
		_ = h.provide(leaf.Hash, c) // no core for para 1 here: refused
		for _, s := range []*Subscription{a, b} {
			if got := <-s.C(); got != Data(bf) {
				t.Fatalf("first delivery %v, want the bitfield", got)
			}
			if got := <-s.C(); got != Data(d) {
				t.Fatalf("second delivery %v, want the dispute statements", got)
			}
			if len(s.C()) != 0 {
				t.Fatalf("refused data was delivered")
			}
		}
	})
	t.Run("a slow subscriber loses its subscription and slows nobody", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		slow, _ := h.p.Subscribe(leaf.Hash, 1)
		fast, _ := h.p.Subscribe(leaf.Hash, 16)
		for v := 0; v < 5; v++ {
			h.mustProvide(leaf.Hash, bitfield(types.ValidatorIndex(v), "11"))
		}
		if _, ok := <-slow.C(); !ok {
			t.Fatal("the buffered item should still be readable")
		}
		if _, open := <-slow.C(); open || !errors.Is(slow.Err(), ErrSlowSubscriber) {
			t.Fatalf("slow subscriber: closed=%v err=%v", !open, slow.Err())
		}
		if len(fast.C()) != 5 || fast.Err() != nil {
			t.Fatalf("fast subscriber got %d of 5", len(fast.C()))
		}
		if v := metricValue(t, h.p.m.subscriberDrops.WithLabelValues("slow")); v != 1 {
			t.Fatalf("slow drops counted %v", v)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		s, _ := h.p.Subscribe(leaf.Hash, 4)
		s.Cancel()
		h.mustProvide(leaf.Hash, bitfield(0, "11"))
		if _, open := <-s.C(); open || !errors.Is(s.Err(), ErrUnsubscribed) {
			t.Fatalf("cancelled subscription: %v", s.Err())
		}
		if len(h.p.jobs[leaf.Hash].subs) != 0 {
			t.Fatal("cancelled subscription still held")
		}
	})
	t.Run("deactivation closes subscriptions", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		s, _ := h.p.Subscribe(leaf.Hash, 4)
		if s.RelayParent() != leaf.Hash {
			t.Fatal("wrong relay parent")
		}
		h.deactivate(leaf.Hash)
		if _, open := <-s.C(); open || !errors.Is(s.Err(), ErrLeafDeactivated) {
			t.Fatalf("got %v", s.Err())
		}
	})
	t.Run("unknown leaf", func(t *testing.T) {
		h, _ := lifecycleHarness(t, Config{})
		if _, err := h.p.Subscribe(leafHash, 1); !errors.Is(err, ErrUnknownLeaf) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestChainViewFailures(t *testing.T) {
	t.Run("a failed load is retried on use", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.chain.setFailure("AvailabilityCores", errBoom)
		h.activate(leaf)
		if err := h.provide(leaf.Hash, bitfield(0, "11")); !errors.Is(err, ErrChainView) {
			t.Fatalf("got %v", err)
		}
		if discarded(h, "bitfield", "chain_unavailable") != 1 {
			t.Fatal("discard not counted")
		}
		if n := h.chain.callCount("AvailabilityCores"); n != 1 {
			t.Fatalf("cores fetched %d times; within the back-off there is no new attempt", n)
		}
		h.clock.Advance(DefaultPrePropose)
		if r := <-h.request(leaf.Hash); !errors.Is(r.Err, ErrChainView) || !errors.Is(r.Err, errBoom) {
			t.Fatalf("request while the chain fails: %v", r.Err)
		}
		h.chain.setFailure("AvailabilityCores", nil)
		h.clock.Advance(DefaultChainTimeout)
		h.mustProvide(leaf.Hash, bitfield(0, "11"))
		if got := h.inherent(leaf.Hash).Bitfields; len(got) != 1 {
			t.Fatal("the bitfield given after recovery is missing")
		}
	})
	t.Run("on-chain disputes failing is not fatal and is retried", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.chain.setFailure("OnChainDisputes", errBoom)
		h.activate(leaf)
		h.inherent(leaf.Hash)
		h.chain.setFailure("OnChainDisputes", nil)
		h.inherent(leaf.Hash)
		h.inherent(leaf.Hash)
		if n := h.chain.callCount("OnChainDisputes"); n != 2 {
			t.Fatalf("on-chain disputes fetched %d times, want 2 (one failure, then cached)", n)
		}
	})
	t.Run("leaf state is fetched once, session info once per session", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		other := h.addLeaf(olderLeaf, leafNumber-1, 1, nil)
		h.activate(leaf, other)
		for i := 0; i < 3; i++ {
			h.inherent(leaf.Hash)
		}
		if n := h.chain.callCount("AvailabilityCores"); n != 2 {
			t.Fatalf("cores fetched %d times for 2 leaves", n)
		}
		if n := h.chain.callCount("SessionInfo"); n != 1 {
			t.Fatalf("session info fetched %d times for 1 session", n)
		}
	})
	t.Run("assembly is bounded even when the chain view hangs", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		h.clock.Advance(DefaultPrePropose)
		h.chain.setHang("OnChainDisputes", true, false)
		go func() {
			<-h.chain.entered
			h.clock.BlockUntilTimers(1)
			h.clock.Advance(DefaultAssemblyTimeout)
		}()
		r := <-h.request(leaf.Hash)
		if !errors.Is(r.Err, ErrAssemblyTimeout) {
			t.Fatalf("got %v, want ErrAssemblyTimeout", r.Err)
		}
	})
	t.Run("a hung load at activation is bounded", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.chain.setHang("Header", true, true)
		go func() {
			<-h.chain.entered
			h.clock.BlockUntilTimers(1)
			h.clock.Advance(DefaultChainTimeout)
		}()
		h.activate(leaf)
		if h.p.jobs[leaf.Hash].loaded {
			t.Fatal("loaded despite the hang")
		}
		h.chain.setHang("Header", false, true)
		h.clock.Advance(DefaultChainTimeout)
		h.mustProvide(leaf.Hash, bitfield(0, "11"))
	})
}

func TestInherentContents(t *testing.T) {
	t.Run("empty inherent on a genesis-like header is 101 bytes", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.addSession(0, fakeIDs(1), 1)
		h.chain.leaves[leafHash] = &leafState{header: types.Header{}}
		h.activate(ActivatedLeaf{Hash: leafHash})
		h.clock.Advance(DefaultPrePropose)
		r := <-h.request(leafHash)
		if r.Err != nil || len(r.Encoded) != 101 {
			t.Fatalf("got %d bytes (%v), want 101", len(r.Encoded), r.Err)
		}
	})
	t.Run("the parent header is the leaf's", func(t *testing.T) {
		h, leaf := lifecycleHarness(t, Config{})
		h.activate(leaf)
		got := h.inherent(leaf.Hash).ParentHeader
		want := h.chain.leaves[leaf.Hash].header
		if got.Hash() != want.Hash() {
			t.Fatal("parent header is not the leaf's header")
		}
	})
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no chain: %v", err)
	}
	if _, err := New(Config{Chain: newFakeChain(), PrePropose: -time.Second}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative PrePropose: %v", err)
	}
	if _, err := New(Config{Chain: newFakeChain(), MaxDisputeVotes: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxDisputeVotes: %v", err)
	}
	p, err := New(Config{Chain: newFakeChain()})
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.PrePropose != DefaultPrePropose || p.cfg.MaxDisputeVotes != DefaultMaxDisputeVotes || p.cfg.ConcludeGrace != DefaultConcludeGrace {
		t.Fatal("defaults not applied")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Chain: newFakeChain(), Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Chain: newFakeChain(), Registerer: reg}); err == nil {
		t.Fatal("a second provisioner on one registry should fail to register")
	}
}
