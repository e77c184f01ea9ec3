package provisioner

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The property tests generate random leaves (cores of every kind, random
// availability), random streams of bitfields, candidates (chains, forks,
// bound and unbound, with and without validation data, code upgrades,
// foreign relay parents), dispute statements and misbehaviour reports, feed
// them to a job and check every selection invariant on the inherent, from
// fixed seeds.

const propertySeeds = 300

type scenario struct {
	n       int
	cores   []types.CoreState
	allowed []RelayParent
	feed    []Data
	times   []time.Duration // clock advance before each feed item
	onchain map[DisputeKey]OnChainDispute
	cap     int
}

func genScenario(r *rand.Rand) scenario {
	sc := scenario{n: 1 + r.IntN(30), onchain: map[DisputeKey]OnChainDispute{}, cap: 5 + r.IntN(80)}
	paras := []types.ParaID{1, 2, 3}
	para := func() types.ParaID { return paras[r.IntN(len(paras))] }
	nCores := r.IntN(9)
	for c := 0; c < nCores; c++ {
		switch r.IntN(4) {
		case 0:
			sc.cores = append(sc.cores, freeCore())
		case 1:
			sc.cores = append(sc.cores, scheduled(para()))
		default:
			var opts []func(*types.OccupiedCore)
			if r.IntN(3) > 0 {
				opts = append(opts, nextOnAvailable(para()))
			}
			if r.IntN(2) == 0 {
				opts = append(opts, nextOnTimeOut(para()))
			}
			opts = append(opts, timeOutAt(types.BlockNumber(leafNumber-1+r.IntN(4))), availableBits(r.IntN(sc.n+1)))
			p := para()
			// Occupants of one para form a chain of heads: step -k.
			occ := occupied(p, sc.n, opts...)
			step := -r.IntN(2)
			occ.Occupied.CandidateHash = testHash(fmt.Sprintf("occupant %d", c), int(p))
			occ.Occupied.CandidateDescriptor.ParaHead = types.Blake2_256(headData(p, step))
			sc.cores = append(sc.cores, occ)
		}
	}
	sc.allowed = []RelayParent{{Hash: olderLeaf, Number: leafNumber - 1}}

	add := func(d Data) {
		sc.feed = append(sc.feed, d)
		sc.times = append(sc.times, time.Duration(r.IntN(3))*100*time.Second)
	}
	// Bitfields: some of the wrong length, some from unknown validators.
	for i := r.IntN(3 * sc.n); i > 0; i-- {
		l := len(sc.cores)
		if r.IntN(8) == 0 {
			l += r.IntN(3) - 1
		}
		bits := make([]byte, max(l, 0))
		for k := range bits {
			bits[k] = '0' + byte(r.IntN(2))
		}
		add(bitfield(types.ValidatorIndex(r.IntN(sc.n+2)), string(bits)))
	}
	// Candidates: per para, chains with forks.
	for i := r.IntN(24); i > 0; i-- {
		p := para()
		rp, rpn := leafHash, types.BlockNumber(leafNumber)
		switch r.IntN(6) {
		case 0:
			rp, rpn = olderLeaf, leafNumber-1
		case 1:
			rp = testHash("foreign", 0)
		}
		var s candSpec
		switch r.IntN(3) {
		case 0:
			s = v1(p, rp)
		case 1:
			s = v2(p, rp, r.IntN(len(sc.cores)+1))
		default:
			s = v1(p, rp).injected(r.IntN(len(sc.cores) + 1))
		}
		s = s.rpNum(rpn)
		s.step = 1 + r.IntN(3)
		if r.IntN(5) > 0 {
			s.parent = true
			if r.IntN(6) == 0 {
				s.parentHead = append(headData(p, s.step-1), " fork 1"...)
			}
		}
		if r.IntN(6) == 0 {
			s.salt = 1
		}
		if r.IntN(5) == 0 {
			s.code = true
		}
		add(makeCandidate(s))
	}
	// Disputes over a few candidates in two sessions.
	kinds := []func(v types.ValidatorIndex) types.DisputeStatementEntry{
		func(v types.ValidatorIndex) types.DisputeStatementEntry { return explicitVote(true, v) },
		func(v types.ValidatorIndex) types.DisputeStatementEntry { return explicitVote(false, v) },
		func(v types.ValidatorIndex) types.DisputeStatementEntry { return backingVote(v, leafHash) },
	}
	for i := r.IntN(10); i > 0; i-- {
		key := DisputeKey{Session: types.SessionIndex(1 + r.IntN(2)), CandidateHash: testHash("dispute", r.IntN(4))}
		var stmts []types.DisputeStatementEntry
		for k := r.IntN(sc.n + 2); k > 0; k-- {
			stmts = append(stmts, kinds[r.IntN(3)](types.ValidatorIndex(r.IntN(sc.n+1))))
		}
		add(disputeSet(key.Session, key.CandidateHash, stmts))
		if r.IntN(3) == 0 {
			oc := onchainState(sc.n, 0, 0, 0, r.IntN(4) == 0)
			if oc.ConcludedAt != nil && r.IntN(2) == 0 {
				// Concluded on chain past the acceptance period.
				at := types.BlockNumber(3)
				oc.ConcludedAt = &at
			}
			for v := 0; v < sc.n; v++ {
				oc.ValidatorsFor.Set(v, r.IntN(3) == 0)
				oc.ValidatorsAgainst.Set(v, r.IntN(4) == 0)
			}
			sc.onchain[key] = oc
		}
	}
	// Misbehaviour reports, some forged, signed with the fake scheme.
	for i := r.IntN(3); i > 0; i-- {
		v := types.ValidatorIndex(r.IntN(sc.n))
		c := testHash("dispute", r.IntN(4))
		rep := types.MisbehaviorReport{Session: 1, CandidateHash: c, ValidatorIndex: v}
		rep.First = fakeSigned(fakeIDs(sc.n)[v], types.DisputeStatement{Valid: true, Kind: types.ValidBackingValid, Hash: leafHash}, c)
		rep.Second = fakeSigned(fakeIDs(sc.n)[v], types.DisputeStatement{Valid: false}, c)
		if r.IntN(3) == 0 {
			rep.Second.Signature[0] ^= 1
		}
		add(&MisbehaviorReport{Report: rep})
	}
	return sc
}

// fakeKey verifies the fake signature scheme: blake2 of the key and payload.
type fakeKey types.ValidatorID

func fakeSign(id types.ValidatorID, payload []byte) (sig [64]byte) {
	a := types.Blake2_256(append(id[:], payload...))
	b := types.Blake2_256(append(payload, id[:]...))
	copy(sig[:32], a[:])
	copy(sig[32:], b[:])
	return sig
}

func (k fakeKey) Verify(payload []byte, sig [64]byte) bool {
	return fakeSign(types.ValidatorID(k), payload) == sig
}

func fakeVerifierFor(id types.ValidatorID) (types.Verifier, error) { return fakeKey(id), nil }

func fakeSigned(id types.ValidatorID, st types.DisputeStatement, c types.Hash) types.SignedDisputeStatement {
	return types.SignedDisputeStatement{Statement: st, Signature: fakeSign(id, types.DisputeStatementPayload(&st, c, 1))}
}

// runScenario feeds sc in the given order and returns the answer.
func runScenario(t *testing.T, sc scenario, order []int) (InherentResponse, *harness) {
	t.Helper()
	h := newHarness(t, Config{MaxDisputeVotes: sc.cap, MaxCandidatesPerDepth: 64, VerifierFor: fakeVerifierFor})
	for s := types.SessionIndex(1); s <= 2; s++ {
		h.addSession(s, fakeIDs(sc.n), 5)
	}
	leaf := h.addLeaf(leafHash, leafNumber, 1, sc.cores, sc.allowed...)
	h.setOnchain(leafHash, sc.onchain)
	h.activate(leaf)
	for _, i := range order {
		h.clock.Advance(sc.times[i])
		_ = h.provide(leafHash, sc.feed[i])
	}
	h.clock.Advance(DefaultPrePropose)
	resp := <-h.request(leafHash)
	if resp.Err != nil {
		t.Fatalf("request: %v", resp.Err)
	}
	checkEncoding(t, resp)
	return resp, h
}

func TestPropertySelectionInvariants(t *testing.T) {
	for seed := uint64(1); seed <= propertySeeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		sc := genScenario(r)
		order := make([]int, len(sc.feed))
		for i := range order {
			order[i] = i
		}
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			resp, h := runScenario(t, sc, order)
			checkBitfieldInvariants(t, sc, resp.Data.Bitfields)
			checkCandidateInvariants(t, sc, h, resp.Data)
			checkDisputeInvariants(t, sc, h, resp.Data.Disputes)

			// Candidate selection does not depend on arrival order.
			shuffled := slices.Clone(order)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			sc2 := sc
			sc2.times = make([]time.Duration, len(sc.times)) // same instant for all: order only
			sc1 := sc
			sc1.times = sc2.times
			a, _ := runScenario(t, sc1, order)
			b, _ := runScenario(t, sc2, shuffled)
			// Bitfield selection keeps the first of a validator's equally
			// full bitfields, so arrival order may change availability,
			// and with it the free cores: compare only when it did not.
			sameBits := string(types.Encode(&types.InherentData{Bitfields: a.Data.Bitfields})) ==
				string(types.Encode(&types.InherentData{Bitfields: b.Data.Bitfields}))
			if sameBits && describeCandidates(a.Data.BackedCandidates) != describeCandidates(b.Data.BackedCandidates) {
				t.Fatalf("candidate selection depends on arrival order:\n %s\n %s",
					describeCandidates(a.Data.BackedCandidates), describeCandidates(b.Data.BackedCandidates))
			}
		})
	}
}

// checkBitfieldInvariants compares with Polkadot's selection run naively
// over everything fed.
func checkBitfieldInvariants(t *testing.T, sc scenario, got []types.UncheckedSignedAvailabilityBitfield) {
	t.Helper()
	best := map[types.ValidatorIndex]*types.UncheckedSignedAvailabilityBitfield{}
	for _, d := range sc.feed {
		bf, ok := d.(*SignedBitfield)
		if !ok || int(bf.Bitfield.ValidatorIndex) >= sc.n || bf.Bitfield.Payload.Len != len(sc.cores) {
			continue
		}
		b := &bf.Bitfield
		if cur, ok := best[b.ValidatorIndex]; ok && cur.Payload.CountOnes() >= b.Payload.CountOnes() {
			continue
		}
		onFree := false
		for c := range sc.cores {
			onFree = onFree || (b.Payload.Get(c) && sc.cores[c].Kind != types.CoreOccupied)
		}
		if !onFree {
			best[b.ValidatorIndex] = b
		}
	}
	if len(got) != len(best) {
		t.Fatalf("%d bitfields selected, reference selects %d", len(got), len(best))
	}
	for i := range got {
		if i > 0 && got[i].ValidatorIndex <= got[i-1].ValidatorIndex {
			t.Fatal("bitfields not strictly ascending by validator")
		}
		w := best[got[i].ValidatorIndex]
		if w == nil || !w.Payload.Equal(got[i].Payload) || w.Signature != got[i].Signature {
			t.Fatalf("validator %d: selected bitfield is not the reference's", got[i].ValidatorIndex)
		}
	}
}

func checkCandidateInvariants(t *testing.T, sc scenario, h *harness, data *types.InherentData) {
	t.Helper()
	// Reference: which cores each para may fill.
	avail := make([]bool, len(sc.cores))
	for c, cs := range sc.cores {
		if cs.Kind != types.CoreOccupied {
			continue
		}
		a := cs.Occupied.Availability.Clone()
		for _, b := range data.Bitfields {
			if b.Payload.Get(c) && int(b.ValidatorIndex) < a.Len {
				a.Set(int(b.ValidatorIndex), true)
			}
		}
		avail[c] = a.CountOnes() >= a.Len-(a.Len-1)/3
	}
	free := map[types.ParaID]map[int]bool{}
	heads := map[types.ParaID]map[types.Hash]bool{} // heads of what stays on cores
	mark := func(p types.ParaID, c int) {
		if free[p] == nil {
			free[p] = map[int]bool{}
		}
		free[p][c] = true
	}
	for c, cs := range sc.cores {
		switch {
		case cs.Kind == types.CoreScheduled:
			mark(cs.Scheduled.ParaID, c)
		case cs.Kind == types.CoreOccupied:
			oc := cs.Occupied
			p := oc.CandidateDescriptor.ParaID
			timedOut := !avail[c] && oc.TimeOutAt <= building
			if !timedOut {
				if heads[p] == nil {
					heads[p] = map[types.Hash]bool{}
				}
				heads[p][oc.CandidateDescriptor.ParaHead] = true
			}
			if avail[c] && oc.NextUpOnAvailable != nil {
				mark(oc.NextUpOnAvailable.ParaID, c)
			}
			if timedOut && oc.NextUpOnTimeOut != nil {
				mark(oc.NextUpOnTimeOut.ParaID, c)
			}
		}
	}
	j := h.p.jobs[leafHash]
	perPara := map[types.ParaID][]*heldCandidate{}
	usedCores := map[int]bool{}
	seen := map[types.Hash]bool{}
	codes := 0
	for i := range data.BackedCandidates {
		bc := &data.BackedCandidates[i]
		hc := j.byHash[bc.Hash()]
		if hc == nil {
			t.Fatal("selected a candidate the job does not hold")
		}
		if seen[hc.hash] {
			t.Fatal("a candidate selected twice")
		}
		seen[hc.hash] = true
		if hc.relayParent != leafHash && hc.relayParent != olderLeaf {
			t.Fatalf("candidate with relay parent %s", hc.relayParent)
		}
		if hc.core >= 0 {
			if usedCores[hc.core] || !free[hc.para][hc.core] {
				t.Fatalf("para %d candidate on core %d: taken or not free for it", hc.para, hc.core)
			}
			usedCores[hc.core] = true
		}
		if hc.hasCode {
			codes++
		}
		prev := perPara[hc.para]
		if len(prev) > 0 {
			last := prev[len(prev)-1]
			if !hc.parentKnown || hc.parent != last.head {
				t.Fatalf("para %d: candidate %d does not build on the previous one", hc.para, len(prev))
			}
			if j.allowed[hc.relayParent] < j.allowed[last.relayParent] {
				t.Fatal("relay parent older than the parent candidate's")
			}
		} else if hs := heads[hc.para]; len(hs) > 0 && hc.parentKnown && !hs[hc.parent] {
			t.Fatalf("para %d: chain does not start on a candidate still on a core", hc.para)
		}
		perPara[hc.para] = append(prev, hc)
	}
	if codes > 1 {
		t.Fatalf("%d candidates with new validation code", codes)
	}
	total := 0
	for p, cs := range perPara {
		if len(cs) > len(free[p]) {
			t.Fatalf("para %d: %d candidates for %d free cores", p, len(cs), len(free[p]))
		}
		total += len(cs)
	}
	if total > len(sc.cores) {
		t.Fatal("more candidates than cores")
	}
}

// checkDisputeInvariants replays the dispute data through a naive model of
// the vote store and Polkadot's prioritized selection, and compares.
func checkDisputeInvariants(t *testing.T, sc scenario, h *harness, got []types.DisputeStatementSet) {
	t.Helper()
	type model struct {
		valid, invalid map[types.ValidatorIndex]types.DisputeStatementEntry
		misbehavior    bool
		concludedAt    time.Time
	}
	recs := map[DisputeKey]*model{}
	now := t0
	sm := sc.n - (sc.n-1)/3
	put := func(key DisputeKey, e types.DisputeStatementEntry) {
		m := recs[key]
		if m == nil {
			m = &model{valid: map[types.ValidatorIndex]types.DisputeStatementEntry{}, invalid: map[types.ValidatorIndex]types.DisputeStatementEntry{}}
			recs[key] = m
		}
		if int(e.ValidatorIndex) >= sc.n {
			return
		}
		side := m.invalid
		if e.Statement.Valid {
			side = m.valid
		}
		old, had := side[e.ValidatorIndex]
		if !had || (isBackingVote(&e.Statement) && !isBackingVote(&old.Statement)) {
			side[e.ValidatorIndex] = e
		}
		if m.concludedAt.IsZero() && (len(m.valid) >= sm || len(m.invalid) >= sm) {
			m.concludedAt = now
		}
	}
	for i, d := range sc.feed {
		now = now.Add(sc.times[i])
		switch v := d.(type) {
		case *DisputeStatements:
			for _, e := range v.Set.Statements {
				put(DisputeKey{v.Set.Session, v.Set.CandidateHash}, e)
			}
		case *MisbehaviorReport:
			rep := &v.Report
			if rep.Verify(fakeKey(fakeIDs(sc.n)[rep.ValidatorIndex])) != nil {
				continue
			}
			key := DisputeKey{rep.Session, rep.CandidateHash}
			for _, s := range []types.SignedDisputeStatement{rep.First, rep.Second} {
				put(key, types.DisputeStatementEntry{Statement: s.Statement, ValidatorIndex: rep.ValidatorIndex, Signature: s.Signature})
			}
			recs[key].misbehavior = true
		}
	}
	now = now.Add(DefaultPrePropose)
	type entry struct {
		key   DisputeKey
		part  int
		stmts []types.DisputeStatementEntry
	}
	var all []entry
	for key, m := range recs {
		oc, known := sc.onchain[key]
		countFor, countAgainst := 0, 0
		if known {
			countFor, countAgainst = oc.ValidatorsFor.CountOnes(), oc.ValidatorsAgainst.CountOnes()
		}
		voters := map[types.ValidatorIndex]bool{}
		for v := range m.valid {
			voters[v] = true
		}
		for v := range m.invalid {
			voters[v] = true
		}
		concluded := !m.concludedAt.IsZero()
		inactive := concluded && now.Sub(m.concludedAt) > DefaultActiveDisputeDuration
		ocConcluded := known && (oc.ConcludedAt != nil || countFor >= sm || countAgainst >= sm)
		// The runtime's filter_dispute_data, judged after import: the
		// on-chain voters count as participants.
		participants := maps.Clone(voters)
		if known {
			for v := 0; v < sc.n; v++ {
				if oc.ValidatorsFor.Get(v) || oc.ValidatorsAgainst.Get(v) {
					participants[types.ValidatorIndex(v)] = true
				}
			}
		}
		part := -1
		switch {
		case len(m.valid)+countFor == 0 || len(m.invalid)+countAgainst == 0:
		case len(participants) <= (sc.n-1)/3:
		case known && oc.ConcludedAt != nil && *oc.ConcludedAt+DefaultDisputePostConclusionPeriod < building:
		case m.misbehavior:
			part = 0
		case inactive && !known:
			part = 1
		case inactive && ocConcluded:
			part = 6
		case inactive:
			part = 2
		case !known:
			part = 3
		case ocConcluded:
			part = 5
		default:
			part = 4
		}
		if part < 0 || part == 6 {
			continue
		}
		var stmts []types.DisputeStatementEntry
		for _, side := range []map[types.ValidatorIndex]types.DisputeStatementEntry{m.valid, m.invalid} {
			var vs []types.DisputeStatementEntry
			for _, e := range side {
				if !known || worthKeepingModel(e, oc) {
					vs = append(vs, e)
				}
			}
			slices.SortFunc(vs, func(a, b types.DisputeStatementEntry) int { return int(a.ValidatorIndex) - int(b.ValidatorIndex) })
			stmts = append(stmts, vs...)
		}
		all = append(all, entry{key, part, stmts})
	}
	slices.SortFunc(all, func(a, b entry) int {
		if a.part != b.part {
			return a.part - b.part
		}
		return compareKeys(a.key, b.key)
	})
	want := map[DisputeKey][]types.DisputeStatementEntry{}
	total := 0
	for _, e := range all {
		if total+len(e.stmts) > sc.cap {
			break
		}
		if len(e.stmts) > 0 {
			want[e.key] = e.stmts
			total += len(e.stmts)
		}
	}

	gotTotal := 0
	for i, s := range got {
		key := DisputeKey{s.Session, s.CandidateHash}
		if i > 0 && compareKeys(DisputeKey{got[i-1].Session, got[i-1].CandidateHash}, key) >= 0 {
			t.Fatal("dispute sets not strictly sorted by (session, candidate)")
		}
		checkStatementOrder(t, s)
		w, ok := want[key]
		if !ok {
			t.Fatalf("dispute %v selected; the reference does not select it", key)
		}
		if fmt.Sprint(w) != fmt.Sprint(s.Statements) {
			t.Fatalf("dispute %v: statements differ from the reference (a dispute in part?)", key)
		}
		if oc, known := sc.onchain[key]; known {
			for _, st := range s.Statements {
				if !worthKeepingModel(st, oc) {
					t.Fatal("a vote the chain already has was sent")
				}
			}
		}
		gotTotal += len(s.Statements)
	}
	if len(got) != len(want) {
		t.Fatalf("%d disputes selected, reference selects %d", len(got), len(want))
	}
	if gotTotal > sc.cap {
		t.Fatalf("%d votes over the cap %d", gotTotal, sc.cap)
	}
}

// worthKeepingModel restates Polkadot's is_vote_worth_to_keep.
func worthKeepingModel(e types.DisputeStatementEntry, oc OnChainDispute) bool {
	if e.Statement.Valid && (e.Statement.Kind == types.ValidBackingSeconded || e.Statement.Kind == types.ValidBackingValid) {
		return true
	}
	f := oc.ValidatorsFor.Get(int(e.ValidatorIndex))
	a := oc.ValidatorsAgainst.Get(int(e.ValidatorIndex))
	if f && a {
		return false
	}
	if (e.Statement.Valid && a) || (!e.Statement.Valid && f) {
		return true
	}
	return !f && !a
}
