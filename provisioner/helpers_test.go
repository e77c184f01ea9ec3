package provisioner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ---- fake chain ------------------------------------------------------------

type leafState struct {
	header  types.Header
	cores   []types.CoreState
	session types.SessionIndex
	allowed []RelayParent
	onchain map[DisputeKey]OnChainDispute
	// backing is the leaf's backing state; nil answers ParasUnknown, the
	// legacy behaviour most tests exercise.
	backing *BackingState
	// included are the inclusion heights of the local disputes' candidates.
	included map[DisputeKey]types.BlockNumber
}

// fakeChain is an in-memory ChainView. Hooks let a test make a call fail or
// hang.
type fakeChain struct {
	mu       sync.Mutex
	leaves   map[types.Hash]*leafState
	sessions map[types.SessionIndex]SessionInfo
	failures map[string]error // method name -> error to return
	// hang, when set for a method, makes it signal on entered and block
	// until release is closed (ignoring ctx, like a broken implementation)
	// or, with respectCtx, until ctx ends.
	hang       map[string]bool
	respectCtx bool
	entered    chan string
	release    chan struct{}
	calls      map[string]int
	// features are the node features per session; none set when absent.
	features map[types.SessionIndex]types.BitVec
	// includedAsked records every dispute IncludedAt was asked about.
	includedAsked []DisputeKey
}

func newFakeChain() *fakeChain {
	return &fakeChain{
		leaves:   make(map[types.Hash]*leafState),
		sessions: make(map[types.SessionIndex]SessionInfo),
		failures: make(map[string]error),
		hang:     make(map[string]bool),
		entered:  make(chan string, 16),
		release:  make(chan struct{}),
		calls:    make(map[string]int),
	}
}

func (f *fakeChain) enter(ctx context.Context, method string) error {
	f.mu.Lock()
	f.calls[method]++
	err := f.failures[method]
	hang, respectCtx := f.hang[method], f.respectCtx
	f.mu.Unlock()
	if hang {
		f.entered <- method
		if respectCtx {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-f.release:
			}
		} else {
			<-f.release
		}
	}
	return err
}

func (f *fakeChain) setHang(method string, hang, respectCtx bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang[method] = hang
	f.respectCtx = respectCtx
}

func (f *fakeChain) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeChain) setFailure(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.failures, method)
	} else {
		f.failures[method] = err
	}
}

func (f *fakeChain) leaf(h types.Hash) (*leafState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.leaves[h]
	if !ok {
		return nil, fmt.Errorf("unknown block %s", h)
	}
	return l, nil
}

func (f *fakeChain) Header(ctx context.Context, leaf types.Hash) (types.Header, error) {
	if err := f.enter(ctx, "Header"); err != nil {
		return types.Header{}, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return types.Header{}, err
	}
	return l.header, nil
}

func (f *fakeChain) AvailabilityCores(ctx context.Context, leaf types.Hash) ([]types.CoreState, error) {
	if err := f.enter(ctx, "AvailabilityCores"); err != nil {
		return nil, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return nil, err
	}
	return l.cores, nil
}

func (f *fakeChain) SessionIndexForChild(ctx context.Context, leaf types.Hash) (types.SessionIndex, error) {
	if err := f.enter(ctx, "SessionIndexForChild"); err != nil {
		return 0, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return 0, err
	}
	return l.session, nil
}

func (f *fakeChain) SessionInfo(ctx context.Context, s types.SessionIndex) (SessionInfo, error) {
	if err := f.enter(ctx, "SessionInfo"); err != nil {
		return SessionInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.sessions[s]
	if !ok {
		return SessionInfo{}, fmt.Errorf("unknown session %d", s)
	}
	return info, nil
}

func (f *fakeChain) OnChainDisputes(ctx context.Context, leaf types.Hash) (map[DisputeKey]OnChainDispute, error) {
	if err := f.enter(ctx, "OnChainDisputes"); err != nil {
		return nil, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return nil, err
	}
	return l.onchain, nil
}

func (f *fakeChain) AllowedRelayParents(ctx context.Context, leaf types.Hash) ([]RelayParent, error) {
	if err := f.enter(ctx, "AllowedRelayParents"); err != nil {
		return nil, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return nil, err
	}
	return l.allowed, nil
}

func (f *fakeChain) BackingState(ctx context.Context, leaf types.Hash) (BackingState, error) {
	if err := f.enter(ctx, "BackingState"); err != nil {
		return BackingState{}, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return BackingState{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.backing == nil {
		return BackingState{ParasUnknown: true}, nil
	}
	return *l.backing, nil
}

func (f *fakeChain) NodeFeatures(ctx context.Context, s types.SessionIndex) (types.BitVec, error) {
	if err := f.enter(ctx, "NodeFeatures"); err != nil {
		return types.BitVec{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.features[s], nil
}

func (f *fakeChain) IncludedAt(ctx context.Context, leaf types.Hash, keys []DisputeKey) (map[DisputeKey]types.BlockNumber, error) {
	if err := f.enter(ctx, "IncludedAt"); err != nil {
		return nil, err
	}
	l, err := f.leaf(leaf)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.includedAsked = append(f.includedAsked, keys...)
	out := make(map[DisputeKey]types.BlockNumber)
	for _, k := range keys {
		if h, ok := l.included[k]; ok {
			out[k] = h
		}
	}
	return out, nil
}

// ---- keys and hashes -------------------------------------------------------

// testHash makes a distinct, readable hash from a label and a number.
func testHash(label string, n int) types.Hash {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return types.Blake2_256(append([]byte(label), b[:]...))
}

// validatorSet returns n real sr25519 keypairs (from fixed seeds) and
// their public keys.
func validatorSet(t testing.TB, n int) ([]*types.Keypair, []types.ValidatorID) {
	t.Helper()
	keys := make([]*types.Keypair, n)
	ids := make([]types.ValidatorID, n)
	for i := range keys {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(i)+1)
		k, err := types.KeypairFromSeed(seed)
		if err != nil {
			t.Fatalf("keypair %d: %v", i, err)
		}
		keys[i], ids[i] = k, k.Public()
	}
	return keys, ids
}

// fakeIDs returns n distinct validator ids that are not real keys, for
// tests that never verify a signature.
func fakeIDs(n int) []types.ValidatorID {
	ids := make([]types.ValidatorID, n)
	for i := range ids {
		ids[i] = types.ValidatorID(testHash("validator", i))
	}
	return ids
}

// groupsOf splits n validators into groups of size g (the last may be
// smaller).
func groupsOf(n, g int) [][]types.ValidatorIndex {
	var out [][]types.ValidatorIndex
	for i := 0; i < n; i += g {
		var grp []types.ValidatorIndex
		for v := i; v < min(i+g, n); v++ {
			grp = append(grp, types.ValidatorIndex(v))
		}
		out = append(out, grp)
	}
	return out
}

// ---- cores ------------------------------------------------------------------

func scheduled(para types.ParaID) types.CoreState {
	return types.CoreState{Kind: types.CoreScheduled, Scheduled: types.ScheduledCore{ParaID: para}}
}

func freeCore() types.CoreState { return types.CoreState{Kind: types.CoreFree} }

// occupied builds an Occupied core of para held by a candidate whose head
// is headOf(para, label); n is the validator count (availability length).
func occupied(para types.ParaID, n int, opts ...func(*types.OccupiedCore)) types.CoreState {
	oc := &types.OccupiedCore{
		OccupiedSince: 90,
		TimeOutAt:     200,
		Availability:  types.NewBitVec(n),
		CandidateHash: testHash("occupant", int(para)),
	}
	oc.CandidateDescriptor.ParaID = para
	oc.CandidateDescriptor.ParaHead = types.Blake2_256(headData(para, 0))
	for _, o := range opts {
		o(oc)
	}
	return types.CoreState{Kind: types.CoreOccupied, Occupied: oc}
}

func nextOnAvailable(para types.ParaID) func(*types.OccupiedCore) {
	return func(o *types.OccupiedCore) { o.NextUpOnAvailable = &types.ScheduledCore{ParaID: para} }
}

func nextOnTimeOut(para types.ParaID) func(*types.OccupiedCore) {
	return func(o *types.OccupiedCore) { o.NextUpOnTimeOut = &types.ScheduledCore{ParaID: para} }
}

func timeOutAt(n types.BlockNumber) func(*types.OccupiedCore) {
	return func(o *types.OccupiedCore) { o.TimeOutAt = n }
}

// availableBits sets the first k availability bits.
func availableBits(k int) func(*types.OccupiedCore) {
	return func(o *types.OccupiedCore) {
		for i := 0; i < k && i < o.Availability.Len; i++ {
			o.Availability.Set(i, true)
		}
	}
}

func allAvailable() func(*types.OccupiedCore) { return availableBits(1 << 30) }

// occupantHead makes the occupant's head the given head data's hash and
// its hash h.
func occupant(hash types.Hash, head []byte) func(*types.OccupiedCore) {
	return func(o *types.OccupiedCore) {
		o.CandidateHash = hash
		o.CandidateDescriptor.ParaHead = types.Blake2_256(head)
	}
}

// headData is the head data of para after `step` blocks.
func headData(para types.ParaID, step int) []byte {
	return []byte(fmt.Sprintf("head of para %d at step %d", para, step))
}

// ---- candidates -------------------------------------------------------------

type candSpec struct {
	para        types.ParaID
	relayParent types.Hash
	rpNumber    types.BlockNumber
	core        int  // >= 0: v2 descriptor for this core; -1: v1
	inject      int  // >= 0: inject this core index into validator_indices
	step        int  // produces headData(para, step)
	parent      bool // carry PersistedValidationData with headData(para, step-1)
	parentHead  []byte
	code        bool
	groupSize   int
	salt        int // distinguishes forks with the same step
}

func v1(para types.ParaID, rp types.Hash) candSpec {
	return candSpec{para: para, relayParent: rp, core: -1, inject: -1, step: 1, groupSize: 5}
}

func v2(para types.ParaID, rp types.Hash, core int) candSpec {
	return candSpec{para: para, relayParent: rp, core: core, inject: -1, step: 1, groupSize: 5}
}

func (s candSpec) at(step int) candSpec               { s.step = step; s.parent = true; return s }
func (s candSpec) withCode() candSpec                 { s.code = true; return s }
func (s candSpec) injected(c int) candSpec            { s.inject = c; return s }
func (s candSpec) fork(salt int) candSpec             { s.salt = salt; return s }
func (s candSpec) rpNum(n types.BlockNumber) candSpec { s.rpNumber = n; return s }
func (s candSpec) onParent(h []byte) candSpec {
	s.parent = true
	s.parentHead = h
	return s
}

func makeCandidate(s candSpec) *BackedCandidate {
	head := headData(s.para, s.step)
	if s.salt != 0 {
		head = append(head, []byte(fmt.Sprintf(" fork %d", s.salt))...)
	}
	var pvd *PersistedValidationData
	pvdHash := testHash(fmt.Sprintf("pvd %d/%d/%d", s.para, s.step, s.salt), 0)
	if s.parent {
		parent := s.parentHead
		if parent == nil {
			parent = headData(s.para, s.step-1)
		}
		pvd = &PersistedValidationData{ParentHead: parent, RelayParentNumber: s.rpNumber, MaxPoVSize: 5 << 20}
		pvdHash = pvd.Hash()
	}
	commitments := types.CandidateCommitments{HeadData: head, HrmpWatermark: s.rpNumber}
	if s.code {
		code := []byte(fmt.Sprintf("code of para %d", s.para))
		commitments.NewValidationCode = &code
	}
	var d types.CandidateDescriptor
	if s.core >= 0 {
		d = types.NewCandidateDescriptorV2(s.para, s.relayParent, uint16(s.core), 1, pvdHash,
			testHash("pov", int(s.para)), testHash("erasure", s.step), types.Blake2_256(head), testHash("code", 0))
	} else {
		d = types.CandidateDescriptor{
			ParaID: s.para, RelayParent: s.relayParent, PersistedValidationDataHash: pvdHash,
			PovHash: testHash("pov", int(s.para)), ErasureRoot: testHash("erasure", s.step),
			ParaHead: types.Blake2_256(head), ValidationCodeHash: testHash("code", 0),
		}
		d.Collator = types.CollatorID(testHash("collator", int(s.para)))
		d.Signature[0] = 1 // a v1 descriptor: reserved bytes are not zero
	}
	g := s.groupSize
	if g == 0 {
		g = 5
	}
	bits := types.NewBitVec(g)
	votes := []types.ValidityAttestation{{Kind: types.AttestationImplicit}, {Kind: types.AttestationExplicit}}[:min(2, g)]
	for i := range votes {
		bits.Set(i, true)
	}
	if s.inject >= 0 {
		var err error
		if bits, err = types.InjectCoreIndex(bits, types.CoreIndex(s.inject)); err != nil {
			panic(err)
		}
	}
	return &BackedCandidate{
		Candidate: types.BackedCandidate{
			Candidate:        types.CommittedCandidateReceipt{Descriptor: d, Commitments: commitments},
			ValidityVotes:    votes,
			ValidatorIndices: bits,
		},
		ValidationData: pvd,
	}
}

// ---- bitfields --------------------------------------------------------------

func bitfield(v types.ValidatorIndex, bits string) *SignedBitfield {
	bv, err := types.BitVecFromString(bits)
	if err != nil {
		panic(err)
	}
	var sig types.ValidatorSignature
	sig[0], sig[1] = byte(v), byte(len(bits))
	return &SignedBitfield{Bitfield: types.UncheckedSignedAvailabilityBitfield{Payload: bv, ValidatorIndex: v, Signature: sig}}
}

// ---- disputes ---------------------------------------------------------------

func explicitVote(valid bool, v types.ValidatorIndex) types.DisputeStatementEntry {
	var sig types.ValidatorSignature
	binary.LittleEndian.PutUint32(sig[:], v)
	if valid {
		sig[4] = 1
	}
	return types.DisputeStatementEntry{
		Statement:      types.DisputeStatement{Valid: valid, Kind: types.ValidExplicit},
		ValidatorIndex: v,
		Signature:      sig,
	}
}

func backingVote(v types.ValidatorIndex, rp types.Hash) types.DisputeStatementEntry {
	e := explicitVote(true, v)
	e.Statement.Kind = types.ValidBackingSeconded
	e.Statement.Hash = rp
	e.Signature[5] = 2
	return e
}

// votes makes explicit votes of validators [from, to) on one side.
func votes(valid bool, from, to int) []types.DisputeStatementEntry {
	var out []types.DisputeStatementEntry
	for v := from; v < to; v++ {
		out = append(out, explicitVote(valid, types.ValidatorIndex(v)))
	}
	return out
}

func disputeSet(session types.SessionIndex, c types.Hash, stmts ...[]types.DisputeStatementEntry) *DisputeStatements {
	set := types.DisputeStatementSet{CandidateHash: c, Session: session}
	for _, s := range stmts {
		set.Statements = append(set.Statements, s...)
	}
	return &DisputeStatements{Set: set}
}

// onchainState builds an on-chain dispute of n validators with [0,forTo)
// for and [againstFrom, againstTo) against.
func onchainState(n, forTo, againstFrom, againstTo int, concluded bool) OnChainDispute {
	d := OnChainDispute{ValidatorsFor: types.NewBitVec(n), ValidatorsAgainst: types.NewBitVec(n), Start: 1}
	for v := 0; v < forTo; v++ {
		d.ValidatorsFor.Set(v, true)
	}
	for v := againstFrom; v < againstTo; v++ {
		d.ValidatorsAgainst.Set(v, true)
	}
	if concluded {
		// Concluded at the test leaf (127): within the runtime's
		// post-conclusion acceptance period of the block built on it.
		at := types.BlockNumber(leafNumber)
		d.ConcludedAt = &at
	}
	return d
}

// ---- harness ----------------------------------------------------------------

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a Provisioner synchronously over a fake chain and a
// manual clock.
type harness struct {
	t     *testing.T
	chain *fakeChain
	clock *ManualClock
	reg   *prometheus.Registry
	p     *Provisioner
	ctx   context.Context
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, chain: newFakeChain(), clock: NewManualClock(t0), reg: prometheus.NewRegistry(), ctx: context.Background()}
	cfg.Chain, cfg.Clock, cfg.Registerer = h.chain, h.clock, h.reg
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	t.Cleanup(func() {
		close(h.chain.release)
		p.Wait(time.Second)
	})
	return h
}

// addSession registers a session of n validators in groups of g.
func (h *harness) addSession(s types.SessionIndex, ids []types.ValidatorID, g int) {
	h.chain.mu.Lock()
	defer h.chain.mu.Unlock()
	h.chain.sessions[s] = SessionInfo{Validators: ids, Groups: groupsOf(len(ids), g)}
}

// addLeaf registers a leaf at number with cores in session s.
func (h *harness) addLeaf(hash types.Hash, number types.BlockNumber, s types.SessionIndex, cores []types.CoreState, allowed ...RelayParent) ActivatedLeaf {
	h.chain.mu.Lock()
	defer h.chain.mu.Unlock()
	h.chain.leaves[hash] = &leafState{
		header:  types.Header{ParentHash: testHash("parent", int(number)), Number: number, StateRoot: testHash("state", int(number))},
		cores:   cores,
		session: s,
		allowed: allowed,
		onchain: map[DisputeKey]OnChainDispute{},
	}
	return ActivatedLeaf{Hash: hash, Number: number}
}

func (h *harness) setOnchain(leaf types.Hash, onchain map[DisputeKey]OnChainDispute) {
	h.chain.mu.Lock()
	defer h.chain.mu.Unlock()
	h.chain.leaves[leaf].onchain = onchain
}

func (h *harness) activate(leaves ...ActivatedLeaf) {
	h.p.HandleSignal(h.ctx, ActiveLeavesUpdate{Activated: leaves})
}

func (h *harness) deactivate(hashes ...types.Hash) {
	h.p.HandleSignal(h.ctx, ActiveLeavesUpdate{Deactivated: hashes})
}

func (h *harness) provide(rp types.Hash, d Data) error {
	return h.p.Provide(h.ctx, rp, d)
}

func (h *harness) mustProvide(rp types.Hash, d Data) {
	h.t.Helper()
	if err := h.provide(rp, d); err != nil {
		h.t.Fatalf("provide %s: %v", d.kind(), err)
	}
}

// request sends a request and returns its reply channel.
func (h *harness) request(rp types.Hash) chan InherentResponse {
	r := make(chan InherentResponse, 1)
	h.p.Request(h.ctx, rp, r)
	return r
}

// inherent moves past PRE_PROPOSE and returns the inherent for rp, failing
// the test on an error.
func (h *harness) inherent(rp types.Hash) *types.InherentData {
	h.t.Helper()
	h.clock.Advance(DefaultPrePropose)
	resp := <-h.request(rp)
	if resp.Err != nil {
		h.t.Fatalf("inherent for %s: %v", rp, resp.Err)
	}
	checkEncoding(h.t, resp)
	return resp.Data
}

// checkEncoding checks that Encoded is the data's encoding and decodes back.
func checkEncoding(t testing.TB, resp InherentResponse) {
	t.Helper()
	if want := types.Encode(resp.Data); string(want) != string(resp.Encoded) {
		t.Fatalf("Encoded differs from types.Encode(Data)")
	}
	var back types.InherentData
	if err := types.Decode(resp.Encoded, &back); err != nil {
		t.Fatalf("encoded inherent does not decode: %v", err)
	}
}

func pending(ch chan InherentResponse) bool { return len(ch) == 0 }

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric is neither counter nor gauge")
	return 0
}

func discarded(h *harness, kind, reason string) float64 {
	return metricValue(h.t, h.p.m.discarded.WithLabelValues(kind, reason))
}

var errBoom = errors.New("boom")

// histogramSum is the sum of the observations of a histogram in h's
// registry.
func histogramSum(t testing.TB, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func (s candSpec) group(g int) candSpec { s.groupSize = g; return s }
