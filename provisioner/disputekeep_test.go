package provisioner

import (
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestDisputeRuntimeKeeps: a dispute set goes into the inherent only when
// the runtime's filter_dispute_data keeps it, judged after import: votes on
// both sides, more participants than (n-1)/3, not concluded on chain longer
// ago than the post-conclusion acceptance period.
func TestDisputeRuntimeKeeps(t *testing.T) {
	const n = 10 // byzantine threshold 3
	concludedAt := func(at types.BlockNumber) func(*OnChainDispute) {
		return func(d *OnChainDispute) { d.ConcludedAt = &at }
	}
	for _, tc := range []struct {
		name           string
		valid, invalid [2]int // validators [from, to) on each side, here
		onchain        *[2]int
		onchainMod     func(*OnChainDispute)
		block          types.BlockNumber
		want           string
	}{
		{name: "both sides, 4 participants", valid: [2]int{0, 3}, invalid: [2]int{9, 10}, block: 128, want: ""},
		{name: "one side", valid: [2]int{0, 6}, block: 128, want: refuseOneSided},
		{name: "3 participants", valid: [2]int{0, 2}, invalid: [2]int{9, 10}, block: 128, want: refuseUnconfirmed},
		{name: "3 here, a 4th on chain", valid: [2]int{0, 2}, invalid: [2]int{9, 10}, onchain: &[2]int{5, 6}, block: 128, want: ""},
		{name: "the other side only on chain", valid: [2]int{0, 4}, onchain: &[2]int{8, 9}, block: 128, want: ""},
		{name: "concluded on chain at 27, block 127: within 100", valid: [2]int{0, 3}, invalid: [2]int{9, 10},
			onchain: &[2]int{9, 10}, onchainMod: concludedAt(27), block: 127, want: ""},
		{name: "concluded on chain at 27, block 128: past 100", valid: [2]int{0, 3}, invalid: [2]int{9, 10},
			onchain: &[2]int{9, 10}, onchainMod: concludedAt(27), block: 128, want: refuseConcludedOld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDisputeRecord(DisputeKey{Session: 1}, n)
			for _, e := range append(votes(true, tc.valid[0], tc.valid[1]), votes(false, tc.invalid[0], tc.invalid[1])...) {
				r.add(e, t0)
			}
			var oc *OnChainDispute
			if tc.onchain != nil {
				// On chain: validator 0 for (as real on-chain disputes
				// have backers), the given range against.
				d := onchainState(n, 1, tc.onchain[0], tc.onchain[1], false)
				if tc.onchainMod != nil {
					tc.onchainMod(&d)
				}
				oc = &d
			}
			if got := refusal(r, oc, tc.block, DefaultDisputePostConclusionPeriod); got != tc.want {
				t.Fatalf("refusal = %q, want %q", got, tc.want)
			}
			rules := disputeRules{now: t0, activeFor: DefaultActiveDisputeDuration, maxVotes: 1000,
				blockNumber: tc.block, postConclusion: DefaultDisputePostConclusionPeriod}
			onchain := map[DisputeKey]OnChainDispute{}
			if oc != nil {
				onchain[r.key] = *oc
			}
			sel := selectDisputes(map[DisputeKey]*disputeRecord{r.key: r}, onchain, rules)
			if kept := len(sel.sets) == 1; kept != (tc.want == "") {
				t.Fatalf("selected %d sets, want kept=%v", len(sel.sets), tc.want == "")
			}
		})
	}
}

// TestMisbehaviorWaitsThenExpires: a report that cannot be part of a kept
// set waits (counted by reason) and is forgotten, counted, once its session
// leaves the dispute window.
func TestMisbehaviorWaitsThenExpires(t *testing.T) {
	h, leaf, keys := misbehaviorSetup(t, Config{DisputeWindow: 2})
	h.mustProvide(leaf, report(keys, 2, secondedAt(leafHash), invalidStmt))
	if got := h.inherent(leaf).Disputes; len(got) != 0 {
		t.Fatalf("%d sets from a lone report", len(got))
	}
	if v := metricValue(t, h.p.m.misbehaviorWaiting.WithLabelValues(refuseUnconfirmed)); v != 1 {
		t.Fatalf("waiting unconfirmed = %v, want 1", v)
	}
	for _, s := range []types.SessionIndex{3, 4} {
		_, ids := validatorSet(t, 4)
		h.addSession(s, ids, 2)
		l := h.addLeaf(testHash("later leaf", int(s)), leafNumber+types.BlockNumber(s), s, nil)
		h.activate(l)
	}
	// Session 1 + window 2 < 4: out of the window.
	if v := metricValue(t, h.p.m.misbehaviorExpired); v != 1 {
		t.Fatalf("expired = %v, want 1", v)
	}
	if len(h.p.disputes) != 0 {
		t.Fatalf("%d disputes still held", len(h.p.disputes))
	}
}
