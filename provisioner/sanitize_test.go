package provisioner

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// sanitizeCase is one candidate fed to a leaf whose claim queue gives
// chainPara cores 0 and 1 at depth 0 and whose allowed ancestor olderLeaf
// has the snapshot olderQueue (para chainPara on core 1 at depth 0, on
// core 0 at depth 1), unless the case says otherwise.
type sanitizeCase struct {
	name string
	v3   bool // the session's CandidateReceiptV3 node feature
	// unknownConstraints: the chain view cannot tell the backing state
	// (ParasUnknown), as in a replay.
	unknownConstraints bool
	// noOlderSnapshot: olderLeaf is allowed, without a claim-queue snapshot.
	noOlderSnapshot bool
	spec            candSpec
	mutate          func(*types.CommittedCandidateReceipt)
	reason          string // "" when the candidate is kept and selected
}

var olderQueue = map[types.CoreIndex][]types.ParaID{0: {200, chainPara}, 1: {chainPara}}

// withUMP sets the candidate's upward messages.
func withUMP(msgs ...[]byte) func(*types.CommittedCandidateReceipt) {
	return func(c *types.CommittedCandidateReceipt) { c.Commitments.UpwardMessages = msgs }
}

// asV3 turns a V2 descriptor into a V3 one with the given scheduling
// parent, then applies more.
func asV3(sp types.Hash, more ...func(*types.CommittedCandidateReceipt)) func(*types.CommittedCandidateReceipt) {
	return func(c *types.CommittedCandidateReceipt) {
		c.Descriptor.Collator[0] = 1
		copy(c.Descriptor.Signature[:32], sp[:])
		for _, m := range more {
			m(c)
		}
	}
}

func both(fs ...func(*types.CommittedCandidateReceipt)) func(*types.CommittedCandidateReceipt) {
	return func(c *types.CommittedCandidateReceipt) {
		for _, f := range fs {
			f(c)
		}
	}
}

// TestSanitizeBackedCandidates: the runtime's sanitize_backed_candidate_v2_v3
// and parse_ump_signals, applied on arrival; a candidate they refuse is
// counted by reason and never selected.
func TestSanitizeBackedCandidates(t *testing.T) {
	sep := []byte{}
	sel := types.SelectCoreSignal
	older := func(s candSpec) candSpec { s.relayParent = olderLeaf; return s.rpNum(leafNumber - 1) }
	v1c := v1(chainPara, leafHash).at(1).rpNum(leafNumber)
	setSession := func(s types.SessionIndex) func(*types.CommittedCandidateReceipt) {
		return func(c *types.CommittedCandidateReceipt) { binary.LittleEndian.PutUint32(c.Descriptor.Collator[3:7], s) }
	}
	for _, tc := range []sanitizeCase{
		{name: "v2 without signals on a claimed core", spec: kc(0, 1)},
		{name: "v2 selector 1 on core 1 (cores 0, 1)", spec: kc(1, 1), mutate: withUMP(sep, sel(1, 0))},
		{name: "v2 selector 1 picks core 1, descriptor says 0", spec: kc(0, 1), mutate: withUMP(sep, sel(1, 0)),
			reason: reasonUMPCoreMismatch},
		{name: "v2 selector 3 wraps to core 1", spec: kc(1, 1), mutate: withUMP([]byte("xcm"), sep, sel(3, 0))},
		{name: "v2 claim queue offset 1: no claim there", spec: kc(0, 1), mutate: withUMP(sep, sel(0, 1)),
			reason: reasonUMPNoAssignment},
		{name: "v1 with a signal", spec: v1c, mutate: withUMP(sep, sel(0, 0)), reason: reasonUMPWithV1},
		{name: "v1 with a separator and no signal", spec: v1c, mutate: withUMP([]byte("xcm"), sep)},
		{name: "three signals", spec: kc(0, 1), mutate: withUMP(sep, sel(0, 0), types.ApprovedPeerSignal([]byte{1}), types.ApprovedPeerSignal([]byte{2})),
			reason: reasonUMPTooMany},
		{name: "two SelectCore signals", spec: kc(0, 1), mutate: withUMP(sep, sel(0, 0), sel(0, 0)), reason: reasonUMPDuplicate},
		{name: "a signal that does not decode", spec: kc(0, 1), mutate: withUMP(sep, []byte{7}), reason: reasonUMPDecode},
		{name: "v2 of another session", spec: kc(0, 1), mutate: setSession(2), reason: reasonSession},
		{name: "an unknown version byte", spec: kc(0, 1), mutate: func(c *types.CommittedCandidateReceipt) { c.Descriptor.Collator[0] = 2 },
			reason: reasonDescriptorVersion},
		// The relay parent's snapshot, not the leaf's, decides: at
		// olderLeaf the para holds core 1 only.
		{name: "v2 on an older relay parent, checked against its snapshot", spec: older(kc(0, 1)), reason: reasonUMPCoreMismatch},
		{name: "v2 on an older relay parent, on the core its snapshot gives", spec: older(kc(1, 1))},
		{name: "v2 on an older relay parent, offset 1 of its snapshot", spec: older(kc(0, 1)), mutate: withUMP(sep, sel(0, 1))},
		{name: "no snapshot of the older relay parent: no core check", noOlderSnapshot: true, spec: older(kc(0, 1))},
		{name: "no snapshot of the older relay parent: a v1 signal still refused", noOlderSnapshot: true,
			spec: older(v1(chainPara, olderLeaf).at(1)), mutate: withUMP(sep, sel(0, 0)), reason: reasonUMPWithV1},
		{name: "unknown constraints: no core check", unknownConstraints: true, spec: kc(0, 1), mutate: withUMP(sep, sel(1, 0))},
		{name: "unknown constraints: a v1 signal still refused", unknownConstraints: true, spec: v1c, mutate: withUMP(sep, sel(0, 0)),
			reason: reasonUMPWithV1},
		// V3 needs the node feature; without it its bytes read as V1.
		{name: "v3 bytes with the feature off read as v1 with a signal", spec: older(kc(0, 1)),
			mutate: asV3(leafHash, withUMP(sep, sel(0, 0))), reason: reasonUMPWithV1},
		{name: "v3 scheduled by the leaf, executed at the older relay parent", v3: true, spec: older(kc(0, 1)),
			mutate: asV3(leafHash, withUMP(sep, sel(0, 0)))},
		{name: "v3 without signals", v3: true, spec: older(kc(0, 1)), mutate: asV3(leafHash), reason: reasonNoUMPWithV3},
		{name: "v3 checked against the scheduling parent's queue", v3: true, spec: kc(0, 1),
			mutate: asV3(olderLeaf, withUMP(sep, sel(0, 0))), reason: reasonUMPCoreMismatch},
		{name: "v3 scheduling parent not allowed", v3: true, spec: kc(0, 1),
			mutate: asV3(testHash("elsewhere", 1), withUMP(sep, sel(0, 0))), reason: reasonSchedulingParent},
		{name: "v3 with a scheduling session offset", v3: true, spec: kc(0, 1),
			mutate: asV3(leafHash, withUMP(sep, sel(0, 0)), func(c *types.CommittedCandidateReceipt) { c.Descriptor.Collator[7] = 1 }),
			reason: reasonSession},
		{name: "v3 of another session", v3: true, spec: kc(0, 1),
			mutate: both(asV3(leafHash, withUMP(sep, sel(0, 0))), setSession(2)), reason: reasonSession},
		{name: "v2 with the v3 feature on", v3: true, spec: kc(0, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(10), 5)
			rp := RelayParent{Hash: olderLeaf, Number: leafNumber - 1, ClaimQueue: olderQueue}
			if tc.noOlderSnapshot {
				rp.ClaimQueue = nil
			}
			leaf := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(chainPara), scheduled(chainPara)}, rp)
			h.chain.mu.Lock()
			if !tc.unknownConstraints {
				h.chain.leaves[leafHash].backing = knownState(2)
			}
			if tc.v3 {
				f := types.NewBitVec(8)
				f.Set(types.NodeFeatureCandidateReceiptV3, true)
				h.chain.features = map[types.SessionIndex]types.BitVec{1: f}
			}
			h.chain.mu.Unlock()
			h.activate(leaf)
			c := makeCandidate(tc.spec)
			if tc.mutate != nil {
				tc.mutate(&c.Candidate.Candidate)
			}
			err := h.provide(leafHash, c)
			if tc.reason != "" {
				if !errors.Is(err, ErrInvalidData) || discarded(h, "backed_candidate", tc.reason) != 1 {
					t.Fatalf("got %v (discarded %q: %v), want discard %q", err, tc.reason,
						discarded(h, "backed_candidate", tc.reason), tc.reason)
				}
				if got := h.inherent(leafHash).BackedCandidates; len(got) != 0 {
					t.Fatalf("selected %s, want nothing", describeCandidates(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := h.inherent(leafHash).BackedCandidates
			if g, w := describeCandidates(got), describeCandidates([]types.BackedCandidate{c.Candidate}); g != w {
				t.Fatalf("selected\n  %s\nwant\n  %s", g, w)
			}
		})
	}
}

// TestNodeFeaturesFetchedOncePerSession: the session's node features are
// part of its cached state; a second leaf of the session asks no more.
func TestNodeFeaturesFetchedOncePerSession(t *testing.T) {
	h := newHarness(t, Config{})
	h.addSession(1, fakeIDs(10), 5)
	a := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(chainPara)})
	b := h.addLeaf(olderLeaf, leafNumber-1, 1, []types.CoreState{scheduled(chainPara)})
	h.activate(a, b)
	if n := h.chain.callCount("NodeFeatures"); n != 1 {
		t.Fatalf("NodeFeatures called %d times, want 1", n)
	}
}

// TestNodeFeaturesFailure: a session whose node features cannot be read
// leaves the leaf unloaded (no descriptor can be versioned), and data for
// it is discarded as chain_unavailable (the failed load's backoff answers
// with ErrChainView).
func TestNodeFeaturesFailure(t *testing.T) {
	h := newHarness(t, Config{})
	h.addSession(1, fakeIDs(10), 5)
	h.chain.setFailure("NodeFeatures", errBoom)
	leaf := h.addLeaf(leafHash, leafNumber, 1, []types.CoreState{scheduled(chainPara)})
	h.activate(leaf)
	err := h.provide(leafHash, makeCandidate(kc(0, 1)))
	if !errors.Is(err, ErrChainView) {
		t.Fatalf("got %v, want ErrChainView", err)
	}
	if got := discarded(h, "backed_candidate", "chain_unavailable"); got != 1 {
		t.Fatalf("chain_unavailable discards %v, want 1", got)
	}
}
