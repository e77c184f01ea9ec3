package testnet

import (
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestPublishesBacking: a node gossips its votes for a candidate only when
// it hosts one of the group's first minimum-backing-votes + 1 backers (3
// with the default of 2); for a candidate the checkers find invalid only
// the first minimum-backing-votes positions back it at all.
func TestPublishesBacking(t *testing.T) {
	g, err := NewGenesis(12, 2, 2, 1000, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.rt.MinimumBackingVotes(); got != 2 {
		t.Fatalf("minimum backing votes %d, the cases assume 2", got)
	}
	group := []types.ValidatorIndex{7, 3, 9, 1, 4}
	valid := &Candidate{Group: group}
	valid.Receipt.Descriptor.ParaID = 2000
	valid.Receipt.Descriptor.PovHash = povHash(2000, valid.Receipt.Descriptor.ParaHead, true)
	invalid := &Candidate{Group: group}
	invalid.Receipt.Descriptor.ParaID = 2000
	cases := []struct {
		name   string
		cand   *Candidate
		hosted []types.ValidatorIndex
		want   bool
	}{
		{"hosts the seconder", valid, []types.ValidatorIndex{7}, true},
		{"hosts the third backer", valid, []types.ValidatorIndex{9}, true},
		{"hosts only the fourth and fifth", valid, []types.ValidatorIndex{1, 4}, false},
		{"hosts none of the group", valid, []types.ValidatorIndex{0, 2, 5}, false},
		{"hosts the fifth and the second", valid, []types.ValidatorIndex{4, 3}, true},
		{"invalid: hosts the second backer", invalid, []types.ValidatorIndex{3}, true},
		{"invalid: the third does not back", invalid, []types.ValidatorIndex{9}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kp := &types.Keypair{}
			hosted := func(v types.ValidatorIndex) *types.Keypair {
				for _, h := range tc.hosted {
					if h == v {
						return kp
					}
				}
				return nil
			}
			if got := publishesBacking(g, tc.cand, hosted); got != tc.want {
				t.Fatalf("publishes %v, want %v", got, tc.want)
			}
		})
	}
}
