package testnet

import (
	"reflect"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestCollationSharedAcrossCores: one collation asked for every core in
// turn (what a node's duties do at a leaf) builds exactly the candidates
// of fresh BuildCandidate calls, with elastic scaling and async backing,
// and skips exactly the cores whose group wanted refuses.
func TestCollationSharedAcrossCores(t *testing.T) {
	// 8 validators in 4 groups of 2; 3 paras on 5 cores, so that paras
	// 2000 and 2001 chain two candidates each.
	g, err := NewGenesis(8, 5, 3, 1000, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewKeys(g)
	if err != nil {
		t.Fatal(err)
	}
	var kps []*types.Keypair
	for _, uri := range g.ValidatorURIs {
		kp, _ := types.KeypairFromURI(uri)
		kps = append(kps, kp)
	}
	c := NewChain(g, keys)
	headers := emptyChain(t, g, c, kps, 4)
	mine := func(group []types.ValidatorIndex) bool { return slices.Contains(group, 3) }
	built, skipped := 0, 0
	for _, h := range headers {
		_, st, err := c.HeaderAndState(h.Hash())
		if err != nil {
			t.Fatal(err)
		}
		all, filtered := newCollation(g, &h, st), newCollation(g, &h, st)
		for core := range types.CoreIndex(g.Cores) {
			want, wantErr := BuildCandidate(g, &h, st, core)
			got, err := all.build(core, nil)
			if !reflect.DeepEqual(got, want) || (err == nil) != (wantErr == nil) {
				t.Fatalf("block %d core %d: shared collation built %+v (%v), BuildCandidate %+v (%v)", h.Number, core, got, err, want, wantErr)
			}
			got, err = filtered.build(core, mine)
			switch {
			case wantErr != nil:
				if err == nil {
					t.Fatalf("block %d core %d: filtered build without the error %v", h.Number, core, wantErr)
				}
			case mine(want.Group):
				if !reflect.DeepEqual(got, want) || err != nil {
					t.Fatalf("block %d core %d: filtered build %+v (%v), want %+v", h.Number, core, got, err, want)
				}
				built++
			default:
				if got != nil || err != nil {
					t.Fatalf("block %d core %d: group %v without validator 3 built %+v (%v)", h.Number, core, want.Group, got, err)
				}
				skipped++
			}
		}
	}
	if built == 0 || skipped == 0 {
		t.Fatalf("built %d, skipped %d: want both", built, skipped)
	}
}
