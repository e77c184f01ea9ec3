package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/polkadot-provisioner/provisioner/types"
)

// batchMsg is one gossip message of a batching test, with the peer that
// sends it.
type batchMsg struct {
	name string
	kind Kind
	from peer.ID
	data []byte
}

type verdictOf struct {
	res    Result
	reason string
}

// newBatchValidators: validators over chain; with workers > 0 a batcher
// (not started) of that many workers, batches of up to maxSigs.
func newBatchValidators(t *testing.T, chain ChainView, workers, maxSigs int) *validators {
	t.Helper()
	v := &validators{chain: chain, lim: DefaultLimits(), m: newMetrics(nil), self: peer.ID("self")}
	if workers > 0 {
		v.batch = newSigBatcher(context.Background(), workers, maxSigs, 2*time.Millisecond, v.m)
		t.Cleanup(v.batch.stop)
	}
	return v
}

func (v *validators) judge(ctx context.Context, m batchMsg) verdictOf {
	_, res, reason := v.forKind(m.kind)(ctx, m.from, m.data)
	return verdictOf{res, reason}
}

// judgeQueued judges m on its own goroutine, waits until its request is
// the one queued, runs then (which starts or stops the batcher) and
// returns the verdict.
func (v *validators) judgeQueued(ctx context.Context, m batchMsg, then func()) verdictOf {
	var got verdictOf
	var wg sync.WaitGroup
	wg.Go(func() { got = v.judge(ctx, m) })
	for len(v.batch.reqs) != 1 {
		runtime.Gosched()
	}
	then()
	wg.Wait()
	return got
}

// inlineVerdicts judges msgs one by one without a batcher: the reference.
func inlineVerdicts(t *testing.T, chain ChainView, msgs []batchMsg) []verdictOf {
	v := newBatchValidators(t, chain, 0, 0)
	out := make([]verdictOf, len(msgs))
	for i, m := range msgs {
		out[i] = v.judge(context.Background(), m)
	}
	return out
}

// judgeConcurrently judges every message on its own goroutine, as
// gossipsub does, and returns the verdicts in order. started, if not nil,
// is called once every goroutine has either finished or queued its
// request, with the number queued.
func judgeConcurrently(v *validators, msgs []batchMsg, started func(queued int)) []verdictOf {
	out := make([]verdictOf, len(msgs))
	var wg sync.WaitGroup
	var done atomic.Int64
	for i, m := range msgs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out[i] = v.judge(ctx, m)
			done.Add(1)
		})
	}
	if started != nil {
		for int(done.Load())+len(v.batch.reqs) != len(msgs) {
			runtime.Gosched()
		}
		started(len(v.batch.reqs))
	}
	wg.Wait()
	return out
}

// forgedBitfield: a bitfield of validator vi whose signature is bad but
// well-formed (so that it goes to a batch), by a flipped bit of s or by
// signing other bits than it carries.
func forgedBitfield(f *fixture, rp types.Hash, vi types.ValidatorIndex, bits string, how int) BitfieldMessage {
	m := f.bitfield(rp, vi, bits)
	if how == 0 {
		m.Bitfield.Signature[37] ^= 0x10
		return m
	}
	other, err := types.BitVecFromString(strings.Repeat("1", f.cores))
	if err != nil {
		panic(err)
	}
	m.Bitfield.Payload = other
	return m
}

// forgedBacked: a backed candidate with its vote i forged (a flipped bit
// of s: well-formed, so it goes to a batch).
func forgedBacked(f *fixture, rp types.Hash, core types.CoreIndex, i int) BackedCandidateMessage {
	m := f.backed(rp, core, 2)
	m.Candidate.ValidityVotes[i].Signature[41] ^= 0x01
	return m
}

// randomMix: messages for several leaves from a few peers: good and
// forged bitfields and backed candidates, and some refused before any
// signature (index, length, votes). Every verdict is independent of the
// order of validation: at most one genuine bitfield per validator and
// leaf, forgeries carry other bits, and no candidate comes twice.
func randomMix(f *fixture, rng *rand.Rand, leaves []types.Hash, peers []peer.ID) []batchMsg {
	var msgs []batchMsg
	add := func(name string, k Kind, v types.Encoder) {
		msgs = append(msgs, batchMsg{name: name, kind: k, from: peers[rng.IntN(len(peers))], data: types.Encode(v)})
	}
	for li, rp := range leaves {
		for vi := range types.ValidatorIndex(len(f.keys)) {
			bits := []byte("00000")
			bits[rng.IntN(f.cores)] = '1'
			switch rng.IntN(5) {
			case 0, 1:
				m := f.bitfield(rp, vi, string(bits))
				add(fmt.Sprintf("leaf %d bitfield %d good", li, vi), KindBitfield, &m)
			case 2:
				m := forgedBitfield(f, rp, vi, string(bits), rng.IntN(2))
				add(fmt.Sprintf("leaf %d bitfield %d forged", li, vi), KindBitfield, &m)
			case 3:
				m := f.bitfield(rp, vi, string(bits)+"1") // one bit too many
				add(fmt.Sprintf("leaf %d bitfield %d length", li, vi), KindBitfield, &m)
			}
		}
		for core := range types.CoreIndex(f.cores) {
			switch rng.IntN(5) {
			case 0, 1:
				m := f.backed(rp, core, 2)
				add(fmt.Sprintf("leaf %d backed %d good", li, core), KindBackedCandidate, &m)
			case 2:
				m := forgedBacked(f, rp, core, rng.IntN(2))
				add(fmt.Sprintf("leaf %d backed %d forged", li, core), KindBackedCandidate, &m)
			case 3:
				m := f.backed(rp, core, 1) // under the chain's 2 votes
				add(fmt.Sprintf("leaf %d backed %d one vote", li, core), KindBackedCandidate, &m)
			}
		}
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs
}

func metricCount(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func histogramValue(t *testing.T, h prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func compareVerdicts(t *testing.T, msgs []batchMsg, got, want []verdictOf) {
	t.Helper()
	for i := range msgs {
		if got[i] != want[i] {
			t.Errorf("%s: batched %v/%q, inline %v/%q", msgs[i].name, got[i].res, got[i].reason, want[i].res, want[i].reason)
		}
	}
}

// TestBatchedVerdictsEqualInline queues a mix of good and forged bitfields
// and backed candidates before the one worker starts, so that they are
// verified as one batch, and checks every verdict against inline
// verification, and that the batch failed, was checked item by item and
// made its forgers suspects.
func TestBatchedVerdictsEqualInline(t *testing.T) {
	f := testFixture(t)
	leaves := []types.Hash{leafHash(1), leafHash(2), leafHash(3)}
	chain := newFakeChain(f, leaves...)
	peers := []peer.ID{"peer-a", "peer-b", "peer-c", "peer-d"}
	msgs := randomMix(f, rand.New(rand.NewPCG(1, 2)), leaves, peers)
	// Make sure of every case, whatever the draw.
	extra := []struct {
		name string
		kind Kind
		v    types.Encoder
	}{
		{"good bitfield", KindBitfield, ptr(f.bitfield(leafHash(4), 0, "10100"))},
		{"flipped bitfield", KindBitfield, ptr(forgedBitfield(f, leafHash(4), 1, "10000", 0))},
		{"other bits bitfield", KindBitfield, ptr(forgedBitfield(f, leafHash(4), 2, "10000", 1))},
		{"good backed", KindBackedCandidate, ptr(f.backed(leafHash(4), 0, 2))},
		{"forged first vote", KindBackedCandidate, ptr(forgedBacked(f, leafHash(4), 1, 0))},
		{"forged second vote", KindBackedCandidate, ptr(forgedBacked(f, leafHash(4), 2, 1))},
	}
	chain.activate(leafHash(4))
	for i, e := range extra {
		msgs = append(msgs, batchMsg{name: e.name, kind: e.kind, from: peers[i%len(peers)], data: types.Encode(e.v)})
	}
	want := inlineVerdicts(t, chain, msgs)
	counts := map[verdictOf]int{}
	for _, w := range want {
		counts[w]++
	}
	if counts[verdictOf{Accept, ""}] == 0 || counts[verdictOf{Reject, ReasonBadSignature}] == 0 {
		t.Fatalf("the mix lacks accepted or forged messages: %v", counts)
	}

	v := newBatchValidators(t, chain, 1, 4096)
	var queued int
	got := judgeConcurrently(v, msgs, func(n int) {
		queued = n
		v.batch.start()
	})
	compareVerdicts(t, msgs, got, want)

	// Every message with a signature to check was queued: all but the
	// ones refused before (length, votes).
	sigMsgs, sigs := 0, 0
	for i, w := range want {
		if w.reason == ReasonBitfieldLength || w.reason == ReasonNotEnoughVotes {
			continue
		}
		sigMsgs++
		sigs++
		if msgs[i].kind == KindBackedCandidate {
			sigs++
		}
	}
	if queued != sigMsgs {
		t.Fatalf("%d requests queued, want %d", queued, sigMsgs)
	}
	if n, sum := histogramValue(t, v.m.batchSize); n != 1 || int(sum) != sigs {
		t.Fatalf("batches: %d of %v signatures in all, want 1 of %d", n, sum, sigs)
	}
	if got := metricCount(t, v.m.batchFailed); got != 1 {
		t.Fatalf("failed batches %v, want 1", got)
	}
	for _, p := range peers {
		forger := false
		for i, m := range msgs {
			forger = forger || (m.from == p && want[i] == verdictOf{Reject, ReasonBadSignature})
		}
		if v.batch.suspect(p) != forger {
			t.Errorf("peer %s: suspect %v, sent a forgery %v", p, !forger, forger)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestBatchedVerdictsProperty: random mixes validated concurrently with
// running workers (batches formed as timing has it) get the verdicts of
// inline verification, with batching on and off.
func TestBatchedVerdictsProperty(t *testing.T) {
	f := testFixture(t)
	leaves := []types.Hash{leafHash(1), leafHash(2), leafHash(3), leafHash(4)}
	chain := newFakeChain(f, leaves...)
	peers := []peer.ID{"peer-a", "peer-b", "peer-c"}
	for seed := range uint64(8) {
		msgs := randomMix(f, rand.New(rand.NewPCG(seed, 99)), leaves, peers)
		want := inlineVerdicts(t, chain, msgs)
		for _, workers := range []int{1, 2} {
			v := newBatchValidators(t, chain, workers, 1+int(seed)*8)
			v.batch.start()
			compareVerdicts(t, msgs, judgeConcurrently(v, msgs, nil), want)
		}
		// Off: the same validators without a batcher, concurrently.
		v := newBatchValidators(t, chain, 0, 0)
		compareVerdicts(t, msgs, judgeConcurrently(v, msgs, nil), want)
		if got := metricCount(t, v.m.sigInline[inlineDisabled]); int(got) == 0 {
			t.Fatalf("seed %d: no inline check counted as disabled", seed)
		}
	}
}

// testClock is a settable clock for the suspects' expiry.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// TestSuspectPeerVerifiedInline: once a peer sent a forgery, its messages
// are verified by their own validator, not in a batch, until the window
// ends; other peers' still go to the batch.
func TestSuspectPeerVerifiedInline(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := newFakeChain(f, leaf)
	v := newBatchValidators(t, chain, 1, 256)
	clock := &testClock{}
	v.batch.now = clock.now
	v.batch.start()
	ctx := context.Background()
	msg := func(from peer.ID, m BitfieldMessage) batchMsg {
		return batchMsg{kind: KindBitfield, from: from, data: types.Encode(&m)}
	}
	steps := []struct {
		name    string
		msg     batchMsg
		want    verdictOf
		batches uint64 // batches run so far
		inline  float64
	}{
		{"forgery", msg("bad", forgedBitfield(f, leaf, 0, "10000", 0)), verdictOf{Reject, ReasonBadSignature}, 1, 0},
		{"suspect's good bitfield", msg("bad", f.bitfield(leaf, 1, "10000")), verdictOf{Accept, ""}, 1, 1},
		{"suspect's forgery", msg("bad", forgedBitfield(f, leaf, 2, "10000", 1)), verdictOf{Reject, ReasonBadSignature}, 1, 2},
		{"another peer", msg("good", f.bitfield(leaf, 3, "10000")), verdictOf{Accept, ""}, 2, 2},
	}
	for _, s := range steps {
		if got := v.judge(ctx, s.msg); got != s.want {
			t.Fatalf("%s: %v/%q, want %v/%q", s.name, got.res, got.reason, s.want.res, s.want.reason)
		}
		n, _ := histogramValue(t, v.m.batchSize)
		inline := metricCount(t, v.m.sigInline[inlineSuspect])
		if n != s.batches || inline != s.inline {
			t.Fatalf("%s: %d batches and %v inline, want %d and %v", s.name, n, inline, s.batches, s.inline)
		}
	}
	clock.off.Store(int64(suspectWindow + time.Second))
	if v.batch.suspect("bad") {
		t.Fatal("still suspect after the window")
	}
	if got := v.judge(ctx, msg("bad", f.bitfield(leaf, 4, "10000"))); got != (verdictOf{Accept, ""}) {
		t.Fatalf("after the window: %v/%q", got.res, got.reason)
	}
	if n, _ := histogramValue(t, v.m.batchSize); n != 3 {
		t.Fatalf("after the window: %d batches, want 3", n)
	}
}

// TestSuspectsBounded: a swarm of forgers is remembered up to
// maxSuspects; a new one evicts the entry that expires first.
func TestSuspectsBounded(t *testing.T) {
	b := newSigBatcher(context.Background(), 1, 1, 0, newMetrics(nil))
	clock := &testClock{}
	b.now = clock.now
	for i := range maxSuspects {
		clock.off.Store(int64(i) * int64(time.Millisecond))
		b.markSuspect(peer.ID(fmt.Sprint("p", i)))
	}
	b.markSuspect("newcomer")
	if len(b.suspects) != maxSuspects {
		t.Fatalf("%d suspects, want %d", len(b.suspects), maxSuspects)
	}
	if b.suspect("p0") || !b.suspect("p1") || !b.suspect("newcomer") {
		t.Fatal("the oldest suspect was not the one evicted")
	}
}

// TestBatchQueueFullFallsBackInline: with the queue full, a validator
// verifies its message itself at once; the queued ones are answered once a
// worker runs.
func TestBatchQueueFullFallsBackInline(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := newBatchValidators(t, newFakeChain(f, leaf), 1, 1) // a queue of 2
	if cap(v.batch.reqs) != 2 {
		t.Fatalf("queue of %d, want 2", cap(v.batch.reqs))
	}
	msgs := []batchMsg{
		{name: "queued 1", kind: KindBitfield, from: "a", data: types.Encode(ptr(f.bitfield(leaf, 0, "10000")))},
		{name: "queued 2", kind: KindBitfield, from: "a", data: types.Encode(ptr(forgedBitfield(f, leaf, 1, "10000", 0)))},
	}
	var wg sync.WaitGroup
	got := make([]verdictOf, len(msgs))
	for i, m := range msgs {
		wg.Go(func() { got[i] = v.judge(context.Background(), m) })
	}
	for len(v.batch.reqs) != 2 {
		runtime.Gosched()
	}
	inline := []batchMsg{
		{name: "inline good", kind: KindBitfield, from: "b", data: types.Encode(ptr(f.bitfield(leaf, 2, "10000")))},
		{name: "inline forged", kind: KindBitfield, from: "b", data: types.Encode(ptr(forgedBitfield(f, leaf, 3, "10000", 1)))},
	}
	wantInline := []verdictOf{{Accept, ""}, {Reject, ReasonBadSignature}}
	for i, m := range inline {
		if g := v.judge(context.Background(), m); g != wantInline[i] {
			t.Fatalf("%s: %v/%q", m.name, g.res, g.reason)
		}
	}
	if n := metricCount(t, v.m.sigInline[inlineFull]); n != 2 {
		t.Fatalf("%v inline for a full queue, want 2", n)
	}
	v.batch.start()
	wg.Wait()
	compareVerdicts(t, msgs, got, []verdictOf{{Accept, ""}, {Reject, ReasonBadSignature}})
}

// TestBatchStaleRequestDropped: a signature check that waited in the
// queue past the validation timeout (the batcher's stale) is dropped
// unchecked: its message is ignored, not judged, nothing is verified and
// the sender is not suspected; sent again, it is checked as usual.
func TestBatchStaleRequestDropped(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := newBatchValidators(t, newFakeChain(f, leaf), 1, 256) // started below
	clock := &testClock{}
	v.batch.now = clock.now
	v.batch.stale = 2 * time.Second
	forged := batchMsg{name: "forged bitfield", kind: KindBitfield, from: "a",
		data: types.Encode(ptr(forgedBitfield(f, leaf, 0, "10000", 0)))}
	got := v.judgeQueued(context.Background(), forged, func() {
		clock.off.Store(int64(2*time.Second + time.Millisecond))
		v.batch.start()
	})
	if got != (verdictOf{Ignore, ReasonVerifyTimeout}) {
		t.Fatalf("stale: %v/%q, want ignore/%s", got.res, got.reason, ReasonVerifyTimeout)
	}
	if n := metricCount(t, v.m.sigTimeouts); n != 1 {
		t.Fatalf("%v timeouts, want 1", n)
	}
	if n, _ := histogramValue(t, v.m.batchSize); n != 0 {
		t.Fatalf("%d batches verified, want none", n)
	}
	if v.batch.suspect("a") {
		t.Fatal("the sender of an unchecked message is suspected")
	}
	if got := v.judge(context.Background(), forged); got != (verdictOf{Reject, ReasonBadSignature}) {
		t.Fatalf("again: %v/%q", got.res, got.reason)
	}
}

// TestBatchTimeoutIgnores: a validator whose context ends before the
// batch answers ignores the message (nothing was proven against it).
func TestBatchTimeoutIgnores(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := newBatchValidators(t, newFakeChain(f, leaf), 1, 256) // never started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []batchMsg{
		{name: "forged bitfield", kind: KindBitfield, from: "a", data: types.Encode(ptr(forgedBitfield(f, leaf, 0, "10000", 0)))},
		{name: "backed", kind: KindBackedCandidate, from: "a", data: types.Encode(ptr(f.backed(leaf, 0, 2)))},
	}
	for _, m := range cases {
		if got := v.judge(ctx, m); got != (verdictOf{Ignore, ReasonVerifyTimeout}) {
			t.Fatalf("%s: %v/%q, want ignore/%s", m.name, got.res, got.reason, ReasonVerifyTimeout)
		}
	}
	if n := metricCount(t, v.m.sigTimeouts); n != 2 {
		t.Fatalf("%v timeouts, want 2", n)
	}
	// A timed-out bitfield is not remembered: sent again, it is judged.
	v.batch.start()
	if got := v.judge(context.Background(), cases[0]); got != (verdictOf{Reject, ReasonBadSignature}) {
		t.Fatalf("again: %v/%q", got.res, got.reason)
	}
}

// TestBatcherStopped: after stop, validation goes on inline, exactly, and
// a request queued when the batcher stopped is verified by its validator.
func TestBatcherStopped(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := newBatchValidators(t, newFakeChain(f, leaf), 1, 256) // never started
	queued := batchMsg{kind: KindBitfield, from: "a", data: types.Encode(ptr(f.bitfield(leaf, 0, "10000")))}
	if got := v.judgeQueued(context.Background(), queued, v.batch.stop); got != (verdictOf{Accept, ""}) {
		t.Fatalf("queued when stopped: %v/%q", got.res, got.reason)
	}
	after := []struct {
		m    BitfieldMessage
		want verdictOf
	}{
		{f.bitfield(leaf, 1, "10000"), verdictOf{Accept, ""}},
		{forgedBitfield(f, leaf, 2, "10000", 0), verdictOf{Reject, ReasonBadSignature}},
	}
	for i, a := range after {
		if g := v.judge(context.Background(), batchMsg{kind: KindBitfield, from: "a", data: types.Encode(&a.m)}); g != a.want {
			t.Fatalf("after stop %d: %v/%q", i, g.res, g.reason)
		}
	}
	if n := metricCount(t, v.m.sigInline[inlineStopped]); n != 3 {
		t.Fatalf("%v inline as stopped, want 3", n)
	}
}

// batchWorkers counts the goroutines of batch workers, by their creator:
// one that has not run yet shows a wrapper, not worker, on top.
func batchWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/polkadot-provisioner/provisioner/p2p.(*sigBatcher).start in goroutine")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestBatcherStopsOnClose: a node runs GOMAXPROCS batch workers and a
// collector, and Close ends them with every other goroutine of the node;
// with BatchVerify off there are none and checks are inline.
func TestBatcherStopsOnClose(t *testing.T) {
	// A batcher goroutine stays in the stack dump for a moment after its
	// batcher's stop has returned (it has yet to run its goroutine's
	// exit): an earlier test's may still be there on a loaded machine.
	waitUntil(t, 10*time.Second, "earlier tests' batch goroutines to exit", func() bool { return batchWorkers() == 0 })
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f, leafHash(1)), nil)
	// GOMAXPROCS workers and the collector.
	if got := batchWorkers(); got != runtime.GOMAXPROCS(0)+1 {
		t.Fatalf("%d batch goroutines, want %d", got, runtime.GOMAXPROCS(0)+1)
	}
	off := newTestNode(t, newFakeChain(f, leafHash(1)), nil, func(c *Config) { c.Gossip.BatchVerify = BatchVerifyOff })
	if off.vals.batch != nil {
		t.Fatal("a batcher with BatchVerify off")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the batch goroutines to exit after Close", func() bool { return batchWorkers() == 0 })
}

// TestBatchedGossipEndToEnd: through a real node with batching on, a raw
// peer's burst of good and forged bitfields and candidates is judged
// exactly: the good ones are delivered, the forged ones rejected. (Two
// forgeries only: a few more and the peer is graylisted, its messages
// dropped unjudged.)
func TestBatchedGossipEndToEnd(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	ev := newEvents()
	sink := newRecSink()
	n := newTestNode(t, newFakeChain(f, leaf), sink, func(c *Config) { c.ValidationHook = ev.hook })
	raw := newRawPeer(t)
	raw.link(t, n)
	want := map[string]verdictOf{}
	for vi := range types.ValidatorIndex(len(f.keys)) {
		var m BitfieldMessage
		forged := vi == 4
		if forged {
			m = forgedBitfield(f, leaf, vi, "01000", 1)
		} else {
			m = f.bitfield(leaf, vi, "01000")
		}
		data := types.Encode(&m)
		want[string(data)] = map[bool]verdictOf{true: {Reject, ReasonBadSignature}, false: {Accept, ""}}[forged]
		raw.send(t, KindBitfield, data)
	}
	for core := range types.CoreIndex(f.cores) {
		m := f.backed(leaf, core, 2)
		forged := core == 3
		if forged {
			m = forgedBacked(f, leaf, core, 1)
		}
		data := types.Encode(&m)
		want[string(data)] = map[bool]verdictOf{true: {Reject, ReasonBadSignature}, false: {Accept, ""}}[forged]
		raw.send(t, KindBackedCandidate, data)
	}
	accepted, rejected := 0, 0
	for _, w := range want {
		if w.res == Accept {
			accepted++
		} else {
			rejected++
		}
	}
	for i := range len(want) {
		ev.waitFrom(t, raw.h.ID(), i, 10*time.Second)
	}
	ev.mu.Lock()
	gotAccepted, gotRejected := 0, 0
	for _, e := range ev.evs {
		switch {
		case e.From != raw.h.ID():
		case e.Result == Accept:
			gotAccepted++
		case e.Result == Reject && e.Reason == ReasonBadSignature:
			gotRejected++
		default:
			t.Errorf("unexpected outcome %v/%s", e.Result, e.Reason)
		}
	}
	ev.mu.Unlock()
	if gotAccepted != accepted || gotRejected != rejected {
		t.Fatalf("accepted %d and rejected %d, want %d and %d", gotAccepted, gotRejected, accepted, rejected)
	}
	for range accepted {
		select {
		case d := <-sink.ch:
			var data []byte
			if d.Kind == KindBitfield {
				data = types.Encode(&BitfieldMessage{RelayParent: leaf, Bitfield: *d.Bitfield})
			} else {
				data = types.Encode(&BackedCandidateMessage{RelayParent: leaf, Candidate: *d.Candidate})
			}
			if want[string(data)].res != Accept {
				t.Fatalf("delivered a message that should not be: %v", d.Kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("accepted messages not delivered")
		}
	}
}

// TestMalformedSignatureNotQueued: a signature whose form cannot be valid
// (no marker bit, a non-canonical s) is judged by its own validator without
// a batch, even with the workers stopped, and makes its sender a suspect;
// a well-formed one from another peer still goes to the queue. An R that is
// not a canonical encoding takes arithmetic to find: the worker that
// prepares it finds it, answers false for it without the equation, and
// makes its sender a suspect too.
func TestMalformedSignatureNotQueued(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := newBatchValidators(t, newFakeChain(f, leaf), 1, 256) // not started yet
	noMarker := f.bitfield(leaf, 0, "10000")
	noMarker.Bitfield.Signature[63] &^= 0x80
	bigS := f.backed(leaf, 0, 2)
	// s = l, the group order: one past the largest canonical scalar.
	copy(bigS.Candidate.ValidityVotes[1].Signature[32:], []byte{
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 | 0x80})
	badR := f.backed(leaf, 1, 2)
	// R = 2^255 - 19, a non-canonical encoding of 0.
	r := badR.Candidate.ValidityVotes[1].Signature[:32]
	for i := range r {
		r[i] = 0xff
	}
	r[0], r[31] = 0xed, 0x7f
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range []batchMsg{
		{name: "bitfield without marker", kind: KindBitfield, from: "m", data: types.Encode(&noMarker)},
		{name: "vote with a non-canonical s", kind: KindBackedCandidate, from: "s", data: types.Encode(&bigS)},
	} {
		if got := v.judge(ctx, m); got != (verdictOf{Reject, ReasonBadSignature}) {
			t.Fatalf("%s: %v/%q, want reject/%s", m.name, got.res, got.reason, ReasonBadSignature)
		}
		if len(v.batch.reqs) != 0 || v.batch.preparing.Load() != 0 {
			t.Fatalf("%s: %d queued, %d preparing; want none", m.name, len(v.batch.reqs), v.batch.preparing.Load())
		}
		if !v.batch.suspect(m.from) {
			t.Fatalf("%s: sender not a suspect", m.name)
		}
	}
	good := batchMsg{kind: KindBitfield, from: "g", data: types.Encode(ptr(f.bitfield(leaf, 1, "10000")))}
	if got := v.judgeQueued(ctx, good, v.batch.start); got != (verdictOf{Accept, ""}) {
		t.Fatalf("good bitfield: %v/%q", got.res, got.reason)
	}
	if n, sum := histogramValue(t, v.m.batchSize); n != 1 || sum != 1 {
		t.Fatalf("%d batches of %v signatures, want 1 of 1", n, sum)
	}
	bad := batchMsg{name: "vote with a non-canonical R", kind: KindBackedCandidate, from: "r", data: types.Encode(&badR)}
	if got := v.judge(ctx, bad); got != (verdictOf{Reject, ReasonBadSignature}) {
		t.Fatalf("%s: %v/%q, want reject/%s", bad.name, got.res, got.reason, ReasonBadSignature)
	}
	if !v.batch.suspect(bad.from) {
		t.Fatalf("%s: sender not a suspect", bad.name)
	}
	// Its first vote was prepared and checked alone; the second never
	// reached the arithmetic.
	if n, sum := histogramValue(t, v.m.batchSize); n != 2 || sum != 2 {
		t.Fatalf("%d batches of %v signatures, want 2 of 2 in all", n, sum)
	}
}

// sizedRequests returns requests of the given numbers of signatures (the
// items are never looked at), queued at at, marked as part of a burst.
func sizedRequests(at time.Time, sizes ...int) []*sigRequest {
	out := make([]*sigRequest, len(sizes))
	for i, n := range sizes {
		out[i] = &sigRequest{from: "p", items: make([]sigItem, n), res: make(chan []bool, 1), at: at, burst: true}
	}
	return out
}

func TestSplitPoint(t *testing.T) {
	tests := []struct {
		sizes  []int
		k, kn  int
		reason string
	}{
		{[]int{40, 40}, 1, 40, "two halves"},
		{repeatInt(1, 100), 50, 50, "single items: the middle"},
		{[]int{10, 50, 40, 10}, 2, 60, "the request that passes the middle ends the half"},
		{[]int{40, 40, 40}, 2, 80, "the half is at least n/2"},
		{[]int{30, 30, 30}, 0, 0, "past the middle, less than splitMin is left"},
		{[]int{70, 10}, 0, 0, "the other side would be under splitMin"},
		{[]int{10, 60}, 0, 0, "one request holds most"},
		{[]int{63}, 0, 0, "one request is never split"},
	}
	for _, tc := range tests {
		n := 0
		for _, s := range tc.sizes {
			n += s
		}
		k, kn := splitPoint(sizedRequests(time.Now(), tc.sizes...), n, n/2)
		if k != tc.k || kn != tc.kn {
			t.Errorf("%s %v: split %d (%d sigs), want %d (%d)", tc.reason, tc.sizes, k, kn, tc.k, tc.kn)
		}
	}
}

func repeatInt(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestCollectorOffer: at the end of a burst a large batch is offered in
// two halves (for two workers), otherwise whole; a batch waiting for a
// worker takes in what is queued meanwhile, up to max.
func TestCollectorOffer(t *testing.T) {
	b := newSigBatcher(context.Background(), 2, 256, time.Second, newMetrics(nil))
	defer b.stop()
	sizes := func(batch []*sigRequest) (n int) {
		for _, r := range batch {
			n += len(r.items)
		}
		return n
	}
	// offer runs offer over reqs, with queued in the queue, and returns
	// the sizes of the batches handed out and the signatures left (carried
	// or queued) for the next batch.
	offer := func(over bool, reqs []*sigRequest, queued []*sigRequest) (got []int, left int) {
		c := collection{b: b, batch: reqs, timer: time.NewTimer(time.Hour)}
		c.timer.Stop()
		c.n = sizes(reqs)
		for _, r := range queued {
			b.reqs <- r
		}
		done := make(chan bool)
		go func() { done <- c.offer(over) }()
		for {
			select {
			case batch := <-b.batches:
				got = append(got, sizes(batch))
			case ok := <-done:
				if !ok {
					t.Fatal("offer: stopped")
				}
				if c.n != 0 || c.batch != nil {
					t.Fatalf("offer returned with %d signatures left", c.n)
				}
				if c.carry != nil {
					left += len(c.carry.items)
				}
				for len(b.reqs) > 0 {
					left += len((<-b.reqs).items)
				}
				return got, left
			}
		}
	}
	now := time.Now()
	if got, _ := offer(true, sizedRequests(now, repeatInt(1, 100)...), nil); !slices.Equal(got, []int{50, 50}) {
		t.Errorf("end of burst: batches %v, want [50 50]", got)
	}
	if got, _ := offer(false, sizedRequests(now, repeatInt(1, 100)...), nil); !slices.Equal(got, []int{100}) {
		t.Errorf("mid-burst: batches %v, want [100]", got)
	}
	if got, _ := offer(true, sizedRequests(now, repeatInt(1, 40)...), nil); !slices.Equal(got, []int{40}) {
		t.Errorf("small batch at the end of a burst: batches %v, want [40]", got)
	}
	// Offered with 10 more queued: the batch may take some in (up to max)
	// before the test takes it; the rest is left for the next.
	got, left := offer(false, sizedRequests(now, repeatInt(1, 250)...), sizedRequests(now, repeatInt(1, 10)...))
	if len(got) != 1 || got[0] < 250 || got[0] > 256 || got[0]+left != 260 {
		t.Errorf("batches %v and %d left, want one of 250..256 and 260 in all", got, left)
	}
	// A request that would overflow the batch is carried to the next, and
	// the batch takes in nothing more.
	got, left = offer(false, sizedRequests(now, repeatInt(1, 255)...), sizedRequests(now, 2, 1))
	if !slices.Equal(got, []int{255}) || left != 3 {
		t.Errorf("batches %v and %d left, want [255] and 3", got, left)
	}
}

// TestCollectorGatherEndsWithBurst: a burst's batch waits for more while
// requests come or a validator is preparing one, and is offered (as the
// burst's end) once neither has happened for quietGap, long before the
// wait is over.
func TestCollectorGatherEndsWithBurst(t *testing.T) {
	b := newSigBatcher(context.Background(), 1, 256, 10*time.Second, newMetrics(nil))
	defer b.stop()
	c := collection{b: b, timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	start := time.Now()
	for _, r := range sizedRequests(start, 1, 1, 1) {
		b.reqs <- r
	}
	if !c.first() {
		t.Fatal("first: stopped")
	}
	b.preparing.Add(1) // one more is on its way
	go func() {
		time.Sleep(20 * quietGap)
		b.reqs <- sizedRequests(time.Now(), 2)[0]
		b.preparing.Add(-1)
	}()
	over := c.gather()
	took := time.Since(start)
	if !over || c.n != 5 || len(c.batch) != 4 {
		t.Fatalf("gather: over %v with %d signatures in %d requests; want true, 5 in 4", over, c.n, len(c.batch))
	}
	if took < 20*quietGap || took > 5*time.Second {
		t.Fatalf("gather took %v, want from %v to well under the 10 s wait", took, 20*quietGap)
	}
}

func TestWaterFill(t *testing.T) {
	tests := []struct {
		n      int
		rem    []int
		want   []int
		reason string
	}{
		{100, []int{0, 0}, []int{50, 50}, "two idle workers: halves"},
		{487, []int{0, 394}, []int{441, 46}, "one worker busy: it gets what levels them"},
		{487, []int{0, 470}, []int{487}, "the busy one would get under splitMin: one part"},
		{40, []int{0, 0}, []int{40}, "halves would be under splitMin"},
		{300, []int{0, 0, 0, 1000}, []int{100, 100, 100}, "one worker too busy to get a part"},
		{90, []int{0, 10, 20}, []int{50, 40}, "three parts too small, two level"},
		{1, []int{0, 0}, []int{1}, "one signature"},
		{101, []int{0, 0, 0}, []int{35, 33, 33}, "the rounding goes to the least busy"},
	}
	for _, tc := range tests {
		if got := waterFill(tc.n, tc.rem); !slices.Equal(got, tc.want) {
			t.Errorf("%s: waterFill(%d, %v) = %v, want %v", tc.reason, tc.n, tc.rem, got, tc.want)
		}
	}
}

// TestCollectorOfferSplitsByLoad: at the end of a burst, with one worker
// still busy with an earlier batch, the idle one is offered the larger
// part, so that both are done at about the same time.
func TestCollectorOfferSplitsByLoad(t *testing.T) {
	b := newSigBatcher(context.Background(), 2, 512, time.Second, newMetrics(nil))
	defer b.stop()
	// A second a signature, and worker 1 has 394.5 of them left: a test
	// slowed by up to half a second still sees 394.
	b.sigCost.Store(int64(time.Second))
	b.busyUntil[1].Store(time.Now().Add(394*time.Second + 500*time.Millisecond).UnixNano())
	c := collection{b: b, batch: sizedRequests(time.Now(), repeatInt(1, 487)...), n: 487, timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	// offerTwo runs offer at the end of a burst and returns the sizes of
	// the first two batches it hands out (fewer if it returns first).
	offerTwo := func() []int {
		done := make(chan bool, 1)
		go func() { done <- c.offer(true) }()
		var got []int
		for len(got) < 2 {
			select {
			case batch := <-b.batches:
				got = append(got, len(batch))
			case <-done:
				t.Fatalf("offer returned after %v", got)
			}
		}
		if !<-done {
			t.Fatal("offer: stopped")
		}
		return got
	}
	if got := offerTwo(); !slices.Equal(got, []int{441, 46}) {
		t.Errorf("batches %v, want [441 46]", got)
	}
	// Without an estimate of the cost, the workers count as idle: halves.
	b.sigCost.Store(0)
	c.batch, c.n = sizedRequests(time.Now(), repeatInt(1, 100)...), 100
	if got := offerTwo(); !slices.Equal(got, []int{50, 50}) {
		t.Errorf("no cost estimate: batches %v, want [50 50]", got)
	}
}

func TestNoteCost(t *testing.T) {
	b := newSigBatcher(context.Background(), 2, 512, time.Second, newMetrics(nil))
	steps := []struct {
		d    time.Duration
		n    int
		want int64
	}{
		{100 * time.Microsecond, 10, 10_000},  // the first batch sets it
		{200 * time.Microsecond, 10, 12_500},  // then a quarter of the change
		{0, 64, 9_375},                        // a batch answered at once
		{time.Second, 1 << 20, 9_375 - 2_105}, // 953 ns a signature
	}
	for i, s := range steps {
		b.noteCost(s.d, s.n)
		if got := b.sigCost.Load(); got != s.want {
			t.Fatalf("step %d: sigCost %d, want %d", i, got, s.want)
		}
	}
}

// TestBatcherNotesLoad: a worker running a batch says until when it
// expects to be busy, and afterwards folds the batch's time into the cost
// estimate and says it is idle. The request's result channel has no
// buffer, so the worker stays in the batch until the test takes the
// answer: what it said while busy can be read at leisure.
func TestBatcherNotesLoad(t *testing.T) {
	s := benchMessages(t)
	b := newSigBatcher(context.Background(), 1, 512, time.Second, newMetrics(nil))
	b.sigCost.Store(int64(time.Hour)) // so that busyUntil is far off while it runs
	b.start()
	defer b.stop()
	items := make([]sigItem, splitMin)
	for i := range items {
		items[i] = sigItem{key: s.keys[i], payload: s.payloads[i], sig: s.sigs[i]}
	}
	req := &sigRequest{from: "p", items: items, res: make(chan []bool), at: time.Now()}
	received := false
	defer func() {
		if !received {
			// A failed check: let the worker out of the batch, so that
			// stop does not wait for it for ever.
			go func() { <-req.res }()
		}
	}()
	b.batches <- []*sigRequest{req}
	// waitFor polls cond for up to 10 s.
	waitFor := func(cond func() bool) bool {
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if cond() {
				return true
			}
		}
		return cond()
	}
	// 32 signatures at an hour each: 32 hours from the batch's start.
	if !waitFor(func() bool { return b.busyUntil[0].Load() != 0 }) {
		t.Fatal("busyUntil never set while the worker ran the batch")
	}
	if u := b.busyUntil[0].Load(); u < time.Now().Add(30*time.Hour).UnixNano() {
		t.Errorf("busyUntil while running is %v, want 32 hours ahead", time.Unix(0, u))
	}
	valid := <-req.res
	received = true
	if len(valid) != splitMin || slices.Contains(valid, false) {
		t.Fatalf("results %v, want %d true", valid, splitMin)
	}
	if !waitFor(func() bool { return b.busyUntil[0].Load() == 0 && b.sigCost.Load() != int64(time.Hour) }) {
		t.Fatalf("after the batch: busyUntil %d, sigCost %v; want 0 and the batch folded in",
			b.busyUntil[0].Load(), time.Duration(b.sigCost.Load()))
	}
	// A quarter of the way from an hour to the batch's time per signature
	// (however slow the machine, well under a second).
	if got, lo := b.sigCost.Load(), int64(time.Hour)/4*3; got < lo || got > lo+int64(time.Second) {
		t.Errorf("sigCost %v after a batch, want about %v", time.Duration(got), time.Duration(lo))
	}
}

// TestCollectorGatherQuietAtDeadline: a burst whose last request came a
// quiet gap before the wait ran out is over: its batch is split.
func TestCollectorGatherQuietAtDeadline(t *testing.T) {
	b := newSigBatcher(context.Background(), 2, 512, time.Millisecond, newMetrics(nil))
	defer b.stop()
	c := collection{b: b, timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	old := time.Now().Add(-10 * time.Millisecond) // wait and quiet gap both past
	for _, r := range sizedRequests(old, 1, 1) {
		b.reqs <- r
	}
	if !c.first() {
		t.Fatal("first: stopped")
	}
	if over := c.gather(); !over || c.n != 2 {
		t.Fatalf("gather: over %v with %d signatures, want true with 2", over, c.n)
	}
}

// TestBitfieldValidationAllocations: validating a bitfield allocates the
// decoded message (which gossipsub hands on), the decoder's reader and the
// verdict, and no more: its signature item and signing payload are the
// pooled request's, and the dedupe keeps a pointer into the message.
// Before, it allocated 8 times (among them the item, 360 bytes, the
// payload's writer and buffer, and a copy of the payload for the dedupe),
// which a thousand bitfields a block turn into garbage collections.
func TestBitfieldValidationAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	s := benchMessages(t)
	v, _ := benchValidator(s)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		if _, res, reason := v.validateBitfieldFrom(context.Background(), "peer", s.data[i]); res != Accept {
			t.Fatalf("message %d: %v/%q", i, res, reason)
		}
		i++
	})
	if allocs > 3 {
		t.Fatalf("%v allocations per bitfield, want at most 3", allocs)
	}
}
