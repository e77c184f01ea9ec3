package p2p

import (
	"encoding/binary"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// receiptMutator changes a receipt before its votes are signed.
type receiptMutator = func(*types.CommittedCandidateReceipt)

func umpMsgs(msgs ...[]byte) receiptMutator {
	return func(c *types.CommittedCandidateReceipt) { c.Commitments.UpwardMessages = msgs }
}

// v3Of makes the descriptor V3 (version byte 1) with scheduling parent sp.
func v3Of(sp types.Hash, more ...receiptMutator) receiptMutator {
	return func(c *types.CommittedCandidateReceipt) {
		c.Descriptor.Collator[0] = 1
		copy(c.Descriptor.Signature[:32], sp[:])
		for _, m := range more {
			m(c)
		}
	}
}

// v1Of makes the descriptor V1 (a non-zero reserved byte): its core is the
// injected one only.
func v1Of(more ...receiptMutator) receiptMutator {
	return func(c *types.CommittedCandidateReceipt) {
		c.Descriptor.Collator[8] = 9 // reserved1: V1 under either rule
		for _, m := range more {
			m(c)
		}
	}
}

// TestBackedCandidateUMPSignals: gossip applies the runtime's
// sanitize_backed_candidate_v2_v3 from memory. The leaf (block 12) and its
// parent (block 11) are allowed relay parents; para 1002 holds core 2 at
// depth 0 of the leaf's claim queue and core 3 in the parent's. A
// candidate is the para's on core 2, with the votes of the group of core 2
// at relay_parent_number + 1.
func TestBackedCandidateUMPSignals(t *testing.T) {
	f := testFixture(t)
	leaf, parent, grandparent := leafHash(1), leafHash(0), leafHash(-1)
	const core = 2
	atParent, atLeaf := (core+12)%5, (core+13)%5
	sep := []byte{}
	sel := types.SelectCoreSignal
	queues := map[types.Hash]map[types.CoreIndex][]types.ParaID{
		leaf:   {0: {1000}, 1: {1001}, 2: {1002}, 3: {1003}, 4: {1004}},
		parent: {2: {1003}, 3: {1002}},
	}
	v3on := types.NewBitVec(5)
	v3on.Set(types.NodeFeatureCandidateReceiptV3, true)
	onLeaf := func(m receiptMutator) BackedCandidateMessage { return f.backedWith(leaf, leaf, core, atLeaf, leaf, m) }
	onParent := func(m receiptMutator) BackedCandidateMessage {
		return f.backedWith(leaf, parent, core, atParent, parent, m)
	}
	tests := []struct {
		name       string
		v3         bool
		noSnapshot bool // the parent's claim queue is unknown
		msg        BackedCandidateMessage
		want       Result
		reason     string
	}{
		{"v2 without signals on the core the leaf's queue gives", false, false, onLeaf(nil), Accept, ""},
		{"v2 selecting core 2 at offset 0", false, false, onLeaf(umpMsgs([]byte("xcm"), sep, sel(0, 0))), Accept, ""},
		{"v2 selecting at offset 1, where the para has no claim", false, false, onLeaf(umpMsgs(sep, sel(0, 1))), Reject, ReasonUMPSignals},
		{"v2 on the parent, whose queue gives core 3", false, false, onParent(nil), Reject, ReasonUMPSignals},
		{"v2 on the parent without its snapshot: the core is not judged", false, true, onParent(nil), Accept, ""},
		{"v2 on the parent without its snapshot: three signals still refused", false, true,
			onParent(umpMsgs(sep, sel(0, 0), types.ApprovedPeerSignal([]byte{1}), types.ApprovedPeerSignal([]byte{2}))), Reject, ReasonUMPSignals},
		{"two SelectCore signals", false, false, onLeaf(umpMsgs(sep, sel(0, 0), sel(0, 0))), Reject, ReasonUMPSignals},
		{"a signal that does not decode", false, false, onLeaf(umpMsgs(sep, []byte{9})), Reject, ReasonUMPSignals},
		{"v1 without signals", false, false, onLeaf(v1Of()), Accept, ""},
		{"v1 with a signal", false, false, onLeaf(v1Of(umpMsgs(sep, sel(0, 0)))), Reject, ReasonUMPSignals},
		{"v3 bytes with the feature off read as v1 with a signal", false, false,
			onParent(v3Of(leaf, umpMsgs(sep, sel(0, 0)))), Reject, ReasonUMPSignals},
		{"v3 executed at the parent, scheduled by the leaf", true, false, onParent(v3Of(leaf, umpMsgs(sep, sel(0, 0)))), Accept, ""},
		{"v3 without signals", true, false, onParent(v3Of(leaf)), Reject, ReasonUMPSignals},
		{"v3 checked against the scheduling parent's queue", true, false, onLeaf(v3Of(parent, umpMsgs(sep, sel(0, 0)))), Reject, ReasonUMPSignals},
		{"v3 scheduled by a block outside every window", true, false,
			onLeaf(v3Of(grandparent, umpMsgs(sep, sel(0, 0)))), Ignore, ReasonSchedulingParent},
		{"v3 with a scheduling session offset", true, false,
			onParent(v3Of(leaf, umpMsgs(sep, sel(0, 0)), func(c *types.CommittedCandidateReceipt) { c.Descriptor.Collator[7] = 1 })),
			Reject, ReasonSession},
		{"v3 of another session", true, false,
			onParent(v3Of(leaf, umpMsgs(sep, sel(0, 0)), func(c *types.CommittedCandidateReceipt) {
				binary.LittleEndian.PutUint32(c.Descriptor.Collator[3:7], f.session+1)
			})), Reject, ReasonSession},
		{"an unknown version byte with the feature on", true, false,
			onLeaf(func(c *types.CommittedCandidateReceipt) { c.Descriptor.Collator[0] = 2 }), Reject, ReasonDescriptorVersion},
		{"v2 with the feature on", true, false, onLeaf(umpMsgs(sep, sel(0, 0))), Accept, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newAncestryChain(f)
			c.queues = map[types.Hash]map[types.CoreIndex][]types.ParaID{leaf: queues[leaf], parent: queues[parent]}
			if tc.noSnapshot {
				delete(c.queues, parent)
			}
			if tc.v3 {
				c.features = v3on
			}
			v := &validators{chain: c, lim: DefaultLimits()}
			if _, res, reason := v.validateBacked(enc(&tc.msg)); res != tc.want || reason != tc.reason {
				t.Fatalf("got %v/%q, want %v/%q", res, reason, tc.want, tc.reason)
			}
		})
	}
}

// TestBackedCandidateUMPSignalsWithoutAncestryView: a view that cannot
// tell node features or claim queues still gets the form of the signals
// judged, but not the V1-with-signals rule (a V3 candidate reads as V1 with
// signals under the rule from before V3).
func TestBackedCandidateUMPSignalsWithoutAncestryView(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	const core = 2
	sep := []byte{}
	tests := []struct {
		name   string
		mutate receiptMutator
		want   Result
		reason string
	}{
		{"v2 selecting a core", umpMsgs(sep, types.SelectCoreSignal(0, 0)), Accept, ""},
		{"v1 reading with a signal is not judged", v3Of(leafHash(0), umpMsgs(sep, types.SelectCoreSignal(0, 0))), Accept, ""},
		{"a signal that does not decode", umpMsgs(sep, []byte{9}), Reject, ReasonUMPSignals},
		{"v1 reading with a signal that does not decode", v1Of(umpMsgs(sep, []byte{9})), Reject, ReasonUMPSignals},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &validators{chain: newFakeChain(f, leaf), lim: DefaultLimits()}
			m := f.backedWith(leaf, leaf, core, core, leaf, tc.mutate)
			if _, res, reason := v.validateBacked(enc(&m)); res != tc.want || reason != tc.reason {
				t.Fatalf("got %v/%q, want %v/%q", res, reason, tc.want, tc.reason)
			}
		})
	}
}
