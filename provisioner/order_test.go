package provisioner

import (
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestCandidateOrderIsTheRuntimes checks the order of the backed candidates
// where core order and the runtime's order disagree. The runtime groups the
// candidates by para id in a BTreeMap and rebuilds the list from it, and
// since 2026 enter refuses an inherent that create_inherent would have
// changed; so the inherent must list ascending para ids, each para's chain
// in chain order, whatever cores they sit on.
func TestCandidateOrderIsTheRuntimes(t *testing.T) {
	tests := []candidateCase{
		{
			name:  "paras on descending cores come out ascending",
			cores: []types.CoreState{scheduled(300), scheduled(200), scheduled(100)},
			cands: []candSpec{
				v2(300, leafHash, 0).at(1),
				v2(200, leafHash, 1).at(1),
				v2(100, leafHash, 2).at(1),
			},
			want: []int{2, 1, 0},
		},
		{
			name:  "injected cores do not change the order",
			cores: []types.CoreState{scheduled(30), scheduled(10), scheduled(20)},
			cands: []candSpec{
				v1(30, leafHash).at(1).injected(0),
				v1(10, leafHash).at(1).injected(1),
				v1(20, leafHash).at(1).injected(2),
			},
			want: []int{1, 2, 0},
		},
		{
			// Para 50's chain sits on cores 2 then 0, para 20's on 3 then
			// 1: core order would interleave them as 50, 20, 50, 20 and
			// put each chain's second candidate first.
			name:  "chains stay whole and in chain order",
			cores: []types.CoreState{scheduled(50), scheduled(20), scheduled(50), scheduled(20)},
			cands: []candSpec{
				v2(50, leafHash, 0).at(2),
				v2(20, leafHash, 1).at(2),
				v2(50, leafHash, 2).at(1),
				v2(20, leafHash, 3).at(1),
			},
			want: []int{3, 1, 2, 0},
		},
		{
			// With the runtime's order, the code upgrade that stays is the
			// one of the lowest para id, not the one on the lowest core.
			name:  "the lowest para keeps its code upgrade",
			cores: []types.CoreState{scheduled(9), scheduled(3), scheduled(5)},
			cands: []candSpec{
				v2(9, leafHash, 0).at(1).withCode(),
				v2(3, leafHash, 1).at(1).withCode(),
				v2(5, leafHash, 2).at(1),
			},
			want: []int{1, 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runCandidateCase(t, tc) })
	}
}
