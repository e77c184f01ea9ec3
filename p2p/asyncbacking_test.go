package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ancestryChain is a fakeChain that also implements AncestryView: the
// active leaf leafHash(1) at block 12 allows its parent leafHash(0) (block
// 11) as a relay parent; groups rotate by one every block, so the group of
// core c at block b is (c + b) mod 5.
type ancestryChain struct {
	*fakeChain
	numbers map[types.Hash]types.BlockNumber
	window  map[types.Hash][]types.Hash // allowed relay parent -> leaves
	// features are the session's node features (none set when empty);
	// queues the claim-queue snapshots (a relay parent without one is
	// reported as unknown).
	features types.BitVec
	queues   map[types.Hash]map[types.CoreIndex][]types.ParaID
}

func newAncestryChain(f *fixture) *ancestryChain {
	leaf, parent := leafHash(1), leafHash(0)
	return &ancestryChain{
		fakeChain: newFakeChain(f, leaf),
		numbers:   map[types.Hash]types.BlockNumber{leaf: 12, parent: 11},
		window:    map[types.Hash][]types.Hash{leaf: {leaf}, parent: {leaf}},
	}
}

func (c *ancestryChain) AllowedRelayParent(rp types.Hash) (RelayParentInfo, bool) {
	leaves, ok := c.window[rp]
	if !ok {
		return RelayParentInfo{}, false
	}
	return RelayParentInfo{Number: c.numbers[rp], Session: c.f.session, Validators: c.f.ids, NumCores: c.f.cores, Leaves: leaves,
		NodeFeatures: c.features, ClaimQueue: c.queues[rp]}, true
}

func (c *ancestryChain) BackingGroupAt(s types.SessionIndex, core types.CoreIndex, at types.BlockNumber) ([]types.ValidatorIndex, int, error) {
	if s != c.f.session || int(core) >= c.f.cores {
		return nil, 0, ErrUnknownBackingGroup
	}
	g := (core + at) % types.CoreIndex(c.f.cores)
	return []types.ValidatorIndex{2 * g, 2*g + 1}, c.minVotes, nil
}

// backedBy is a candidate of para 1000+core anchored to rp, sent for leaf,
// with the votes of group g signed in the context {session, signedAt}.
func (f *fixture) backedBy(leaf, rp types.Hash, core types.CoreIndex, g int, signedAt types.Hash) BackedCandidateMessage {
	return f.backedWith(leaf, rp, core, g, signedAt, nil)
}

// backedWith is backedBy with the receipt changed by mutate before the
// votes are signed.
func (f *fixture) backedWith(leaf, rp types.Hash, core types.CoreIndex, g int, signedAt types.Hash,
	mutate func(*types.CommittedCandidateReceipt)) BackedCandidateMessage {
	desc := types.NewCandidateDescriptorV2(1000+core, rp, uint16(core), f.session,
		types.Hash{1}, types.Hash{2}, types.Hash{3}, types.Hash{4}, types.Hash{5})
	c := types.BackedCandidate{Candidate: types.CommittedCandidateReceipt{
		Descriptor:  desc,
		Commitments: types.CandidateCommitments{HeadData: []byte("head"), HrmpWatermark: 1},
	}}
	if mutate != nil {
		mutate(&c.Candidate)
	}
	hash := c.Hash()
	ctx := types.SigningContext{SessionIndex: f.session, ParentHash: signedAt}
	for i := range 2 {
		c.ValidityVotes = append(c.ValidityVotes, types.SignBackingVote(f.keys[2*g+i], i == 0, hash, ctx))
	}
	idx, err := types.InjectCoreIndex(types.BitVecFromBools([]bool{true, true}), core)
	if err != nil {
		panic(err)
	}
	c.ValidatorIndices = idx
	return BackedCandidateMessage{RelayParent: leaf, Candidate: c}
}

// TestAsyncBackingValidation: with an AncestryView, a backed candidate may
// anchor to an allowed relay parent of an active leaf; its votes are
// checked under that relay parent with the group of its core at
// relay_parent_number + 1.
func TestAsyncBackingValidation(t *testing.T) {
	f := testFixture(t)
	leaf, parent, grandparent := leafHash(1), leafHash(0), leafHash(-1)
	const core = 2
	// The parent's child is block 12: core 2 is served by group
	// (2+12)%5 = 4 there; at the leaf's child, block 13, by group 0.
	atParent, atLeaf := (core+12)%5, (core+13)%5
	tests := []struct {
		name   string
		msgs   []BackedCandidateMessage
		want   Result
		reason string
	}{
		{"on the leaf's parent, sent for the leaf", []BackedCandidateMessage{f.backedBy(leaf, parent, core, atParent, parent)}, Accept, ""},
		{"on the leaf's parent, sent for the parent", []BackedCandidateMessage{f.backedBy(parent, parent, core, atParent, parent)}, Accept, ""},
		{"on the leaf itself", []BackedCandidateMessage{f.backedBy(leaf, leaf, core, atLeaf, leaf)}, Accept, ""},
		{"votes signed under the leaf, not the relay parent", []BackedCandidateMessage{f.backedBy(leaf, parent, core, atParent, leaf)}, Reject, ReasonBadSignature},
		{"votes of the group before rotation", []BackedCandidateMessage{f.backedBy(leaf, parent, core, core, parent)}, Reject, ReasonBadSignature},
		{"votes of the leaf's group, not the relay parent's", []BackedCandidateMessage{f.backedBy(leaf, parent, core, atLeaf, parent)}, Reject, ReasonBadSignature},
		{"a relay parent outside every window", []BackedCandidateMessage{f.backedBy(leaf, grandparent, core, 0, grandparent)}, Ignore, ReasonRelayParent},
		{"a relay parent nobody knows, sent for itself", []BackedCandidateMessage{f.backedBy(grandparent, grandparent, core, 0, grandparent)}, Ignore, ReasonNotActiveLeaf},
		{"sent for a leaf whose window does not hold it", []BackedCandidateMessage{f.backedBy(grandparent, parent, core, atParent, parent)}, Ignore, ReasonRelayParent},
		{"the same candidate again, for the other name", []BackedCandidateMessage{
			f.backedBy(leaf, parent, core, atParent, parent), f.backedBy(parent, parent, core, atParent, parent),
		}, Ignore, ReasonDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &validators{chain: newAncestryChain(f), lim: DefaultLimits()}
			for i, m := range tc.msgs {
				_, res, reason := v.validateBacked(enc(&m))
				want, wantReason := Accept, ""
				if i == len(tc.msgs)-1 {
					want, wantReason = tc.want, tc.reason
				}
				if res != want || reason != wantReason {
					t.Fatalf("message %d: got %v/%q, want %v/%q", i, res, reason, want, wantReason)
				}
			}
		})
	}
	t.Run("without an AncestryView only the leaf is a relay parent", func(t *testing.T) {
		v := &validators{chain: newFakeChain(f, leaf), lim: DefaultLimits()}
		m := f.backedBy(leaf, parent, core, core, parent)
		if _, res, reason := v.validateBacked(enc(&m)); res != Ignore || reason != ReasonRelayParent {
			t.Fatalf("got %v/%q, want ignore/relay_parent", res, reason)
		}
	})
	t.Run("a v2 descriptor of another session is rejected", func(t *testing.T) {
		c := newAncestryChain(f)
		c.fakeChain.f = &fixture{keys: f.keys, ids: f.ids, session: f.session + 1, cores: f.cores}
		v := &validators{chain: c, lim: DefaultLimits()}
		m := f.backedBy(leaf, parent, core, atParent, parent)
		// The descriptor's session is not the view's: rejected before the
		// group is asked for.
		if _, res, reason := v.validateBacked(enc(&m)); res != Reject || reason != ReasonSession {
			t.Fatalf("got %v/%q, want reject/session", res, reason)
		}
	})
	t.Run("a group the view cannot name is ignored", func(t *testing.T) {
		v := &validators{chain: unknownGroups{newAncestryChain(f)}, lim: DefaultLimits()}
		m := f.backedBy(leaf, parent, core, atParent, parent)
		if _, res, reason := v.validateBacked(enc(&m)); res != Ignore || reason != ReasonUnknownGroup {
			t.Fatalf("got %v/%q, want ignore/unknown_group", res, reason)
		}
	})
}

// unknownGroups is an AncestryView that cannot name any group.
type unknownGroups struct{ *ancestryChain }

func (unknownGroups) BackingGroupAt(types.SessionIndex, types.CoreIndex, types.BlockNumber) ([]types.ValidatorIndex, int, error) {
	return nil, 0, fmt.Errorf("rotation unknown: %w", ErrUnknownBackingGroup)
}

// TestAsyncBackingDelivered: over real gossip, a candidate anchored to the
// leaf's parent is accepted and delivered to the sink under the leaf.
func TestAsyncBackingDelivered(t *testing.T) {
	f := testFixture(t)
	leaf, parent := leafHash(1), leafHash(0)
	ev := newEvents()
	sink := newRecSink()
	n := newTestNode(t, newAncestryChain(f), sink, func(c *Config) { c.ValidationHook = ev.hook })
	peer := newRawPeer(t)
	peer.link(t, n)
	m := f.backedBy(leaf, parent, 1, (1+12)%5, parent)
	peer.send(t, KindBackedCandidate, enc(&m))
	if got := ev.waitFrom(t, peer.h.ID(), 0, 5*time.Second); got.Result != Accept {
		t.Fatalf("validation: %v/%q, want accept", got.Result, got.Reason)
	}
	select {
	case d := <-sink.ch:
		if d.Kind != KindBackedCandidate || d.RelayParent != leaf || d.Candidate.Candidate.Descriptor.RelayParent != parent {
			t.Fatalf("delivered %v for %s (descriptor relay parent %s)", d.Kind, d.RelayParent, d.Candidate.Candidate.Descriptor.RelayParent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("candidate not delivered")
	}
}
