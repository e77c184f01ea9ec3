package testnet

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestInProcessInvalidCandidate runs --invalid-candidate end to end: the
// para's candidate built for block 4 is backed by two colluding backers,
// the other validators dispute it, and the runtime concludes it invalid,
// slashes and disables exactly its backers, and the para produces again.
// Node 6 also votes valid on it (--equivocate), which reaches the chain
// as a misbehaviour report joined into the dispute and gets it slashed
// for approving an invalid candidate. Only outcomes that do not depend on
// timing are asserted: the inclusion checks are not, since with groups
// of two the disabled backers leave the cores their group rotates onto
// unbacked until the session ends (block 6 here).
func TestInProcessInvalidCandidate(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cfg := Config{Nodes: 7, Paras: 2, Blocks: 12, Slot: time.Second, InProcess: true, SessionLength: 6,
		InvalidCandidates: []ParaAt{{Para: 2001, Block: 3}}, Equivocations: []NodeAt{{Node: 6, Block: 1}}}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.Pass && (c.Name == "invalid_concluded" || c.Name == "no_filtered" || c.Name == "blocks") {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if len(rep.InvalidParas) != 1 {
		t.Fatalf("invalid paras %+v, want one", rep.InvalidParas)
	}
	p := rep.InvalidParas[0]
	if p.Para != 2001 || !p.BackersSlashed || !p.BackersDisabled || p.IncludedAfter == 0 {
		t.Errorf("para 2001 after its dispute: %+v", p)
	}
	d := rep.Disputes
	if d.ConcludedInvalid != 1 || len(d.Backers) != 2 {
		t.Fatalf("disputes %+v: want one concluded invalid with two backers", d)
	}
	// Slashed: the backers (for backing) and the equivocator (for
	// approving); disabled: the backers only.
	wantSlashed := slices.Sorted(slices.Values(append(slices.Clone(d.Backers), types.ValidatorIndex(6))))
	if !slices.Equal(d.SlashedValidators, wantSlashed) {
		t.Errorf("slashed %v, want %v", d.SlashedValidators, wantSlashed)
	}
	backers := slices.Sorted(slices.Values(d.Backers))
	if !slices.Equal(d.Disabled, backers) {
		t.Errorf("disabled %v, want the backers %v", d.Disabled, backers)
	}
}
