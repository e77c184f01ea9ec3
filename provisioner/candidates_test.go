package provisioner

import (
	"errors"
	"fmt"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The leaf is block 127, so the block under construction is 128.
const (
	leafNumber = 127
	building   = leafNumber + 1
)

var (
	leafHash  = testHash("leaf", leafNumber)
	olderLeaf = testHash("leaf", leafNumber-1)
)

type candidateCase struct {
	name      string
	n         int // validators; 10 when zero
	cores     []types.CoreState
	bitfields []*SignedBitfield
	cands     []candSpec
	want      []int // indices into cands, in the expected order
}

// runCandidateCase feeds the case to a job and checks the selected
// candidates and their order.
func runCandidateCase(t *testing.T, tc candidateCase) {
	t.Helper()
	n := tc.n
	if n == 0 {
		n = 10
	}
	h := newHarness(t, Config{})
	h.addSession(1, fakeIDs(n), 5)
	leaf := h.addLeaf(leafHash, leafNumber, 1, tc.cores, RelayParent{Hash: olderLeaf, Number: leafNumber - 1})
	h.activate(leaf)
	for _, bf := range tc.bitfields {
		h.mustProvide(leaf.Hash, bf)
	}
	for i, s := range tc.cands {
		if err := h.provide(leaf.Hash, makeCandidate(s)); err != nil {
			t.Fatalf("candidate %d (para %d): %v", i, s.para, err)
		}
	}
	got := h.inherent(leaf.Hash).BackedCandidates
	gotDesc := describeCandidates(got)
	var want []types.BackedCandidate
	for _, i := range tc.want {
		want = append(want, makeCandidate(tc.cands[i]).Candidate)
	}
	if wantDesc := describeCandidates(want); gotDesc != wantDesc {
		t.Fatalf("selected\n  %s\nwant\n  %s", gotDesc, wantDesc)
	}
}

func describeCandidates(cs []types.BackedCandidate) string {
	s := ""
	for i := range cs {
		d := &cs[i].Candidate.Descriptor
		s += fmt.Sprintf("[para %d head %x] ", d.ParaID, d.ParaHead[:3])
	}
	return s
}

// onePerParaCores is a core of every kind the selection distinguishes, each
// for its own para (the para is the core's index):
//
//	0 free                                  -
//	1 scheduled                             para 1
//	2 occupied, nothing next                -
//	3 occupied, next on available, not available
//	4 occupied, next on available, available  para 4
//	5 occupied, next on time-out, not timed out
//	6 occupied, next on time-out, timed out but available (available wins, nothing next on it)
//	7 occupied, next on time-out, timed out, not available  para 7
//	8 occupied, both next, available        para 8
//	9 occupied, both next, neither
//	10 occupied, both next, timed out       para 10
//	11 occupied by 11, next on available 12, available  para 12
func onePerParaCores(n int) []types.CoreState {
	return []types.CoreState{
		freeCore(),
		scheduled(1),
		occupied(2, n),
		occupied(3, n, nextOnAvailable(3)),
		occupied(4, n, nextOnAvailable(4), allAvailable()),
		occupied(5, n, nextOnTimeOut(5)),
		occupied(6, n, nextOnTimeOut(6), timeOutAt(building), allAvailable()),
		occupied(7, n, nextOnTimeOut(7), timeOutAt(building)),
		occupied(8, n, nextOnAvailable(8), nextOnTimeOut(8), allAvailable()),
		occupied(9, n, nextOnAvailable(9), nextOnTimeOut(9)),
		occupied(10, n, nextOnAvailable(10), nextOnTimeOut(10), timeOutAt(building)),
		occupied(11, n, nextOnAvailable(12), allAvailable()),
	}
}

// onePerParaCandidates offers a candidate for each para that has a core at
// the leaf, each building on its para's occupant.
func onePerParaCandidates(code ...types.ParaID) []candSpec {
	var out []candSpec
	for _, para := range []types.ParaID{1, 3, 4, 5, 6, 7, 8, 9, 10, 12} {
		s := v1(para, leafHash).at(1)
		for _, c := range code {
			if c == para {
				s = s.withCode()
			}
		}
		out = append(out, s)
	}
	return out
}

func TestCandidateSelectionOnePerPara(t *testing.T) {
	runCandidateCase(t, candidateCase{
		name:  "one core per para",
		cores: onePerParaCores(10),
		cands: onePerParaCandidates(),
		// paras 1, 4, 7, 8, 10, 12
		want: []int{0, 2, 5, 6, 8, 9},
	})
}

func TestCandidateSelectionCodeUpgrade(t *testing.T) {
	tests := []candidateCase{
		{
			// Paras 1, 4 and 8 each upgrade their code; only the first in
			// the block's order (ascending para id) keeps its candidate.
			name:  "at most one code upgrade per block",
			cores: onePerParaCores(10),
			cands: onePerParaCandidates(1, 4, 8),
			want:  []int{0, 5, 8, 9}, // paras 1, 7, 10, 12
		},
		{
			// A second upgrade inside a chain cuts the chain there: the
			// candidates after it build on it.
			name:  "a second upgrade cuts its para's chain",
			cores: []types.CoreState{scheduled(1), scheduled(2), scheduled(2), scheduled(2)},
			cands: []candSpec{
				v2(1, leafHash, 0).at(1).withCode(),
				v2(2, leafHash, 1).at(1),
				v2(2, leafHash, 2).at(2).withCode(),
				v2(2, leafHash, 3).at(3),
			},
			want: []int{0, 1},
		},
		{
			name:  "one upgrade inside a chain is fine",
			cores: []types.CoreState{scheduled(2), scheduled(2), scheduled(2)},
			cands: []candSpec{
				v2(2, leafHash, 0).at(1),
				v2(2, leafHash, 1).at(2).withCode(),
				v2(2, leafHash, 2).at(3),
			},
			want: []int{0, 1, 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runCandidateCase(t, tc) })
	}
}

func TestCandidateSelectionElasticScaling(t *testing.T) {
	const para = 100
	tests := []candidateCase{
		{
			name:  "a chain over three scheduled cores",
			cores: []types.CoreState{scheduled(para), scheduled(para), scheduled(para)},
			cands: []candSpec{
				v2(para, leafHash, 2).at(3),
				v2(para, leafHash, 0).at(1),
				v2(para, leafHash, 1).at(2),
			},
			want: []int{1, 2, 0},
		},
		{
			name:  "chained after the candidate still occupying a core",
			cores: []types.CoreState{occupied(para, 10), scheduled(para), scheduled(para)},
			cands: []candSpec{
				// builds on a head the para has moved past
				v2(para, leafHash, 1).onParent([]byte("stale head")).fork(7),
				v2(para, leafHash, 1).at(1),
				v2(para, leafHash, 2).at(2),
			},
			want: []int{1, 2},
		},
		{
			name: "chained after a candidate made available by this block",
			cores: []types.CoreState{
				occupied(para, 10, nextOnAvailable(para), allAvailable()),
				scheduled(para),
			},
			cands: []candSpec{
				v2(para, leafHash, 1).at(2),
				v2(para, leafHash, 0).at(1),
			},
			want: []int{1, 0},
		},
		{
			name:  "v1 candidates take the lowest free cores in chain order",
			cores: []types.CoreState{scheduled(7), scheduled(para), scheduled(para)},
			cands: []candSpec{
				v1(para, leafHash).at(2),
				v1(para, leafHash).at(1),
				v1(7, leafHash).at(1),
			},
			want: []int{2, 1, 0},
		},
		{
			name:  "chain order wins over core order",
			cores: []types.CoreState{scheduled(para), scheduled(7), scheduled(para)},
			cands: []candSpec{
				v2(para, leafHash, 0).at(2),
				v2(para, leafHash, 2).at(1),
				v2(7, leafHash, 1).at(1),
			},
			// the runtime's order: para 7, then para 100's chain in
			// chain order, whatever the cores.
			want: []int{2, 1, 0},
		},
		{
			name:  "no more candidates than cores",
			cores: []types.CoreState{scheduled(para), scheduled(para)},
			cands: []candSpec{
				v1(para, leafHash).at(1), v1(para, leafHash).at(2), v1(para, leafHash).at(3), v1(para, leafHash).at(4),
			},
			want: []int{0, 1},
		},
		{
			name:  "never two candidates for one core",
			cores: []types.CoreState{scheduled(para), scheduled(para)},
			cands: []candSpec{
				v2(para, leafHash, 0).at(1),
				v2(para, leafHash, 0).at(2),
			},
			want: []int{0},
		},
		{
			name:  "a child may not have an older relay parent than its parent",
			cores: []types.CoreState{scheduled(para), scheduled(para)},
			cands: []candSpec{
				v1(para, leafHash).at(1).rpNum(leafNumber),
				v1(para, olderLeaf).at(2).rpNum(leafNumber - 1),
			},
			want: []int{0},
		},
		{
			name:  "a candidate without validation data can start a chain",
			cores: []types.CoreState{scheduled(para), scheduled(para)},
			cands: []candSpec{
				v2(para, leafHash, 0),
				v2(para, leafHash, 1).at(2),
			},
			want: []int{0, 1},
		},
		{
			name:  "injected core index binds a v1 candidate",
			cores: []types.CoreState{scheduled(para), scheduled(para), scheduled(para)},
			cands: []candSpec{
				v1(para, leafHash).at(1).injected(2),
				v1(para, leafHash).at(2),
			},
			// the injected one keeps core 2, its child takes core 0; the
			// chain stays in chain order.
			want: []int{0, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runCandidateCase(t, tc) })
	}
}

func TestCandidateSelectionTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeOutAt types.BlockNumber
		freed     bool
	}{
		{leafNumber, true},     // timed out a block ago
		{building, true},       // times out with this block
		{building + 1, false},  // not yet
		{building + 50, false}, // far from it
	} {
		t.Run(fmt.Sprintf("time_out_at=%d", tc.timeOutAt), func(t *testing.T) {
			want := []int(nil)
			if tc.freed {
				want = []int{0}
			}
			runCandidateCase(t, candidateCase{
				cores: []types.CoreState{occupied(5, 10, nextOnTimeOut(6), timeOutAt(tc.timeOutAt))},
				cands: []candSpec{v1(6, leafHash).at(1)},
				want:  want,
			})
		})
	}
}

// TestCandidateSelectionAvailability checks the runtime's supermajority,
// n - (n-1)/3, with the bitfields' bits OR-ed into the chain's record.
func TestCandidateSelectionAvailability(t *testing.T) {
	const para = 3
	type bf = []*SignedBitfield
	tests := []struct {
		name      string
		n         int
		onChain   int // validators [0, onChain) already recorded
		bitfields bf
		available bool
	}{
		// n = 6: the runtime needs 5; the Rust node's 3*ones >= 2*n would take 4.
		{"n=6, 4 on chain", 6, 4, nil, false},
		{"n=6, 5 on chain", 6, 5, nil, true},
		{"n=6, 3 on chain + 2 new bitfields", 6, 3, bf{bitfield(3, "1"), bitfield(4, "1")}, true},
		{"n=6, 3 on chain + bitfields of validators already counted", 6, 3, bf{bitfield(0, "1"), bitfield(1, "1")}, false},
		{"n=6, 3 on chain + a zero bitfield", 6, 3, bf{bitfield(3, "1"), bitfield(4, "0")}, false},
		{"n=7, 4 of 7", 7, 4, nil, false},
		{"n=7, 5 of 7", 7, 5, nil, true},
		{"n=1, 1 of 1", 1, 0, bf{bitfield(0, "1")}, true},
		{"n=3, 2 of 3 (the node would say yes)", 3, 2, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []int
			if tc.available {
				want = []int{0}
			}
			runCandidateCase(t, candidateCase{
				n:         tc.n,
				cores:     []types.CoreState{occupied(para, tc.n, nextOnAvailable(para), availableBits(tc.onChain))},
				bitfields: tc.bitfields,
				cands:     []candSpec{v1(para, leafHash).at(1).group(min(5, tc.n))},
				want:      want,
			})
		})
	}
}

func TestCandidateRelayParent(t *testing.T) {
	t.Run("leaf and allowed olderLeaf are accepted", func(t *testing.T) {
		runCandidateCase(t, candidateCase{
			cores: []types.CoreState{scheduled(1), scheduled(2)},
			cands: []candSpec{v1(1, leafHash).at(1), v1(2, olderLeaf).at(1)},
			want:  []int{0, 1},
		})
	})
	t.Run("any other relay parent is refused on arrival", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.addSession(1, fakeIDs(10), 5)
		leaf := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(1)})
		h.activate(leaf)
		err := h.provide(leaf.Hash, makeCandidate(v1(1, testHash("elsewhere", 1)).at(1)))
		if !errors.Is(err, ErrInvalidData) || discarded(h, "backed_candidate", reasonRelayParent) != 1 {
			t.Fatalf("got %v, want a relay-parent discard", err)
		}
	})
	t.Run("selection skips a relay parent it is not told is allowed", func(t *testing.T) {
		c := heldFromSpec(t, v1(1, olderLeaf).at(1))
		got := selectCandidates(candidateInputs{
			cores:       []types.CoreState{scheduled(1)},
			blockNumber: building,
			allowed:     map[types.Hash]types.BlockNumber{leafHash: leafNumber},
			candidates:  []*heldCandidate{c},
		})
		if len(got) != 0 {
			t.Fatalf("selected %d candidates with a relay parent out of the allowed set", len(got))
		}
	})
}

// heldFromSpec runs a candidate through a job's arrival checks.
func heldFromSpec(t *testing.T, s candSpec) *heldCandidate {
	t.Helper()
	j := &job{leaf: ActivatedLeaf{Hash: leafHash, Number: leafNumber}}
	j.init(types.Header{}, []types.CoreState{scheduled(s.para), scheduled(s.para)},
		newSession(1, SessionInfo{Validators: fakeIDs(10), Groups: groupsOf(10, 5)}),
		[]RelayParent{{Hash: olderLeaf, Number: leafNumber - 1}}, BackingState{ParasUnknown: true})
	if r := j.addCandidate(makeCandidate(s), 4); r != "" {
		t.Fatalf("candidate refused: %s", r)
	}
	return j.candidates[0]
}

func TestCandidateArrivalChecks(t *testing.T) {
	cores := []types.CoreState{scheduled(1), scheduled(2), occupied(3, 10, nextOnTimeOut(4))}
	tests := []struct {
		name   string
		mutate func(*BackedCandidate)
		spec   candSpec
		reason string
	}{
		{name: "v2 core scheduled for another para", spec: v2(1, leafHash, 1).at(1), reason: reasonWrongCore},
		{name: "core out of range", spec: v2(1, leafHash, 9).at(1), reason: reasonWrongCore},
		{name: "v2 core and injected core disagree", spec: v2(1, leafHash, 0).at(1).injected(1), reason: reasonCoreMismatch},
		{name: "para without a core", spec: v1(9, leafHash).at(1), reason: reasonNoCore},
		{name: "para of the occupant itself", spec: v1(3, leafHash).at(1), reason: reasonNoCore},
		{name: "next on time-out para is fine", spec: v1(4, leafHash).at(1)},
		{name: "votes do not match the bits", spec: v1(1, leafHash).at(1), reason: reasonMalformed,
			mutate: func(b *BackedCandidate) { b.Candidate.ValidityVotes = b.Candidate.ValidityVotes[:1] }},
		{name: "no votes", spec: v1(1, leafHash).at(1), reason: reasonMalformed,
			mutate: func(b *BackedCandidate) {
				b.Candidate.ValidityVotes = nil
				b.Candidate.ValidatorIndices = types.NewBitVec(5)
			}},
		{name: "bits for no group size", spec: v1(1, leafHash).at(1), reason: reasonMalformed,
			mutate: func(b *BackedCandidate) { b.Candidate.ValidatorIndices = types.NewBitVec(3) }},
		{name: "bit vector shorter than its length", spec: v1(1, leafHash).at(1), reason: reasonMalformed,
			mutate: func(b *BackedCandidate) { b.Candidate.ValidatorIndices.Bytes = nil }},
		{name: "head data does not match para_head", spec: v1(1, leafHash).at(1), reason: reasonHeadMismatch,
			mutate: func(b *BackedCandidate) { b.Candidate.Candidate.Commitments.HeadData = []byte("other") }},
		{name: "validation data does not match the descriptor", spec: v1(1, leafHash).at(1), reason: reasonValidationData,
			mutate: func(b *BackedCandidate) { b.ValidationData.MaxPoVSize++ }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			leaf := h.addLeaf(leafHash, leafNumber, 1, cores)
			h.activate(leaf)
			c := makeCandidate(tc.spec)
			if tc.mutate != nil {
				tc.mutate(c)
			}
			err := h.provide(leaf.Hash, c)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidData) || discarded(h, "backed_candidate", tc.reason) != 1 {
				t.Fatalf("got %v, want discard %q", err, tc.reason)
			}
		})
	}
}
