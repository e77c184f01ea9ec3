package provisioner

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestCandidateRoutedToLeaves: a backed candidate goes to every active
// leaf whose allowed relay parents hold its relay parent, whichever leaf
// (or relay parent) it is fed for, and only to those.
func TestCandidateRoutedToLeaves(t *testing.T) {
	parent := testHash("parent", leafNumber-1)
	sibling := testHash("sibling", leafNumber)
	stranger := testHash("stranger", leafNumber)
	for _, tc := range []struct {
		name    string
		fedFor  types.Hash
		rp      types.Hash
		rpNum   types.BlockNumber
		inLeaf  bool // in the inherents of leafHash and sibling
		inOther bool // in the inherent of stranger
	}{
		{"on the leaves' parent, fed for the parent", parent, parent, leafNumber - 1, true, false},
		{"on the leaves' parent, fed for one leaf", leafHash, parent, leafNumber - 1, true, false},
		{"on the leaf itself", leafHash, leafHash, leafNumber, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			rp := RelayParent{Hash: parent, Number: leafNumber - 1}
			a := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(1)}, rp)
			b := h.addLeaf(sibling, leafNumber, 1, []types.CoreState{scheduled(1)}, rp)
			c := h.addLeaf(stranger, leafNumber, 1, []types.CoreState{scheduled(1)})
			h.activate(a, b, c)
			spec := v2(1, tc.rp, 0).at(1).rpNum(tc.rpNum)
			h.mustProvide(tc.fedFor, makeCandidate(spec))
			h.clock.Advance(DefaultPrePropose)
			for _, l := range []struct {
				leaf types.Hash
				want bool
			}{{leafHash, tc.inLeaf || tc.rp == leafHash}, {sibling, tc.inLeaf}, {stranger, tc.inOther}} {
				resp := <-h.request(l.leaf)
				if resp.Err != nil {
					t.Fatal(resp.Err)
				}
				if got := len(resp.Data.BackedCandidates) == 1; got != l.want {
					t.Fatalf("leaf %s: candidate in inherent %v, want %v", l.leaf, got, l.want)
				}
			}
		})
	}
}

// TestCandidateCarriedToNextLeaf: a candidate held for a leaf that ends is
// offered to the leaf that replaces it, which keeps it when its window
// holds the relay parent.
func TestCandidateCarriedToNextLeaf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed bool // the new leaf allows the old one as relay parent
	}{
		{"the new leaf allows the old one", true},
		{"the new leaf allows only itself", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			old := h.addLeaf(olderLeaf, leafNumber-1, 1, []types.CoreState{scheduled(1)})
			h.activate(old)
			h.mustProvide(olderLeaf, makeCandidate(v2(1, olderLeaf, 0).at(1).rpNum(leafNumber-1)))
			var allowed []RelayParent
			if tc.allowed {
				allowed = append(allowed, RelayParent{Hash: olderLeaf, Number: leafNumber - 1})
			}
			next := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(1)}, allowed...)
			h.p.HandleSignal(h.ctx, ActiveLeavesUpdate{Activated: []ActivatedLeaf{next}, Deactivated: []types.Hash{olderLeaf}})
			got := h.inherent(leafHash).BackedCandidates
			if (len(got) == 1) != tc.allowed {
				t.Fatalf("%d candidates in the new leaf's inherent, want allowed=%v", len(got), tc.allowed)
			}
		})
	}
}

// TestBackableVsInBlock: when a leaf's parent was a leaf of ours, the
// candidates we held backable for it minus those the leaf backed are
// observed, with Polkadot's buckets.
func TestBackableVsInBlock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backedIn int
		parentOK bool
		count    uint64
		sum      float64
	}{
		{"the block backed what we had", 2, true, 1, 0},
		{"the block left one out", 1, true, 1, 1},
		{"the block backed one we never saw", 3, true, 1, -1},
		{"the parent was not ours", 0, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			old := h.addLeaf(olderLeaf, leafNumber-1, 1, []types.CoreState{scheduled(1), scheduled(2)})
			h.activate(old)
			h.mustProvide(olderLeaf, makeCandidate(v2(1, olderLeaf, 0).at(1)))
			h.mustProvide(olderLeaf, makeCandidate(v2(2, olderLeaf, 1).at(1)))
			next := h.addLeaf(leafHash, leafNumber, 1, nil)
			h.chain.mu.Lock()
			l := h.chain.leaves[leafHash]
			if tc.parentOK {
				l.header.ParentHash = olderLeaf
			}
			l.backing = &BackingState{ParasUnknown: true, BackedInLeaf: tc.backedIn}
			h.chain.mu.Unlock()
			h.p.HandleSignal(h.ctx, ActiveLeavesUpdate{Activated: []ActivatedLeaf{next}, Deactivated: []types.Hash{olderLeaf}})
			var m dto.Metric
			if err := h.p.m.backableVsInBlock.Write(&m); err != nil {
				t.Fatal(err)
			}
			hist := m.GetHistogram()
			if hist.GetSampleCount() != tc.count || hist.GetSampleSum() != tc.sum {
				t.Fatalf("observed %d samples summing to %v, want %d, %v", hist.GetSampleCount(), hist.GetSampleSum(), tc.count, tc.sum)
			}
			want := []float64{-100, -50, -40, -30, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30, 40, 50, 100}
			if len(hist.GetBucket()) != len(want) {
				t.Fatalf("%d buckets, want Polkadot's %d", len(hist.GetBucket()), len(want))
			}
			for i, b := range hist.GetBucket() {
				if b.GetUpperBound() != want[i] {
					t.Fatalf("bucket %d bound %v, want %v", i, b.GetUpperBound(), want[i])
				}
			}
		})
	}
}
