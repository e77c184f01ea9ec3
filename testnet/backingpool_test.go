package testnet

import (
	"fmt"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// busyChain builds n blocks on genesis, each carrying every validator's
// availability bitfield and a fully backed candidate per core, so that
// every block leaves each para a new head pending availability.
func busyChain(t *testing.T, g *Genesis, kps []*types.Keypair, n int) []*Block {
	t.Helper()
	parent := g.GenesisHeader()
	st := g.genesisState()
	var blocks []*Block
	for slot := uint64(1); slot <= uint64(n); slot++ {
		inh := &types.InherentData{ParentHeader: parent}
		ctx := types.SigningContext{SessionIndex: g.rt.SessionIndexForChild(st), ParentHash: parent.Hash()}
		for v, kp := range kps {
			inh.Bitfields = append(inh.Bitfields, types.SignBitfield(kp, AvailabilityBitfield(g, st), types.ValidatorIndex(v), ctx))
		}
		for core := range g.Cores {
			inh.BackedCandidates = append(inh.BackedCandidates, backedAt(t, g, kps, &parent, st, types.CoreIndex(core)))
		}
		kept, next, _, err := Sanitize(g, st, &parent, inh)
		if err != nil {
			t.Fatal(err)
		}
		b := BuildBlock(kps[g.SlotAuthor(slot)], g.SlotAuthor(slot), slot, &parent, kept, next, 0, false)
		blocks = append(blocks, b)
		parent, st = b.Header, next
	}
	return blocks
}

// TestBackingPoolWaitsForLeaf: a node can get a candidate's backing votes
// before it has imported the leaf the collator built it on (gossip
// outruns the block's announcement and import, and the relay parent, an
// older block, is known already). The candidate builds on a head only
// that leaf makes pending, so its validation data cannot be found yet:
// the pool must keep it and feed it once the leaf is imported (resolve),
// exactly once and with the right validation data, instead of feeding it
// without validation data (which the provisioner discards for good) and
// never again. Under a junk flood a node's imports lag its peers' by tens
// of milliseconds, and a block author that lost a candidate this way
// backed one para fewer.
func TestBackingPoolWaitsForLeaf(t *testing.T) {
	g, keys, kps := chainFixture(t)
	const height = 6
	blocks := busyChain(t, g, kps, height)

	// A candidate built at leaf L on a relay parent below L, and its
	// single-vote messages (one per backer, as duties gossip them).
	type built struct {
		leaf   int
		cand   *Candidate
		single []types.BackedCandidate
	}
	ref := NewChain(g, keys)
	for _, b := range blocks {
		if _, err := ref.Import(b); err != nil {
			t.Fatal(err)
		}
	}
	var cands []built
	for l := 2; l <= height; l++ {
		h, st, err := ref.HeaderAndState(blocks[l-1].Header.Hash())
		if err != nil {
			t.Fatal(err)
		}
		for core := range types.CoreIndex(g.Cores) {
			cand, err := BuildCandidate(g, &h, st, core)
			if err != nil {
				t.Fatal(err)
			}
			if int(cand.RelayParent.Number) >= l {
				continue // a node without leaf L does not know this relay parent either
			}
			var single []types.BackedCandidate
			for pos, v := range cand.Group {
				bc, err := Backed(cand, len(cand.Group), map[int]types.ValidityAttestation{pos: BackingVote(kps[v], cand, pos == 0)})
				if err != nil {
					t.Fatal(err)
				}
				single = append(single, bc)
			}
			cands = append(cands, built{leaf: l, cand: cand, single: single})
		}
	}
	if len(cands) == 0 {
		t.Fatal("no candidate anchored below its leaf: the fixture does not exercise async backing")
	}

	// A case is a sequence of steps on a fresh chain and pool: import the
	// blocks up to the leaf (or its parent), add one backer's vote, or
	// resolve; want is how many candidates the step hands out.
	const (
		importParent = iota
		importLeaf
		addVote
		resolve
	)
	type step struct {
		op, pos, want int
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"votes after the leaf", []step{{importLeaf, 0, 0}, {addVote, 0, 0}, {addVote, 1, 1}, {resolve, 0, 0}, {addVote, 1, 0}}},
		{"votes before the leaf", []step{{importParent, 0, 0}, {addVote, 0, 0}, {addVote, 1, 0}, {resolve, 0, 0},
			{importLeaf, 0, 0}, {resolve, 0, 1}, {resolve, 0, 0}, {addVote, 0, 0}}},
		{"one vote on each side of the leaf", []step{{importParent, 0, 0}, {addVote, 0, 0}, {importLeaf, 0, 0}, {addVote, 1, 1}, {resolve, 0, 0}}},
		{"one vote before the leaf, the other never", []step{{importParent, 0, 0}, {addVote, 0, 0}, {importLeaf, 0, 0}, {resolve, 0, 0}}},
	}
	for _, c := range cands {
		rp := c.cand.RelayParent.Hash
		for _, tc := range cases {
			chain := NewChain(g, keys)
			pool := newBackingPool(g, chain)
			imported := 0
			for i, s := range tc.steps {
				var out []resolved
				switch s.op {
				case importParent, importLeaf:
					to := c.leaf
					if s.op == importParent {
						to--
					}
					for ; imported < to; imported++ {
						if _, err := chain.Import(blocks[imported]); err != nil {
							t.Fatal(err)
						}
					}
					continue
				case addVote:
					if full := pool.add(rp, &c.single[s.pos]); full != nil {
						out = append(out, resolved{rp: rp, cand: full})
					}
				case resolve:
					out = pool.resolve()
				}
				where := func() string {
					return fmt.Sprintf("candidate of leaf %d core %d (relay parent #%d), %s, step %d", c.leaf, c.cand.Core, c.cand.RelayParent.Number, tc.name, i)
				}
				if len(out) != s.want {
					t.Fatalf("%s: %d candidates out, want %d", where(), len(out), s.want)
				}
				for _, r := range out {
					bc := &r.cand.Candidate
					switch {
					case r.rp != rp:
						t.Fatalf("%s: fed for relay parent %s, want %s", where(), r.rp, rp)
					case bc.Candidate.Hash() != c.cand.Receipt.Hash() || len(bc.ValidityVotes) != len(c.single):
						t.Fatalf("%s: fed another candidate or %d votes (want %d)", where(), len(bc.ValidityVotes), len(c.single))
					case r.cand.ValidationData == nil:
						t.Fatalf("%s: fed without validation data", where())
					case r.cand.ValidationData.Hash() != bc.Candidate.Descriptor.PersistedValidationDataHash:
						t.Fatalf("%s: fed with validation data that is not the descriptor's", where())
					}
				}
			}
		}
	}
}

// TestNetViewKnownBlockOnlyWhenPassed: between importing a block and
// activating it as its leaf, a node must treat gossip for that block as
// early (parked, then replayed by LeafActivated), not as late (dropped:
// gossipsub has marked the message seen, so no other copy would be
// taken). Only blocks the view has moved on from are known: the active
// leaf, its ancestors, and a fork's block no higher than the leaf.
func TestNetViewKnownBlockOnlyWhenPassed(t *testing.T) {
	g, keys, kps := chainFixture(t)
	c := NewChain(g, keys)
	headers := emptyChain(t, g, c, kps, 3)
	// A fork: block 2' on block 1, imported after block 3 (not best).
	_, st1, err := c.HeaderAndState(headers[1].Hash())
	if err != nil {
		t.Fatal(err)
	}
	kept, next, _, err := Sanitize(g, st1, &headers[1], &types.InherentData{ParentHeader: headers[1]})
	if err != nil {
		t.Fatal(err)
	}
	fork := BuildBlock(kps[g.SlotAuthor(5)], g.SlotAuthor(5), 5, &headers[1], kept, next, 0, false)
	if imp, err := c.Import(fork); err != nil || imp == nil || imp.BecameBest {
		t.Fatalf("fork import: %+v, %v", imp, err)
	}
	v := newNetView(g, c)
	// The node activated genesis, 1 and 2; 3 is imported, not activated.
	var old types.Hash
	for _, h := range headers[:3] {
		v.setLeaf(h.Hash(), old)
		old = h.Hash()
	}
	unknown := types.Blake2_256([]byte("never imported"))
	cases := []struct {
		name  string
		block types.Hash
		known bool
	}{
		{"genesis", headers[0].Hash(), true},
		{"the leaf's parent", headers[1].Hash(), true},
		{"the active leaf", headers[2].Hash(), true},
		{"a fork's block at the leaf's height", fork.Header.Hash(), true},
		{"the block imported, not yet the leaf", headers[3].Hash(), false},
		{"a block never imported", unknown, false},
	}
	for _, tc := range cases {
		if got := v.KnownBlock(tc.block); got != tc.known {
			t.Errorf("before activating block 3: %s: known %v, want %v", tc.name, got, tc.known)
		}
	}
	// Once activated, block 3 is the leaf; a message for it that is not
	// taken is late from now on.
	v.setLeaf(headers[3].Hash(), old)
	if !v.KnownBlock(headers[3].Hash()) || v.KnownBlock(unknown) {
		t.Errorf("after activating block 3: known %v (want true), unknown block known %v (want false)",
			v.KnownBlock(headers[3].Hash()), v.KnownBlock(unknown))
	}
}

// leafSteps records, for TestSwitchLeafOrder, what switchLeaf told whom
// and whether the gossip view accepted messages for the leaf by then.
type leafSteps struct {
	view  *netView
	leaf  types.Hash
	steps []string
}

func (r *leafSteps) note(what string) {
	_, accepted := r.view.Leaf(r.leaf)
	r.steps = append(r.steps, fmt.Sprintf("%s (view accepts: %v)", what, accepted))
}

func (r *leafSteps) activate(leaf types.Hash, _ types.BlockNumber, _ types.Hash) {
	r.note("provisioner activates")
}
func (r *leafSteps) LeafActivated(types.Hash)    { r.note("parked gossip replayed") }
func (r *leafSteps) PruneRelayParent(types.Hash) { r.note("old relay parent pruned") }

// TestSwitchLeafOrder: the provisioner hears of a new leaf before the
// gossip view accepts anything for it and before parked gossip is
// replayed, so that nothing accepted for the leaf reaches the provisioner
// ahead of the leaf (it would be refused as not an active leaf, and
// gossipsub would never deliver it again).
func TestSwitchLeafOrder(t *testing.T) {
	g, keys, kps := chainFixture(t)
	blocks := busyChain(t, g, kps, 2)
	chain := NewChain(g, keys)
	for _, b := range blocks {
		if _, err := chain.Import(b); err != nil {
			t.Fatal(err)
		}
	}
	view := newNetView(g, chain)
	first, second := blocks[0].Header.Hash(), blocks[1].Header.Hash()
	for _, c := range []struct {
		leaf, old types.Hash
		want      []string
	}{
		{first, types.Hash{}, []string{
			"provisioner activates (view accepts: false)",
			"parked gossip replayed (view accepts: true)",
		}},
		{second, first, []string{
			"provisioner activates (view accepts: false)",
			"parked gossip replayed (view accepts: true)",
			"old relay parent pruned (view accepts: true)",
		}},
	} {
		rec := &leafSteps{view: view, leaf: c.leaf}
		switchLeaf(rec, view, rec, c.leaf, blocks[0].Header.Number, c.old)
		if !slices.Equal(rec.steps, c.want) {
			t.Errorf("leaf %s:\n got %q\nwant %q", c.leaf, rec.steps, c.want)
		}
		if _, ok := view.Leaf(c.old); !c.old.IsZero() && ok {
			t.Errorf("old leaf %s still accepted", c.old)
		}
	}
}
