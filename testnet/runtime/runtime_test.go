package runtime

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

func u8(v uint8) *uint8 { return &v }

func TestTimeoutPredicateExact(t *testing.T) {
	rt, err := New(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	st := &State{SessionStart: 0}
	for _, c := range []struct {
		n        types.BlockNumber
		required bool
		backed   types.BlockNumber
		until    types.BlockNumber
	}{
		{0, true, 0, 4},
		{3, false, 2, 14},
		{9, true, 7, 11},
		{12, true, 9, 13},
		{13, false, 9, 24},
	} {
		p := rt.timeouts(st, c.n)
		if p.checkRequired != c.required || p.liveUntil(c.backed) != c.until {
			t.Errorf("n=%d: required %v live until %d, want %v %d", c.n, p.checkRequired, p.liveUntil(c.backed), c.required, c.until)
		}
	}
}

func TestWeightsExact(t *testing.T) {
	if weightEnterEmpty != 1_435_091_000 || weightEnterBitfield != 1_873_471_000 {
		t.Fatalf("enter_empty %d enter_bitfields %d", weightEnterEmpty, weightEnterBitfield)
	}
	bf := types.UncheckedSignedAvailabilityBitfield{Payload: types.NewBitVec(3)}
	if w := BitfieldWeight(&bf); w != (Weight{RefTime: 438_380_000, ProofSize: uint64(bf.EncodedSize())}) {
		t.Fatalf("bitfield weight %+v", w)
	}
	bc := types.BackedCandidate{ValidityVotes: make([]types.ValidityAttestation, 2)}
	if w := CandidateWeight(&bc); w.RefTime != 3_677_682_084+2*46_907_155-1_435_091_000 {
		t.Fatalf("candidate weight %d", w.RefTime)
	}
	code := []byte{1}
	bc.Candidate.Commitments.NewValidationCode = &code
	if w := CandidateWeight(&bc); w.RefTime != 33_779_264_000-1_435_091_000 {
		t.Fatalf("code upgrade weight %d", w.RefTime)
	}
}

func TestClaimQueueSessionsAndAllowedRelayParents(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Paras = append(cfg.Paras, ParaGenesis{ID: 300, Head: paraHead(300), CodeHash: codeHash(300)})
	cfg.Schedule[2] = []types.ParaID{200, 300}
	cfg.SessionLength = 5
	cfg.Seed = 7
	h := newHarness(t, cfg)
	_, st := h.tip()
	if got := h.rt.ClaimQueue(st)[2]; !slices.Equal(got, []types.ParaID{300, 200, 300}) {
		t.Fatalf("genesis claim queue of core 2: %v", got)
	}
	if got := h.rt.ClaimQueue(st)[0]; !slices.Equal(got, []types.ParaID{100, 100, 100}) {
		t.Fatalf("genesis claim queue of core 0: %v", got)
	}
	h.block(h.inherent())
	_, st = h.tip()
	if got := h.rt.ClaimQueue(st)[2]; !slices.Equal(got, []types.ParaID{200, 300, 200}) {
		t.Fatalf("claim queue of core 2 after block 1: %v", got)
	}
	h.empty(2)
	numbers := func() []types.BlockNumber {
		th, st := h.tip()
		var out []types.BlockNumber
		for _, rp := range h.rt.AllowedRelayParents(st, th) {
			out = append(out, rp.Number)
		}
		return out
	}
	if got := numbers(); !slices.Equal(got, []types.BlockNumber{1, 2, 3}) {
		t.Fatalf("allowed at 3: %v", got)
	}
	// Block 4 waits for the session change: a candidate is filtered and
	// the claim queue does not move.
	inh := h.inherent()
	inh.BackedCandidates = append(inh.BackedCandidates, h.candidate(100, 0, 3, paraHead(100), candOpts{}))
	out := h.block(inh)
	_, st = h.tip()
	if out.Filtered[CandidateSessionChange] != 1 || len(out.Backed) != 0 || st.AssignerNext != 4 {
		t.Fatalf("block 4: filtered %v backed %d assigner %d", out.Filtered, len(out.Backed), st.AssignerNext)
	}
	if got := numbers(); !slices.Equal(got, []types.BlockNumber{4}) {
		t.Fatalf("allowed for the session's first block: %v", got)
	}
	if s := h.rt.SessionIndexForChild(st); s != 2 {
		t.Fatalf("session for child of 4: %d", s)
	}
	// Bitfields for block 5 are signed in session 2.
	inh = h.inherent()
	inh.Bitfields = h.bitfields(all(6))
	out = h.block(inh)
	_, st = h.tip()
	if !out.SessionChanged || out.Bitfields != 6 || st.Session != 2 || st.SessionStart != 5 || st.AssignerNext != 5 {
		t.Fatalf("block 5: %+v session %d start %d", out, st.Session, st.SessionStart)
	}
	if got := numbers(); !slices.Equal(got, []types.BlockNumber{4, 5}) {
		t.Fatalf("allowed at 5: %v", got)
	}
	g1, g2 := h.rt.Groups(1), h.rt.Groups(2)
	if slices.EqualFunc(g1, g2, slices.Equal) {
		t.Fatalf("groups not reshuffled: %v", g2)
	}
	var members []types.ValidatorIndex
	for _, g := range g2 {
		members = append(members, g...)
	}
	slices.Sort(members)
	if !slices.Equal(members, []types.ValidatorIndex{0, 1, 2, 3, 4, 5}) || !slices.EqualFunc(h.rt.Groups(2), g2, slices.Equal) {
		t.Fatalf("session 2 groups %v are not a deterministic partition", g2)
	}
	// A candidate in the new session is backed by the new groups.
	inh = h.inherent()
	inh.BackedCandidates = append(inh.BackedCandidates, h.candidate(300, 2, 5, paraHead(300), candOpts{}))
	if out := h.block(inh); len(out.Backed) != 1 {
		t.Fatalf("block 6 backed %d, filtered %v", len(out.Backed), out.Filtered)
	}
}

// The old state.go enacted each core on its own: a child on a lower core
// could be included before (or without) its parent, and Tip took the
// pending head by core order.
func TestChildOnLowerCoreWaitsForParent(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	parent := h.candidate(100, 1, 0, paraHead(100), candOpts{})
	child := h.candidate(100, 0, 0, parent.Candidate.Commitments.HeadData, candOpts{})
	inh := h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{parent, child}
	out := h.block(inh)
	if len(out.Backed) != 2 || out.Backed[0].Hash != parent.Hash() || out.Backed[1].Hash != child.Hash() {
		t.Fatalf("backed %+v filtered %v", out.Backed, out.Filtered)
	}
	th, st := h.tip()
	cons, _ := h.rt.BackingConstraints(st, th, 100)
	if !slices.Equal(cons.Tip, child.Candidate.Commitments.HeadData) || len(cons.Pending) != 2 || cons.Pending[0].Hash != parent.Hash() {
		t.Fatalf("tip/pending not in chain order: %+v", cons.Pending)
	}
	inh = h.inherent()
	inh.Bitfields = h.bitfields(all(6), 0) // only the child is available
	out = h.block(inh)
	if len(out.Included) != 0 || !slices.Equal(head(h, 100), paraHead(100)) {
		t.Fatalf("child enacted before its parent: %+v", out.Included)
	}
	inh = h.inherent()
	inh.Bitfields = h.bitfields(all(6), 1)
	out = h.block(inh)
	want := []CandidateEvent{{Para: 100, Core: 1, Hash: parent.Hash()}, {Para: 100, Core: 0, Hash: child.Hash()}}
	if !slices.Equal(out.Included, want) || !slices.Equal(head(h, 100), child.Candidate.Commitments.HeadData) {
		t.Fatalf("included %+v", out.Included)
	}
}

// The old state.go timed each core out on its own, so a child outlived its
// timed-out parent.
func TestDescendantDroppedWithTimedOutParent(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	h.empty(6)
	parent := h.candidate(100, 1, 6, paraHead(100), candOpts{})
	inh := h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{parent}
	h.block(inh) // block 7
	h.empty(1)   // block 8
	child := h.candidate(100, 0, 8, parent.Candidate.Commitments.HeadData, candOpts{})
	inh = h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{child}
	out := h.block(inh) // block 9: parent lives until 11
	if len(out.Backed) != 1 || len(out.Dropped) != 0 {
		t.Fatalf("block 9: %+v", out)
	}
	_, st := h.tip()
	cores := h.rt.AvailabilityCores(st)
	if cores[1].Occupied == nil || cores[1].Occupied.TimeOutAt != 11 || cores[0].Occupied == nil || cores[0].Occupied.TimeOutAt != 13 ||
		cores[0].Occupied.NextUpOnAvailable.ParaID != 100 || cores[2].Kind != types.CoreScheduled {
		t.Fatalf("availability cores at 9: %+v %+v", cores[0], cores[1])
	}
	out = h.block(h.inherent()) // block 10: now 11, the parent times out
	want := []DroppedCandidate{{Para: 100, Hash: parent.Hash(), Core: 1, Reason: DropTimedOut}, {Para: 100, Hash: child.Hash(), Core: 0, Reason: DropTimedOut}}
	if !slices.Equal(out.Dropped, want) {
		t.Fatalf("dropped %+v", out.Dropped)
	}
	th, st := h.tip()
	if cons, _ := h.rt.BackingConstraints(st, th, 100); len(cons.Pending) != 0 || !slices.Equal(cons.Tip, paraHead(100)) {
		t.Fatalf("pending after timeout: %+v", cons)
	}
}

// The old state.go refused a bitfield with a bit on a free core; the
// runtime ignores the bit.
func TestBitfieldOnFreeCoreAccepted(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	inh := h.inherent()
	inh.Bitfields = h.bitfields(all(6), 0, 2)
	th, st := h.tip()
	if _, out, err := h.rt.Enter(st, th, inh); err != nil || out.Bitfields != 6 {
		t.Fatalf("enter: %v", err)
	}
}

// The old state.go refused a second code upgrade in a block; the runtime
// limits upgrades per para.
func TestCodeUpgradesPerPara(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	inh := h.inherent()
	a := h.candidate(100, 0, 0, paraHead(100), candOpts{newCode: []byte("code a")})
	b := h.candidate(200, 2, 0, paraHead(200), candOpts{newCode: []byte("code b")})
	inh.BackedCandidates = []types.BackedCandidate{a, b}
	if out := h.block(inh); len(out.Backed) != 2 {
		t.Fatalf("two paras' upgrades: backed %d filtered %v", len(out.Backed), out.Filtered)
	}
	inh = h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{h.candidate(100, 1, 1, a.Candidate.Commitments.HeadData, candOpts{newCode: []byte("code a2")})}
	th, st := h.tip()
	_, _, err := h.rt.Enter(st, th, inh)
	var fe *FilteredError
	if !errors.Is(err, ErrInherentDataFiltered) || !errors.As(err, &fe) || fe.Reasons[CandidateCodeUpgrade] != 1 {
		t.Fatalf("second upgrade of one para in flight: %v", err)
	}
}

func statement(h *harness, valid bool, kind uint8, rp types.Hash, cand types.Hash, session types.SessionIndex, v int) types.DisputeStatementEntry {
	return types.SignDisputeStatement(h.kps[v], types.DisputeStatement{Valid: valid, Kind: kind, Hash: rp}, cand, session, types.ValidatorIndex(v))
}

// The old state.go demanded (session, hash) order and refused a whole set
// for one bad signature.
func TestDisputeOrderAndBadStatement(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	x := h.candidate(200, 2, 0, paraHead(200), candOpts{})
	inh := h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{x}
	h.block(inh)
	inh = h.inherent()
	inh.Bitfields = h.bitfields(all(6), 2)
	h.block(inh) // x included in block 2
	y := h.candidate(200, 2, 2, x.Candidate.Commitments.HeadData, candOpts{})
	inh = h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{y}
	h.block(inh)
	inh = h.inherent()
	inh.Bitfields = h.bitfields(all(6), 2)
	h.block(inh) // y included in block 4
	_, st := h.tip()
	if at, ok := h.rt.InclusionHeight(st, 1, x.Hash()); !ok || at != 2 {
		t.Fatalf("x included at %d %v", at, ok)
	}
	set := func(c types.Hash) types.DisputeStatementSet {
		return types.DisputeStatementSet{CandidateHash: c, Session: 1, Statements: []types.DisputeStatementEntry{
			statement(h, true, types.ValidExplicit, types.Hash{}, c, 1, 2), statement(h, false, types.InvalidExplicit, types.Hash{}, c, 1, 3)}}
	}
	z := set(types.Hash{})
	runtimeOrder := []types.DisputeStatementSet{set(x.Hash()), set(y.Hash()), z}
	inh = h.inherent()
	inh.Disputes = runtimeOrder
	th, st := h.tip()
	if _, _, err := h.rt.Enter(st, th, inh); err != nil {
		t.Fatalf("runtime order refused: %v", err)
	}
	inh.Disputes = []types.DisputeStatementSet{z, set(x.Hash()), set(y.Hash())}
	if _, _, err := h.rt.Enter(st, th, inh); !errors.Is(err, ErrInherentDataFiltered) {
		t.Fatalf("(session, hash) order over local disputes accepted: %v", err)
	}
	bad := set(x.Hash())
	extra := statement(h, false, types.InvalidExplicit, types.Hash{}, x.Hash(), 1, 4)
	extra.Signature[0] ^= 1
	bad.Statements = append(bad.Statements, extra)
	inh.Disputes = []types.DisputeStatementSet{bad}
	kept, out := h.create(inh)
	if len(kept.Disputes) != 1 || len(kept.Disputes[0].Statements) != 2 || out.Filtered[StatementBadSignature] != 1 {
		t.Fatalf("bad statement: kept %+v filtered %v", kept.Disputes, out.Filtered)
	}
	_, _, err := h.rt.Enter(st, th, inh)
	var fe *FilteredError
	if !errors.As(err, &fe) || fe.Reasons[StatementBadSignature] != 1 {
		t.Fatalf("enter with a bad statement: %v", err)
	}
}

func TestDisputeConcludedInvalid(t *testing.T) {
	cfg := baseConfig(t)
	kps := keypairs(t, 9)
	cfg.Validators = nil
	for _, kp := range kps {
		cfg.Validators = append(cfg.Validators, kp.Public())
	}
	h := newHarness(t, cfg)
	parent := h.candidate(100, 1, 0, paraHead(100), candOpts{})
	child := h.candidate(100, 0, 0, parent.Candidate.Commitments.HeadData, candOpts{})
	inh := h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{parent, child}
	h.block(inh)
	// Core 1's group at block 1 is group 1: validators 2 and 3.
	rp := h.headers[0].Hash()
	c := parent.Hash()
	set := types.DisputeStatementSet{CandidateHash: c, Session: 1, Statements: []types.DisputeStatementEntry{
		statement(h, true, types.ValidBackingSeconded, rp, c, 1, 2), statement(h, true, types.ValidBackingValid, rp, c, 1, 3)}}
	for _, v := range []int{0, 1, 4, 5, 6, 7, 8} {
		set.Statements = append(set.Statements, statement(h, false, types.InvalidExplicit, types.Hash{}, c, 1, v))
	}
	inh = h.inherent()
	inh.Disputes = []types.DisputeStatementSet{set}
	inh.Bitfields = h.bitfields(all(9), 0, 1)
	out := h.block(inh)
	wantSlash := []Offence{{Session: 1, Candidate: c, Validator: 2, Kind: ForInvalidBacked, At: 2}, {Session: 1, Candidate: c, Validator: 3, Kind: ForInvalidBacked, At: 2}}
	wantDrop := []DroppedCandidate{{Para: 100, Hash: c, Core: 1, Reason: DropDisputed}, {Para: 100, Hash: child.Hash(), Core: 0, Reason: DropDisputed}}
	if !slices.Equal(out.Slashed, wantSlash) || !slices.Equal(out.Dropped, wantDrop) || len(out.Included) != 0 {
		t.Fatalf("slashed %+v dropped %+v included %+v", out.Slashed, out.Dropped, out.Included)
	}
	// Bitfields with a bit on the disputed cores were dropped.
	if out.Filtered[BitfieldDisputedCore] != 9 {
		t.Fatalf("filtered %v", out.Filtered)
	}
	th, st := h.tip()
	if got := h.rt.DisabledValidators(st); !slices.Equal(got, []types.ValidatorIndex{2, 3}) {
		t.Fatalf("disabled %v", got)
	}
	ds := h.rt.Disputes(st)
	if len(ds) != 1 || !ds[0].ConcludedInvalid() || *ds[0].ConcludedAt != 2 {
		t.Fatalf("disputes %+v", ds)
	}
	_ = th
	// Their later votes are stripped: the group of core 1 is left with no
	// vote and the candidate is dropped.
	inh = h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{h.candidate(100, 1, 2, paraHead(100), candOpts{})}
	if _, out := h.create(inh); out.Filtered[CandidateDisabledBackers] != 1 {
		t.Fatalf("disabled backers' candidate: %v", out.Filtered)
	}
}

func TestWeightLimitPrefersUpgradesAndKeepsChains(t *testing.T) {
	cfg := baseConfig(t)
	h0 := newHarness(t, cfg)
	up := h0.candidate(200, 2, 0, paraHead(200), candOpts{newCode: []byte("new code")})
	p := h0.candidate(100, 0, 0, paraHead(100), candOpts{})
	c := h0.candidate(100, 1, 0, p.Candidate.Commitments.HeadData, candOpts{})
	bfs := h0.bitfields(all(6))
	var bfW Weight
	for i := range bfs {
		bfW = bfW.Add(BitfieldWeight(&bfs[i]))
	}
	cfg.MaxBlockWeight = Weight{RefTime: bfW.RefTime + CandidateWeight(&up).RefTime + 1_000_000_000, ProofSize: 5 << 20}
	h := newHarness(t, cfg)
	inh := h.inherent()
	inh.Bitfields = bfs
	inh.BackedCandidates = []types.BackedCandidate{p, c, up}
	kept, out := h.create(inh)
	if len(kept.BackedCandidates) != 1 || kept.BackedCandidates[0].Hash() != up.Hash() || len(kept.Bitfields) != 6 || out.Filtered[CandidateOverWeight] != 2 {
		t.Fatalf("kept %d candidates, %d bitfields, filtered %v", len(kept.BackedCandidates), len(kept.Bitfields), out.Filtered)
	}
	if out.Weight.Sub(Weight{RefTime: weightEnterEmpty}).AnyGT(cfg.MaxBlockWeight) {
		t.Fatalf("weight %+v over %+v", out.Weight, cfg.MaxBlockWeight)
	}
	// Budget below the bitfields: candidates go, bitfields are picked at
	// random (seeded by the parent hash: the same pick every time).
	cfg.MaxBlockWeight = Weight{RefTime: 3 * BitfieldWeight(&bfs[0]).RefTime, ProofSize: 5 << 20}
	h = newHarness(t, cfg)
	inh.ParentHeader = h.headers[0]
	k1, _ := h.create(inh)
	k2, _ := h.create(inh)
	if len(k1.BackedCandidates) != 0 || len(k1.Bitfields) != 3 || !slices.EqualFunc(k1.Bitfields, k2.Bitfields, func(a, b types.UncheckedSignedAvailabilityBitfield) bool {
		return a.ValidatorIndex == b.ValidatorIndex
	}) {
		t.Fatalf("bitfields only: %d candidates %d bitfields", len(k1.BackedCandidates), len(k1.Bitfields))
	}
}

func TestEnterErrors(t *testing.T) {
	h := newHarness(t, baseConfig(t))
	th, st := h.tip()
	inh := h.inherent()
	inh.ParentHeader.Number = 5
	if _, _, err := h.rt.Enter(st, th, inh); !errors.Is(err, ErrInvalidParentHeader) {
		t.Fatalf("parent header: %v", err)
	}
	inh = h.inherent()
	bc := h.candidate(100, 0, 0, paraHead(100), candOpts{})
	bc.ValidityVotes[1].Signature[3] ^= 1
	inh.BackedCandidates = []types.BackedCandidate{bc}
	if _, _, _, err := h.rt.CreateInherent(st, th, inh); !errors.Is(err, ErrInvalidBacking) {
		t.Fatalf("bad backing signature: %v", err)
	}
	inh = h.inherent()
	inh.BackedCandidates = []types.BackedCandidate{h.candidate(100, 0, 0, paraHead(100), candOpts{selector: u8(1)})}
	if _, out := h.create(inh); out.Filtered[CandidateUMPSignals] != 1 {
		t.Fatalf("wrong SelectCore: %v", out.Filtered)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("empty config: %v", err)
	}
}

// TestProperties drives random blocks and checks the invariants: heads
// move only forward along their chain, a core holds at most one
// candidate, pending candidates chain from the head, weights stay within
// the budget, and the same seed gives the same chain.
func TestProperties(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		r1 := runRandom(t, seed, 24)
		r2 := runRandom(t, seed, 24)
		if r1 != r2 {
			t.Fatalf("seed %d: not deterministic", seed)
		}
	}
}

func runRandom(t *testing.T, seed uint64, blocks int) types.Hash {
	cfg := baseConfig(t)
	cfg.Paras = append(cfg.Paras, ParaGenesis{ID: 300, Head: paraHead(300), CodeHash: codeHash(300)})
	cfg.Schedule[2] = []types.ParaID{200, 300}
	cfg.SessionLength = 9
	cfg.GroupRotationFrequency = 4
	cfg.ParasAvailabilityPeriod = 2
	cfg.Seed = seed
	if seed%3 == 0 {
		cfg.MaxBlockWeight = Weight{RefTime: 8_000_000_000, ProofSize: 5 << 20}
	}
	h := newHarness(t, cfg)
	rng := rand.New(rand.NewPCG(seed, 99))
	depth := map[string]int{}
	for _, p := range cfg.Paras {
		depth[string(p.Head)] = 0
	}
	included := map[types.ParaID]uint32{}
	for range blocks {
		th, st := h.tip()
		inh := h.inherent()
		cores := h.rt.AvailabilityCores(st)
		var occupied []types.CoreIndex
		for c, cs := range cores {
			if cs.Kind == types.CoreOccupied {
				occupied = append(occupied, types.CoreIndex(c))
			}
		}
		if len(occupied) > 0 || rng.IntN(4) == 0 {
			var vs []int
			for v := range 6 {
				if rng.IntN(5) != 0 {
					vs = append(vs, v)
				}
			}
			var set []types.CoreIndex
			for _, c := range occupied {
				if rng.IntN(3) != 0 {
					set = append(set, c)
				}
			}
			if rng.IntN(4) == 0 {
				set = append(set, types.CoreIndex(rng.IntN(3)))
			}
			inh.Bitfields = h.bitfields(vs, set...)
		}
		for _, para := range h.rt.Paras(st) {
			cons, _ := h.rt.BackingConstraints(st, th, para)
			tip := cons.Tip
			allowed := h.rt.AllowedRelayParents(st, th)
			rp := allowed[rng.IntN(len(allowed))].Number
			rp = max(rp, cons.MinRelayParentNumber)
			for c, cs := range cores {
				if cs.Kind != types.CoreScheduled || cs.Scheduled.ParaID != para || rng.IntN(4) == 0 {
					continue
				}
				var o candOpts
				if rng.IntN(10) == 0 {
					o.newCode = []byte{byte(rng.IntN(256))}
				}
				bc := h.candidate(para, types.CoreIndex(c), rp, tip, o)
				depth[string(bc.Candidate.Commitments.HeadData)] = depth[string(tip)] + 1
				tip = bc.Candidate.Commitments.HeadData
				inh.BackedCandidates = append(inh.BackedCandidates, bc)
			}
		}
		rng.Shuffle(len(inh.BackedCandidates), func(i, j int) {
			// Shuffle across paras only: within a para the chain order stays.
			a, b := inh.BackedCandidates[i], inh.BackedCandidates[j]
			if a.Candidate.Descriptor.ParaID != b.Candidate.Descriptor.ParaID {
				inh.BackedCandidates[i], inh.BackedCandidates[j] = b, a
			}
		})
		before := map[types.ParaID][]byte{}
		for _, p := range st.Paras {
			before[p.ID] = p.Head
		}
		out := h.block(inh)
		_, st = h.tip()
		if out.Weight.Sub(Weight{RefTime: weightEnterEmpty}).AnyGT(cfg.withDefaults().MaxBlockWeight) {
			t.Fatalf("seed %d block %d: weight %+v", seed, st.Number, out.Weight)
		}
		onCore := map[types.CoreIndex]int{}
		for _, p := range st.Paras {
			if depth[string(p.Head)] < depth[string(before[p.ID])] || p.Included < included[p.ID] {
				t.Fatalf("seed %d block %d: para %d regressed", seed, st.Number, p.ID)
			}
			included[p.ID] = p.Included
			prev := p.Head
			for _, pc := range p.Pending {
				onCore[pc.Core]++
				rpH := h.headers[pc.RelayParentNumber]
				pvd := h.rt.PersistedValidationData(prev, rpH.Number, rpH.StateRoot)
				if pvd.Hash() != pc.Descriptor.PersistedValidationDataHash {
					t.Fatalf("seed %d block %d: para %d pending chain broken", seed, st.Number, p.ID)
				}
				prev = pc.Head
			}
		}
		for c, n := range onCore {
			if n > 1 {
				t.Fatalf("seed %d block %d: core %d holds %d candidates", seed, st.Number, c, n)
			}
		}
		var back State
		if err := back.Decode(codec.NewReader(types.Encode(st), codec.Limits{})); err != nil || back.Root() != st.Root() {
			t.Fatalf("seed %d: state round trip: %v", seed, err)
		}
	}
	_, st := h.tip()
	var total uint32
	for _, p := range st.Paras {
		total += p.Included
	}
	if total == 0 {
		t.Fatalf("seed %d: nothing included in %d blocks", seed, blocks)
	}
	return st.Root()
}
