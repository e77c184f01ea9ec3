package testnet

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

func TestParseKill(t *testing.T) {
	cases := []struct {
		in   string
		want Kill
		ok   bool
	}{
		{"3@5", Kill{Node: 3, At: 5}, true},
		{"3@5,restart@9", Kill{Node: 3, At: 5, RestartAt: 9}, true},
		{"3@5,restart@4", Kill{}, false},
		{"x@5", Kill{}, false},
		{"3", Kill{}, false},
		{"3@5,again@9", Kill{}, false},
	}
	for _, c := range cases {
		got, err := ParseKill(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseKill(%q) = %+v, %v", c.in, got, err)
		}
	}
}

// chainFixture is a 4-validator, 2-core chain at genesis.
func chainFixture(t *testing.T) (*Genesis, Keys, []*types.Keypair) {
	t.Helper()
	g, err := NewGenesis(4, 2, 2, 1000, 0, 0)
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
	return g, keys, kps
}

// backedAt builds the fully backed candidate of core at the given leaf.
func backedAt(t *testing.T, g *Genesis, kps []*types.Keypair, leaf *types.Header, st *State, core types.CoreIndex) types.BackedCandidate {
	t.Helper()
	c, err := BuildCandidate(g, leaf, st, core)
	if err != nil {
		t.Fatal(err)
	}
	votes := map[int]types.ValidityAttestation{}
	for pos, v := range c.Group {
		votes[pos] = BackingVote(kps[v], c, pos == 0)
	}
	bc, err := Backed(c, len(c.Group), votes)
	if err != nil {
		t.Fatal(err)
	}
	return bc
}

func TestApplyIncludesAfterAvailability(t *testing.T) {
	g, _, kps := chainFixture(t)
	h0 := g.GenesisHeader()
	st0 := g.genesisState()
	inh1 := &types.InherentData{ParentHeader: h0,
		BackedCandidates: []types.BackedCandidate{backedAt(t, g, kps, &h0, st0, 0), backedAt(t, g, kps, &h0, st0, 1)}}
	st1, res1, err := Apply(g, st0, &h0, inh1)
	if err != nil || len(res1.Backed) != 2 || len(st1.Paras[0].Pending) != 1 || len(st1.Paras[1].Pending) != 1 {
		t.Fatalf("block 1: %+v %v", res1, err)
	}
	h1 := types.Header{ParentHash: h0.Hash(), Number: 1, StateRoot: st1.Root()}
	// Three of four validators (the supermajority 4 - 1) make core 0
	// available; core 1 gets two and stays occupied.
	ctx := types.SigningContext{SessionIndex: g.rt.SessionIndexForChild(st1), ParentHash: h1.Hash()}
	both, _ := types.BitVecFromString("11")
	first, _ := types.BitVecFromString("10")
	inh2 := &types.InherentData{ParentHeader: h1, Bitfields: []types.UncheckedSignedAvailabilityBitfield{
		types.SignBitfield(kps[0], both, 0, ctx), types.SignBitfield(kps[1], both, 1, ctx), types.SignBitfield(kps[2], first, 2, ctx),
	}}
	st2, res2, err := Apply(g, st1, &h1, inh2)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.CandidateEvent{{Para: 2000, Core: 0, Hash: inh1.BackedCandidates[0].Hash()}}
	if !slices.Equal(res2.Included, want) || len(st2.Paras[0].Pending) != 0 || len(st2.Paras[1].Pending) != 1 || st2.Paras[0].Included != 1 {
		t.Fatalf("block 2: included %+v, want %+v", res2.Included, want)
	}
	if string(st2.Paras[0].Head) != string(inh1.BackedCandidates[0].Candidate.Commitments.HeadData) {
		t.Fatal("para head not advanced to the included candidate's head")
	}
}

func TestApplyRejects(t *testing.T) {
	g, _, kps := chainFixture(t)
	h0 := g.GenesisHeader()
	st0 := g.genesisState()
	ctx := types.SigningContext{SessionIndex: g.rt.SessionIndexForChild(st0), ParentHash: h0.Hash()}
	good := backedAt(t, g, kps, &h0, st0, 0)
	forged := good
	forged.ValidityVotes = append([]types.ValidityAttestation(nil), good.ValidityVotes...)
	forged.ValidityVotes[1].Signature[3] ^= 1
	empty := types.NewBitVec(2)
	badSig := types.SignBitfield(kps[0], empty, 0, ctx)
	badSig.Signature[7] ^= 1
	cases := []struct {
		name     string
		inh      types.InherentData
		want     error
		filtered map[string]int // what the builder's create_inherent drops
	}{
		{"forged backing vote", types.InherentData{BackedCandidates: []types.BackedCandidate{forged}}, runtime.ErrInvalidBacking, nil},
		{"bitfields out of order", types.InherentData{Bitfields: []types.UncheckedSignedAvailabilityBitfield{
			types.SignBitfield(kps[1], empty, 1, ctx), types.SignBitfield(kps[0], empty, 0, ctx)}},
			runtime.ErrInherentDataFiltered, map[string]int{runtime.BitfieldOrder: 1}},
		{"bitfield of the wrong length", types.InherentData{Bitfields: []types.UncheckedSignedAvailabilityBitfield{
			types.SignBitfield(kps[0], types.NewBitVec(3), 0, ctx)}}, runtime.ErrInherentDataFiltered, map[string]int{runtime.BitfieldLength: 1}},
		{"bitfield with a bad signature", types.InherentData{Bitfields: []types.UncheckedSignedAvailabilityBitfield{badSig}},
			runtime.ErrInherentDataFiltered, map[string]int{runtime.BitfieldSignature: 1}},
		{"one candidate twice", types.InherentData{BackedCandidates: []types.BackedCandidate{good, good}},
			runtime.ErrInherentDataFiltered, map[string]int{runtime.CandidateDuplicate: 1}},
	}
	for _, c := range cases {
		c.inh.ParentHeader = h0
		if _, _, err := Apply(g, st0, &h0, &c.inh); !errors.Is(err, c.want) || !errors.Is(err, ErrInvalidInherent) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		// The builder's side drops the offending items instead, or, for
		// a bad backing, cannot build on the data at all.
		_, _, out, err := Sanitize(g, st0, &h0, &c.inh)
		if c.filtered == nil {
			if !errors.Is(err, c.want) {
				t.Errorf("%s: sanitize err = %v, want %v", c.name, err, c.want)
			}
			continue
		}
		if err != nil || !maps.Equal(out.Filtered, c.filtered) {
			t.Errorf("%s: sanitize filtered %v, want %v (%v)", c.name, out.Filtered, c.filtered, err)
		}
	}
}

func TestBlockSealAndStateRoundTrip(t *testing.T) {
	g, keys, kps := chainFixture(t)
	h0 := g.GenesisHeader()
	st0 := g.genesisState()
	inh := &types.InherentData{ParentHeader: h0, BackedCandidates: []types.BackedCandidate{backedAt(t, g, kps, &h0, st0, 1)}}
	st1, _, err := Apply(g, st0, &h0, inh)
	if err != nil {
		t.Fatal(err)
	}
	author := g.SlotAuthor(1)
	b := BuildBlock(kps[author], author, 1, &h0, inh, st1, 1500, false)
	c := NewChain(g, keys)
	imp, err := c.Import(b)
	if err != nil || !imp.BecameBest || len(imp.Result.Backed) != 1 || len(imp.Candidates) != 1 || imp.Candidates[0].Core != 1 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	// A fresh node adopts the block from its body's state.
	var body BlockBody
	if err := types.Decode(types.Encode(&b.Body), &body); err != nil {
		t.Fatal(err)
	}
	fresh := &Chain{g: g, rt: g.rt, keys: keys, blocks: map[types.Hash]*entry{}, best: &entry{}}
	if imp, err := fresh.Import(&Block{Header: b.Header, Body: body}); err != nil || imp.Result != nil || imp.State.Root() != st1.Root() {
		t.Fatalf("adopt: %+v %v", imp, err)
	}
	// Another validator cannot seal the slot.
	wrong := (author + 1) % 4
	bad := BuildBlock(kps[wrong], author, 1, &h0, inh, st1, 0, false)
	if _, err := NewChain(g, keys).Import(bad); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("forged seal: %v", err)
	}
	// A block whose inherent the runtime would filter is refused and
	// counted.
	twice := &types.InherentData{ParentHeader: h0, BackedCandidates: []types.BackedCandidate{inh.BackedCandidates[0], inh.BackedCandidates[0]}}
	filtered := BuildBlock(kps[author], author, 1, &h0, twice, st1, 0, false)
	c2 := NewChain(g, keys)
	if _, err := c2.Import(filtered); !errors.Is(err, runtime.ErrInherentDataFiltered) || c2.FilteredBlocks() != 1 {
		t.Fatalf("filtered block: %v, counted %d", err, c2.FilteredBlocks())
	}
}

// TestInProcessTestnet runs a small network with one adversary end to end.
func TestInProcessTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{Nodes: 5, Paras: 2, Blocks: 8, Slot: 700 * time.Millisecond, InProcess: true, Adversaries: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.Pass {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	// A forged bitfield that arrives after the honest one is ignored as an
	// equivocation before its signature is checked, so bad_signature is
	// not guaranteed here.
	for _, reason := range []string{"bitfield_length", "validator_index"} {
		if rep.RejectedMessages[reason] == 0 {
			t.Errorf("no %s message rejected: %v", reason, rep.RejectedMessages)
		}
	}
	for _, b := range rep.Blocks {
		if b.Number >= 2 && (b.Bitfields != 5 || b.Backed != 2) {
			t.Errorf("block %d: %d bitfields, %d backed; want 5 and 2", b.Number, b.Bitfields, b.Backed)
		}
	}
}
