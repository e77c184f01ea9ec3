package testnet

import (
	"maps"
	"testing"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// TestCollatorChainThroughSessions drives the runtime without a network:
// each block carries every validator's AvailabilityBitfield of its parent
// and, per core, the collator's candidate backed by its whole group. The
// collator's relay parents, parent heads, code hashes, core selectors and
// backing contexts must satisfy create_inherent exactly (nothing filtered)
// except in block 9, which buffers the session change of block 10 and
// backs nothing; and enter must accept what it built.
func TestCollatorChainThroughSessions(t *testing.T) {
	g, _, kps := chainFixture(t)
	rt := g.Runtime()
	want := []struct {
		backed, included int
		filtered         map[string]int
		session          types.SessionIndex
	}{
		1: {2, 0, nil, 1}, 2: {2, 2, nil, 1}, 3: {2, 2, nil, 1}, 4: {2, 2, nil, 1}, 5: {2, 2, nil, 1},
		6: {2, 2, nil, 1}, 7: {2, 2, nil, 1}, 8: {2, 2, nil, 1},
		9:  {0, 2, map[string]int{runtime.CandidateSessionChange: 2}, 1},
		10: {2, 0, nil, 2}, 11: {2, 2, nil, 2}, 12: {2, 2, nil, 2}, 13: {2, 2, nil, 2},
	}
	h := g.GenesisHeader()
	st := g.genesisState()
	older := 0
	for n := 1; n < len(want); n++ {
		inh := &types.InherentData{ParentHeader: h}
		ctx := types.SigningContext{SessionIndex: rt.SessionIndexForChild(st), ParentHash: h.Hash()}
		for v, kp := range kps {
			inh.Bitfields = append(inh.Bitfields, types.SignBitfield(kp, AvailabilityBitfield(g, st), types.ValidatorIndex(v), ctx))
		}
		for core := range g.Cores {
			bc := backedAt(t, g, kps, &h, st, types.CoreIndex(core))
			inh.BackedCandidates = append(inh.BackedCandidates, bc)
		}
		kept, _, out, err := Sanitize(g, st, &h, inh)
		if err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
		next, res, err := Apply(g, st, &h, kept)
		if err != nil {
			t.Fatalf("block %d: enter of the created inherent: %v", n, err)
		}
		w := want[n]
		filtered := out.Filtered
		if len(filtered) == 0 {
			filtered = nil
		}
		if len(res.Backed) != w.backed || len(res.Included) != w.included || !maps.Equal(filtered, w.filtered) || next.Session != w.session {
			t.Errorf("block %d: backed %d included %d filtered %v session %d; want %d %d %v %d",
				n, len(res.Backed), len(res.Included), out.Filtered, next.Session, w.backed, w.included, w.filtered, w.session)
		}
		for _, b := range backedInfo(next, res) {
			if int(b.RelayParentNumber)+1 < n {
				older++
			}
		}
		h = types.Header{ParentHash: h.Hash(), Number: types.BlockNumber(n), StateRoot: next.Root()}
		st = next
	}
	// Lookahead 3 lets the collators anchor to older relay parents: some
	// must, or the chain is not exercising async backing.
	if older == 0 {
		t.Error("no candidate used a relay parent older than its block's parent")
	}
}
