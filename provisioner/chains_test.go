package provisioner

import (
	"errors"
	"fmt"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The tests of this file run the provisioner with a chain view that knows
// the paras' backing constraints, as a live chain's does: chains start at
// the required parent, are bounded by the claim queue, and so on.

const chainPara = 100

// knownState is a backing state for chainPara: its head on chain is
// headData(chainPara, 0) (or required), nothing pending, claims claim-queue
// entries, Polkadot's limits, the code hash makeCandidate uses.
func knownState(claims int, mod ...func(*BackingState, *ParaConstraints)) *BackingState {
	cons := ParaConstraints{
		RequiredParent:       headData(chainPara, 0),
		MinRelayParentNumber: leafNumber - 1,
		MaxHeadDataSize:      1024,
		MaxCodeSize:          1024,
		ValidationCodeHash:   testHash("code", 0),
	}
	bs := &BackingState{ClaimQueue: map[types.CoreIndex][]types.ParaID{}, MinimumBackingVotes: 2}
	for i := range claims {
		bs.ClaimQueue[types.CoreIndex(i)] = append(bs.ClaimQueue[types.CoreIndex(i)], chainPara)
	}
	for _, m := range mod {
		m(bs, &cons)
	}
	bs.Paras = map[types.ParaID]ParaConstraints{chainPara: cons}
	return bs
}

// kc is a candidate of chainPara anchored to the leaf, with its validation
// data, producing step s on step s-1.
func kc(core, step int) candSpec {
	return v2(chainPara, leafHash, core).at(step).rpNum(leafNumber)
}

type knownCase struct {
	name      string
	cores     []types.CoreState
	bitfields []*SignedBitfield
	state     *BackingState
	groupSize int // of the session's groups; 5 when zero
	perDepth  int
	cands     []candSpec
	refused   map[int]string // candidates refused on arrival, with the reason
	want      []int
	wantVotes []int // when set, the votes each selected candidate keeps
}

func runKnownCase(t *testing.T, tc knownCase) (*harness, []types.BackedCandidate) {
	t.Helper()
	h := newHarness(t, Config{MaxCandidatesPerDepth: tc.perDepth})
	g := tc.groupSize
	if g == 0 {
		g = 5
	}
	h.addSession(1, fakeIDs(10), g)
	leaf := h.addLeaf(leafHash, leafNumber, 1, tc.cores, RelayParent{Hash: olderLeaf, Number: leafNumber - 1})
	h.chain.mu.Lock()
	h.chain.leaves[leafHash].backing = tc.state
	h.chain.mu.Unlock()
	h.activate(leaf)
	for _, bf := range tc.bitfields {
		h.mustProvide(leaf.Hash, bf)
	}
	for i, s := range tc.cands {
		err := h.provide(leaf.Hash, makeCandidate(s))
		want := tc.refused[i]
		switch {
		case want == "" && err != nil:
			t.Fatalf("candidate %d refused: %v", i, err)
		case want != "" && (!errors.Is(err, ErrInvalidData) || discarded(h, "backed_candidate", want) < 1):
			t.Fatalf("candidate %d: got %v, want discard %q", i, err, want)
		}
	}
	got := h.inherent(leaf.Hash).BackedCandidates
	var want []types.BackedCandidate
	for _, i := range tc.want {
		want = append(want, makeCandidate(tc.cands[i]).Candidate)
	}
	if g, w := describeCandidates(got), describeCandidates(want); g != w {
		t.Fatalf("selected\n  %s\nwant\n  %s", g, w)
	}
	for i, n := range tc.wantVotes {
		// kc candidates carry no injected core: every bit is a vote.
		if len(got[i].ValidityVotes) != n || got[i].ValidatorIndices.CountOnes() != n {
			t.Fatalf("candidate %d keeps %d votes (%d bits), want %d", i, len(got[i].ValidityVotes), got[i].ValidatorIndices.CountOnes(), n)
		}
	}
	return h, got
}

func TestChainStartsAtRequiredParent(t *testing.T) {
	two := []types.CoreState{scheduled(chainPara), scheduled(chainPara)}
	for _, tc := range []knownCase{
		{
			name:  "on the head on chain, then on the previous candidate",
			cores: two, state: knownState(2),
			cands: []candSpec{kc(1, 2), kc(0, 1)},
			want:  []int{1, 0},
		},
		{
			// The para moved on to step 1: a candidate on step 0 is a
			// stale fork, kept unconnected, never a start.
			name:  "not on a head the para has moved past",
			cores: two,
			state: knownState(2, func(_ *BackingState, c *ParaConstraints) { c.RequiredParent = headData(chainPara, 1) }),
			cands: []candSpec{kc(0, 1), kc(1, 2)},
			want:  []int{1},
		},
		{
			// Unknown constraints would let any unconnected candidate
			// start a chain; known ones do not.
			name:  "not on a head nobody produces",
			cores: two, state: knownState(2),
			cands: []candSpec{kc(0, 1).onParent([]byte("elsewhere")).fork(3)},
			want:  nil,
		},
		{
			name: "after the last candidate pending availability",
			cores: []types.CoreState{
				occupied(chainPara, 10, occupant(testHash("pending", 1), headData(chainPara, 1)), nextOnAvailable(chainPara), allAvailable()),
				scheduled(chainPara),
			},
			state: knownState(2, func(_ *BackingState, c *ParaConstraints) {
				c.PendingAvailability = []PendingCandidate{{CandidateHash: testHash("pending", 1),
					HeadHash: types.Blake2_256(headData(chainPara, 1)), RelayParentNumber: leafNumber - 1}}
			}),
			// kc(.., 1) forks the pending candidate: never a start.
			cands: []candSpec{kc(0, 1).fork(5), kc(0, 2), kc(1, 3)},
			want:  []int{1, 2},
		},
		{
			name: "nothing after a pending candidate this block times out",
			cores: []types.CoreState{
				occupied(chainPara, 10, occupant(testHash("pending", 1), headData(chainPara, 1)),
					nextOnTimeOut(chainPara), timeOutAt(building)),
				scheduled(chainPara),
			},
			state: knownState(2, func(_ *BackingState, c *ParaConstraints) {
				c.PendingAvailability = []PendingCandidate{{CandidateHash: testHash("pending", 1),
					HeadHash: types.Blake2_256(headData(chainPara, 1)), RelayParentNumber: leafNumber - 1}}
			}),
			cands: []candSpec{kc(0, 2)},
			want:  nil,
		},
		{
			// Para 7 holds the claim (so its UMP check passes) but has
			// no backing constraints.
			name:  "a para the chain view does not list gets nothing",
			cores: []types.CoreState{scheduled(7)},
			state: knownState(0, func(bs *BackingState, _ *ParaConstraints) {
				bs.ClaimQueue[0] = []types.ParaID{7}
			}),
			cands:   []candSpec{v2(7, leafHash, 0).at(1).rpNum(leafNumber)},
			refused: map[int]string{0: reasonNoCore},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runKnownCase(t, tc) })
	}
}

func TestChainLengthBound(t *testing.T) {
	three := []types.CoreState{scheduled(chainPara), scheduled(chainPara), scheduled(chainPara)}
	for _, tc := range []knownCase{
		{name: "three claims, three cores", cores: three, state: knownState(3),
			cands: []candSpec{kc(0, 1), kc(1, 2), kc(2, 3)}, want: []int{0, 1, 2}},
		// Two claims in the claim queue: the third candidate is deeper
		// than any block soon can take and is not even kept. (It names
		// core 0, one of the para's claimed cores: on core 2, which the
		// claim queue does not give the para, the UMP check refuses it.)
		{name: "two claims, three cores", cores: three, state: knownState(2),
			cands: []candSpec{kc(0, 1), kc(1, 2), kc(0, 3)}, refused: map[int]string{2: reasonTooDeep}, want: []int{0, 1}},
		{name: "two claims, three cores, a candidate on the unclaimed core", cores: three, state: knownState(2),
			cands: []candSpec{kc(0, 1), kc(1, 2), kc(2, 3)}, refused: map[int]string{2: reasonUMPInvalidCore}, want: []int{0, 1}},
		{name: "three claims, one free core", cores: []types.CoreState{scheduled(chainPara), freeCore(), freeCore()}, state: knownState(3),
			cands: []candSpec{kc(0, 1), v1(chainPara, leafHash).at(2).rpNum(leafNumber)}, want: []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) { runKnownCase(t, tc) })
	}
}

func TestChainRelayParentsNeverMoveBackwards(t *testing.T) {
	two := []types.CoreState{scheduled(chainPara), scheduled(chainPara)}
	older := func(s candSpec) candSpec { s.relayParent = olderLeaf; return s.rpNum(leafNumber - 1) }
	for _, tc := range []knownCase{
		{name: "older then newer", cores: two, state: knownState(2),
			cands: []candSpec{older(kc(0, 1)), kc(1, 2)}, want: []int{0, 1}},
		{name: "newer then older", cores: two, state: knownState(2),
			cands: []candSpec{kc(0, 1), older(kc(1, 2))}, want: []int{0}},
		{name: "older than the minimum", cores: two,
			state:   knownState(2, func(_ *BackingState, c *ParaConstraints) { c.MinRelayParentNumber = leafNumber }),
			cands:   []candSpec{older(kc(0, 1)), kc(1, 2)},
			refused: map[int]string{0: reasonOldRelayParent}, want: nil},
		{name: "older than the pending candidate's", cores: []types.CoreState{
			occupied(chainPara, 10, occupant(testHash("pending", 1), headData(chainPara, 1)), nextOnAvailable(chainPara), allAvailable()),
			scheduled(chainPara)},
			state: knownState(2, func(_ *BackingState, c *ParaConstraints) {
				c.PendingAvailability = []PendingCandidate{{CandidateHash: testHash("pending", 1),
					HeadHash: types.Blake2_256(headData(chainPara, 1)), RelayParentNumber: leafNumber}}
			}),
			cands:   []candSpec{older(kc(0, 2)), kc(1, 2).fork(4).onParent(headData(chainPara, 1))},
			refused: map[int]string{0: reasonOldRelayParent}, want: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) { runKnownCase(t, tc) })
	}
}

// TestChainForkChoice: at a fork the lower candidate hash wins, even when
// the other fork has a child (prospective-parachains' fork_selection_rule;
// the chain is built greedily, not as the longest).
func TestChainForkChoice(t *testing.T) {
	two := []types.CoreState{scheduled(chainPara), scheduled(chainPara)}
	a, b := kc(0, 1).fork(1), kc(0, 1).fork(2)
	ha, hb := makeCandidate(a).Candidate.Hash(), makeCandidate(b).Candidate.Hash()
	low, high := 0, 1
	if hashLess(hb, ha) {
		low, high = 1, 0
	}
	forks := []candSpec{a, b}
	childOf := func(i int) candSpec {
		return kc(1, 2).onParent(makeCandidate(forks[i]).Candidate.Candidate.Commitments.HeadData)
	}
	for _, tc := range []knownCase{
		{name: "the lower hash, alone", cores: two, state: knownState(2),
			cands: []candSpec{a, b}, want: []int{low}},
		{name: "the lower hash with its child", cores: two, state: knownState(2),
			cands: []candSpec{a, b, childOf(low)}, want: []int{low, 2}},
		{name: "the lower hash even when only the other has a child", cores: two, state: knownState(2),
			cands: []candSpec{a, b, childOf(high)}, want: []int{low}},
	} {
		t.Run(tc.name, func(t *testing.T) { runKnownCase(t, tc) })
	}
}

func TestChainBackingVotes(t *testing.T) {
	two := []types.CoreState{scheduled(chainPara), scheduled(chainPara)}
	disabled := func(mbv int, vs ...types.ValidatorIndex) *BackingState {
		return knownState(2, func(bs *BackingState, _ *ParaConstraints) {
			bs.Disabled, bs.MinimumBackingVotes = vs, mbv
		})
	}
	for _, tc := range []knownCase{
		// Groups of 5: core 0 is backed by validators 0..4, core 1 by
		// 5..9 (no rotation); each candidate has the votes of its group's
		// first two members.
		{name: "no disabled validator", cores: two, state: disabled(2),
			cands: []candSpec{kc(0, 1), kc(1, 2)}, want: []int{0, 1}, wantVotes: []int{2, 2}},
		{name: "a disabled backer's vote is stripped", cores: two, state: disabled(1, 1),
			cands: []candSpec{kc(0, 1), kc(1, 2)}, want: []int{0, 1}, wantVotes: []int{1, 2}},
		{name: "left under the minimum: dropped with its descendants", cores: two, state: disabled(2, 0),
			cands: []candSpec{kc(0, 1), kc(1, 2)}, want: nil},
		{name: "the descendant's backer disabled: only it goes", cores: two, state: disabled(2, 6),
			cands: []candSpec{kc(0, 1), kc(1, 2)}, want: []int{0}},
		{name: "disabled validators of other groups change nothing", cores: two, state: disabled(2, 2, 3, 7),
			cands: []candSpec{kc(0, 1), kc(1, 2)}, want: []int{0, 1}, wantVotes: []int{2, 2}},
		{name: "minimum_backing_votes above the votes", cores: two, state: disabled(3),
			cands: []candSpec{kc(0, 1)}, want: nil},
		// Groups of 2: min(group size 2, minimum 3) = 2 votes suffice.
		{name: "the minimum is capped at the group size", cores: two, state: disabled(3), groupSize: 2,
			cands: []candSpec{kc(0, 1).group(2)}, want: []int{0}},
		{name: "group rotation picks the group at relay_parent_number+1", cores: two,
			// One rotation per block since block 0: at block 128 core 0 is
			// served by group (0+128)%5 = 3 of groups of 2: validators 6, 7.
			state: knownState(2, func(bs *BackingState, _ *ParaConstraints) {
				bs.Disabled, bs.MinimumBackingVotes, bs.Rotation = []types.ValidatorIndex{7}, 2, GroupRotation{Frequency: 1}
			}),
			groupSize: 2,
			cands:     []candSpec{kc(0, 1).group(2)}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) { runKnownCase(t, tc) })
	}
}

func TestChainArrivalConstraints(t *testing.T) {
	one := []types.CoreState{scheduled(chainPara)}
	for _, tc := range []struct {
		name   string
		state  *BackingState
		mutate func(*BackedCandidate)
		reason string
	}{
		{"head data over max_head_data_size", knownState(1, func(_ *BackingState, c *ParaConstraints) { c.MaxHeadDataSize = 4 }), nil, reasonHeadTooLarge},
		{"code over max_code_size", knownState(1, func(_ *BackingState, c *ParaConstraints) { c.MaxCodeSize = 4 }),
			func(b *BackedCandidate) {
				code := []byte("a large code")
				b.Candidate.Candidate.Commitments.NewValidationCode = &code
			}, reasonCodeTooLarge},
		{"another validation code hash", knownState(1, func(_ *BackingState, c *ParaConstraints) { c.ValidationCodeHash = types.Hash{9} }), nil, reasonCodeHash},
		{"no validation data", knownState(1), func(b *BackedCandidate) { b.ValidationData = nil }, reasonNoValidationData},
		{"validation data of another relay-parent number", knownState(1), func(b *BackedCandidate) {
			b.ValidationData.RelayParentNumber = leafNumber - 5
			b.Candidate.Candidate.Descriptor.PersistedValidationDataHash = b.ValidationData.Hash()
		}, reasonValidationData},
		// The runtime's parse_ump_signals refuses it first: the claim
		// queue at its relay parent assigns the para no core.
		{"a para outside the claim queue", knownState(0), nil, reasonUMPNoAssignment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			leaf := h.addLeaf(leafHash, leafNumber, 1, one)
			h.chain.leaves[leafHash].backing = tc.state
			h.activate(leaf)
			c := makeCandidate(kc(0, 1))
			if tc.mutate != nil {
				tc.mutate(c)
			}
			if err := h.provide(leafHash, c); !errors.Is(err, ErrInvalidData) || discarded(h, "backed_candidate", tc.reason) != 1 {
				t.Fatalf("got %v, want discard %q", err, tc.reason)
			}
		})
	}
}

// TestChainMemoryBound: per para, MaxCandidatesPerDepth forks at each
// depth, evicting the highest hash; unconnected candidates have their own
// room, so a flood of them never keeps a connected one out, and what
// arrives first has no advantage. (This replaces the first-come cap of
// MaxCandidatesPerCore, which a flood of forks could fill.)
func TestChainMemoryBound(t *testing.T) {
	two := []types.CoreState{scheduled(chainPara), scheduled(chainPara)}
	forks := make([]candSpec, 5)
	for i := range forks {
		forks[i] = kc(0, 1).fork(10 + i)
	}
	order := sortByHash(forks) // indices of forks, lowest hash first
	t.Run("a full depth keeps the lowest hashes", func(t *testing.T) {
		h, _ := runKnownCase(t, knownCase{cores: two, state: knownState(2), perDepth: 2,
			// Fed highest hash first: each lower one evicts.
			cands: []candSpec{forks[order[4]], forks[order[3]], forks[order[2]], forks[order[1]], forks[order[0]]},
			want:  []int{4}})
		if n := len(h.p.jobs[leafHash].candidates); n != 2 {
			t.Fatalf("%d candidates kept, want 2", n)
		}
	})
	t.Run("a higher hash than all kept is refused", func(t *testing.T) {
		runKnownCase(t, knownCase{cores: two, state: knownState(2), perDepth: 2,
			cands:   []candSpec{forks[order[0]], forks[order[1]], forks[order[2]]},
			refused: map[int]string{2: reasonParaFull}, want: []int{0}})
	})
	t.Run("an evicted fork takes its descendants", func(t *testing.T) {
		child := kc(1, 2).onParent(makeCandidate(forks[order[1]]).Candidate.Candidate.Commitments.HeadData)
		h, _ := runKnownCase(t, knownCase{cores: two, state: knownState(2), perDepth: 1,
			cands: []candSpec{forks[order[1]], child, forks[order[0]]},
			want:  []int{2}})
		if n := len(h.p.jobs[leafHash].candidates); n != 1 {
			t.Fatalf("%d candidates kept, want 1 (the child went with its parent)", n)
		}
	})
	t.Run("unconnected junk does not keep the honest candidate out", func(t *testing.T) {
		// Room for perDepth x depth cap = 2 x 2 unconnected candidates,
		// filled before the honest one arrives.
		var cands []candSpec
		for i := range 4 {
			cands = append(cands, kc(0, 1).onParent([]byte(fmt.Sprintf("junk %d", i))).fork(100+i))
		}
		cands = append(cands, kc(0, 1))
		runKnownCase(t, knownCase{cores: two, state: knownState(2), perDepth: 2, cands: cands, want: []int{4}})
	})
	t.Run("a child arriving before its parent joins the chain", func(t *testing.T) {
		runKnownCase(t, knownCase{cores: two, state: knownState(2), perDepth: 1,
			cands: []candSpec{kc(1, 2), kc(0, 1)}, want: []int{1, 0}})
	})
}

// sortByHash returns the indices of specs in ascending candidate hash.
func sortByHash(specs []candSpec) []int {
	idx := make([]int, len(specs))
	for i := range idx {
		idx[i] = i
	}
	for i := range idx {
		for k := i + 1; k < len(idx); k++ {
			if hashLess(makeCandidate(specs[idx[k]]).Candidate.Hash(), makeCandidate(specs[idx[i]]).Candidate.Hash()) {
				idx[i], idx[k] = idx[k], idx[i]
			}
		}
	}
	return idx
}
