package testnet

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// TestSigCacheExactAndBounded: the cache knows exactly the triples added
// (a signature valid for another payload, or by another key, is not
// known), and holds at most its capacity, the oldest going first.
func TestSigCacheExactAndBounded(t *testing.T) {
	_, keys, kps := chainFixture(t)
	p1, p2 := []byte("payload one"), []byte("payload two")
	s1 := kps[0].Sign(p1)
	s2 := kps[0].Sign(p2)
	c := newSigCache(8)
	c.Add(keys[0], p1, s1)
	cases := []struct {
		name    string
		key     *types.PublicKey
		payload []byte
		sig     [64]byte
		known   bool
	}{
		{"the triple added", keys[0], p1, s1, true},
		{"its signature over another payload", keys[0], p2, s1, false},
		{"another payload's valid signature", keys[0], p1, s2, false},
		{"another key", keys[1], p1, s1, false},
		{"a payload extending it", keys[0], append(slices.Clone(p1), 0), s1, false},
		{"no key", nil, p1, s1, false},
	}
	for _, tc := range cases {
		if got := c.Known(tc.key, tc.payload, tc.sig); got != tc.known {
			t.Errorf("%s: known %v, want %v", tc.name, got, tc.known)
		}
	}

	// Bounds: capacity 3, five distinct entries and a repeat.
	b := newSigCache(3)
	payload := func(i int) []byte { return []byte(fmt.Sprintf("entry %d", i)) }
	for i := range 5 {
		b.Add(keys[0], payload(i), s1)
	}
	b.Add(keys[0], payload(4), s1) // known: no new entry, nothing evicted
	var present []int
	for i := range 5 {
		if b.Known(keys[0], payload(i), s1) {
			present = append(present, i)
		}
	}
	if entries, hits, misses := b.stats(); !slices.Equal(present, []int{2, 3, 4}) || entries != 3 || hits != 3 || misses != 2 {
		t.Fatalf("after 5 adds to a cache of 3: present %v, entries %d, hits %d, misses %d; want [2 3 4], 3, 3, 2",
			present, entries, hits, misses)
	}
	if got := sigCacheSize(&Genesis{Validators: make([]types.ValidatorID, 1000), Cores: 100, GroupSize: 5}); got != 6000 {
		t.Fatalf("sigCacheSize of 1000 validators, 100 cores of 5: %d, want 6000", got)
	}
}

// TestSigCacheFilledByGossip: what a node's Sink hands the chain (single
// backing votes, bitfields) is exactly what the runtime verifies on
// import: the import of blocks carrying them verifies no signature.
func TestSigCacheFilledByGossip(t *testing.T) {
	g, keys, kps := chainFixture(t)
	h0 := g.GenesisHeader()
	st0 := g.genesisState()
	c := NewChain(g, keys)

	// Block 1 backs a candidate on each core; each backer gossiped its
	// own vote.
	var backed []types.BackedCandidate
	votes := 0
	for core := range types.CoreIndex(2) {
		cand, err := BuildCandidate(g, &h0, st0, core)
		if err != nil {
			t.Fatal(err)
		}
		all := map[int]types.ValidityAttestation{}
		for pos, v := range cand.Group {
			vote := BackingVote(kps[v], cand, pos == 0)
			all[pos] = vote
			single, err := Backed(cand, len(cand.Group), map[int]types.ValidityAttestation{pos: vote})
			if err != nil {
				t.Fatal(err)
			}
			c.rememberBacked(&single)
			votes++
		}
		bc, err := Backed(cand, len(cand.Group), all)
		if err != nil {
			t.Fatal(err)
		}
		backed = append(backed, bc)
	}
	inh1 := &types.InherentData{ParentHeader: h0, BackedCandidates: backed}
	st1, _, err := Apply(g, st0, &h0, inh1)
	if err != nil {
		t.Fatal(err)
	}
	b1 := BuildBlock(kps[g.SlotAuthor(1)], g.SlotAuthor(1), 1, &h0, inh1, st1, 0, false)
	_, hits0, _ := c.sigs.stats()
	if _, err := c.Import(b1); err != nil {
		t.Fatal(err)
	}
	if _, hits, misses := c.sigs.stats(); hits-hits0 != votes || misses != 0 {
		t.Fatalf("block 1: %d hits, %d misses; want %d, 0", hits-hits0, misses, votes)
	}

	// Block 2 carries every validator's bitfield for block 1.
	h1 := b1.Header
	ctx := types.SigningContext{SessionIndex: g.rt.SessionIndexForChild(st1), ParentHash: h1.Hash()}
	inh2 := &types.InherentData{ParentHeader: h1}
	for v := range kps {
		bf := types.SignBitfield(kps[v], types.NewBitVec(2), types.ValidatorIndex(v), ctx)
		c.rememberBitfield(h1.Hash(), &bf)
		inh2.Bitfields = append(inh2.Bitfields, bf)
	}
	st2, _, err := Apply(g, st1, &h1, inh2)
	if err != nil {
		t.Fatal(err)
	}
	b2 := BuildBlock(kps[g.SlotAuthor(2)], g.SlotAuthor(2), 2, &h1, inh2, st2, 0, false)
	_, hits1, _ := c.sigs.stats()
	if _, err := c.Import(b2); err != nil {
		t.Fatal(err)
	}
	if _, hits, misses := c.sigs.stats(); hits-hits1 != len(kps) || misses != 0 {
		t.Fatalf("block 2: %d hits, %d misses; want %d, 0", hits-hits1, misses, len(kps))
	}
	// A block the chain does not hold gives nothing to remember.
	entries, _, _ := c.sigs.stats()
	c.rememberBitfield(types.Blake2_256([]byte("unknown")), &inh2.Bitfields[0])
	if n, _, _ := c.sigs.stats(); n != entries {
		t.Fatalf("a bitfield for an unknown block was remembered")
	}
}

// emptyChain imports n blocks with empty inherents on genesis.
func emptyChain(t *testing.T, g *Genesis, c *Chain, kps []*types.Keypair, n int) []types.Header {
	t.Helper()
	headers := []types.Header{g.GenesisHeader()}
	st := g.genesisState()
	for slot := uint64(1); slot <= uint64(n); slot++ {
		parent := &headers[len(headers)-1]
		kept, next, _, err := Sanitize(g, st, parent, &types.InherentData{ParentHeader: *parent})
		if err != nil {
			t.Fatal(err)
		}
		b := BuildBlock(kps[g.SlotAuthor(slot)], g.SlotAuthor(slot), slot, parent, kept, next, 0, false)
		if _, err := c.Import(b); err != nil {
			t.Fatal(err)
		}
		headers, st = append(headers, b.Header), next
	}
	return headers
}

// TestNetViewAllowedRelayParentCached: the view answers every relay
// parent from its per-leaf memory exactly as the runtime computes it,
// across a session change, as the leaf moves; and the session it names is
// that of the relay parent's child (what rememberBacked relies on).
func TestNetViewAllowedRelayParentCached(t *testing.T) {
	g, keys, kps := chainFixture(t)
	c := NewChain(g, keys)
	headers := emptyChain(t, g, c, kps, int(g.SessionLength)+3)
	v := newNetView(g, c)
	// reference is the computation from the runtime, without memory.
	reference := func(leaf types.Hash, rp types.Hash) (p2p.RelayParentInfo, bool) {
		info := p2p.RelayParentInfo{Validators: g.Validators, NumCores: g.Cores, NodeFeatures: g.rt.NodeFeatures()}
		h, st, err := c.HeaderAndState(leaf)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range g.rt.AllowedRelayParents(st, &h) {
			if a.Hash == rp {
				cq, err := g.rt.ClaimQueueAt(st, &h, rp)
				if err != nil {
					t.Fatal(err)
				}
				info.Number, info.Session, info.ClaimQueue, info.Leaves = a.Number, g.rt.SessionIndexForChild(st), cq, []types.Hash{leaf}
			}
		}
		return info, len(info.Leaves) > 0
	}
	allowed := 0
	var old types.Hash
	for i, h := range headers {
		leaf := h.Hash()
		v.setLeaf(leaf, old)
		old = leaf
		// Asked twice: computed, then remembered.
		for range 2 {
			for _, rh := range headers {
				rp := rh.Hash()
				got, ok := v.AllowedRelayParent(rp)
				want, wantOK := reference(leaf, rp)
				if ok != wantOK || !reflect.DeepEqual(got, want) {
					t.Fatalf("leaf %d, relay parent %d: %+v %v, want %+v %v", i, rh.Number, got, ok, want, wantOK)
				}
				if !ok {
					continue
				}
				allowed++
				if s, _ := c.childSession(rp); s != got.Session {
					t.Fatalf("leaf %d, relay parent %d: session %d, the relay parent's child's %d", i, rh.Number, got.Session, s)
				}
			}
		}
		if len(v.windows) != 1 {
			t.Fatalf("leaf %d: %d windows kept, want the active leaf's only", i, len(v.windows))
		}
	}
	if allowed == 0 {
		t.Fatal("no relay parent was allowed")
	}
}
