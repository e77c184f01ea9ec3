package provisioner

import (
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// misbehaviorSetup: four validators with real sr25519 keys in session 1.
func misbehaviorSetup(t *testing.T, cfg Config) (*harness, types.Hash, []*types.Keypair) {
	t.Helper()
	keys, ids := validatorSet(t, 4)
	h := newHarness(t, cfg)
	h.addSession(1, ids, 2)
	leaf := h.addLeaf(leafHash, leafNumber, 1, nil)
	h.activate(leaf)
	return h, leaf.Hash, keys
}

func signed(k *types.Keypair, st types.DisputeStatement, c types.Hash, session types.SessionIndex) types.SignedDisputeStatement {
	e := types.SignDisputeStatement(k, st, c, session, 0)
	return types.SignedDisputeStatement{Statement: st, Signature: e.Signature}
}

var (
	invalidStmt = types.DisputeStatement{Valid: false, Kind: types.InvalidExplicit}
	validStmt   = types.DisputeStatement{Valid: true, Kind: types.ValidExplicit}
	secondedAt  = func(rp types.Hash) types.DisputeStatement {
		return types.DisputeStatement{Valid: true, Kind: types.ValidBackingSeconded, Hash: rp}
	}
	candidateInDoubt = testHash("double-voted", 1)
)

// report is validator v of keys contradicting itself about candidateInDoubt.
func report(keys []*types.Keypair, v types.ValidatorIndex, first, second types.DisputeStatement) *MisbehaviorReport {
	k := keys[v]
	return &MisbehaviorReport{Report: types.MisbehaviorReport{
		Session:        1,
		CandidateHash:  candidateInDoubt,
		ValidatorIndex: v,
		First:          signed(k, first, candidateInDoubt, 1),
		Second:         signed(k, second, candidateInDoubt, 1),
	}}
}

func TestMisbehaviorReportVerified(t *testing.T) {
	tests := []struct {
		name   string
		make   func(keys []*types.Keypair) *MisbehaviorReport
		reason string
	}{
		{
			name: "backing vote against an invalid vote",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				return report(keys, 2, secondedAt(leafHash), invalidStmt)
			},
		},
		{
			name: "explicit invalid then explicit valid",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				return report(keys, 1, invalidStmt, validStmt)
			},
		},
		{
			name: "signed by another validator",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				r := report(keys, 2, secondedAt(leafHash), invalidStmt)
				r.Report.ValidatorIndex = 3
				return r
			},
			reason: reasonInvalidProof,
		},
		{
			name: "two statements that agree",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				return report(keys, 2, secondedAt(leafHash), validStmt)
			},
			reason: reasonInvalidProof,
		},
		{
			name: "backing vote claimed under another relay parent",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				r := report(keys, 2, secondedAt(leafHash), invalidStmt)
				r.Report.First.Statement.Hash = olderLeaf
				return r
			},
			reason: reasonInvalidProof,
		},
		{
			name: "approval of other candidates",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				approval := types.DisputeStatement{Valid: true, Kind: types.ValidApprovalCheckingMultipleCandidates,
					Hashes: []types.Hash{testHash("other", 1), testHash("other", 2)}}
				return report(keys, 0, approval, invalidStmt)
			},
			reason: reasonInvalidProof,
		},
		{
			name: "tampered candidate hash",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				r := report(keys, 2, secondedAt(leafHash), invalidStmt)
				r.Report.CandidateHash = testHash("double-voted", 2)
				return r
			},
			reason: reasonInvalidProof,
		},
		{
			name: "validator outside the session",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				r := report(keys, 2, secondedAt(leafHash), invalidStmt)
				r.Report.ValidatorIndex = 4
				return r
			},
			reason: reasonValidatorIndex,
		},
		{
			name: "unknown session",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				r := report(keys, 2, secondedAt(leafHash), invalidStmt)
				r.Report.Session = 7
				return r
			},
			reason: reasonUnknownSession,
		},
		{
			name: "an invalid statement of an unknown kind",
			make: func(keys []*types.Keypair) *MisbehaviorReport {
				odd := invalidStmt
				odd.Kind = 1
				return report(keys, 2, secondedAt(leafHash), odd)
			},
			reason: reasonMalformed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, leaf, keys := misbehaviorSetup(t, Config{})
			r := tc.make(keys)
			err := h.provide(leaf, r)
			if tc.reason != "" {
				if !errors.Is(err, ErrInvalidData) || discarded(h, "misbehavior_report", tc.reason) != 1 {
					t.Fatalf("got %v, want discard %q", err, tc.reason)
				}
				if got := h.inherent(leaf).Disputes; len(got) != 0 {
					t.Fatalf("a refused report produced %d dispute sets", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("valid report refused: %v", err)
			}
			// Alone, the report is one participant of four: not more than
			// the byzantine threshold (1), so the runtime would refuse the
			// set. It waits, counted.
			if got := h.inherent(leaf).Disputes; len(got) != 0 {
				t.Fatalf("an unconfirmed report produced %d dispute sets", len(got))
			}
			if v := metricValue(t, h.p.m.misbehaviorWaiting.WithLabelValues(refuseUnconfirmed)); v != 1 {
				t.Fatalf("waiting unconfirmed = %v, want 1", v)
			}
			// Another validator's vote confirms the dispute.
			other := types.ValidatorIndex(0)
			if r.Report.ValidatorIndex == 0 {
				other = 3
			}
			h.mustProvide(leaf, disputeSet(1, candidateInDoubt, []types.DisputeStatementEntry{explicitVote(true, other)}))
			resp := <-h.request(leaf)
			if resp.Err != nil {
				t.Fatal(resp.Err)
			}
			got := resp.Data.Disputes
			if len(got) != 1 || got[0].CandidateHash != candidateInDoubt || len(got[0].Statements) != 3 {
				t.Fatalf("want one set with the offender's two statements and the other vote, got %d sets", len(got))
			}
			checkStatementOrder(t, got[0])
			if v := metricValue(t, h.p.m.misbehaviorWaiting.WithLabelValues(refuseUnconfirmed)); v != 0 {
				t.Fatalf("waiting unconfirmed = %v after confirmation, want 0", v)
			}
			// What goes on chain of the offender verifies, statement by
			// statement.
			_, ids := validatorSet(t, 4)
			key, _ := types.ParsePublicKey(ids[r.Report.ValidatorIndex])
			offender := 0
			for i, st := range got[0].Statements {
				if st.ValidatorIndex != r.Report.ValidatorIndex {
					continue
				}
				offender++
				if !st.Verify(key, candidateInDoubt, 1) {
					t.Fatalf("statement %d does not verify as the offender's", i)
				}
			}
			if offender != 2 {
				t.Fatalf("%d statements of the offender, want 2", offender)
			}
			if err := h.provide(leaf, r); !errors.Is(err, ErrInvalidData) {
				t.Fatalf("the same report twice: got %v", err)
			}
		})
	}
}

// TestMisbehaviorSelectedFirst: a proof is selected before a dispute that
// would otherwise take the room.
func TestMisbehaviorSelectedFirst(t *testing.T) {
	h, leaf, keys := misbehaviorSetup(t, Config{MaxDisputeVotes: 4})
	// A confirmed dispute (3 of 4 voted) of 3 votes on a candidate whose
	// key sorts first.
	other := types.Hash{}
	h.mustProvide(leaf, disputeSet(1, other, votes(true, 0, 2), votes(false, 3, 4)))
	h.mustProvide(leaf, report(keys, 2, secondedAt(leafHash), invalidStmt))
	// Validator 0's vote confirms the misbehaviour's dispute (2 of 4
	// participants): 3 votes, which leave no room for the other's 3.
	h.mustProvide(leaf, disputeSet(1, candidateInDoubt, []types.DisputeStatementEntry{explicitVote(true, 0)}))
	got := h.inherent(leaf).Disputes
	if len(got) != 1 || got[0].CandidateHash != candidateInDoubt {
		t.Fatalf("got %d sets; want only the misbehaviour's", len(got))
	}
	if v := metricValue(t, h.p.m.partitioned.WithLabelValues("misbehavior")); v != 1 {
		t.Fatalf("misbehavior partition counted %v", v)
	}
}

// TestMisbehaviorJoinsDispute: the proof's votes join the votes already
// held for the candidate, and the whole set goes first.
func TestMisbehaviorJoinsDispute(t *testing.T) {
	h, leaf, keys := misbehaviorSetup(t, Config{})
	h.mustProvide(leaf, disputeSet(1, candidateInDoubt, votes(true, 0, 1)))
	h.mustProvide(leaf, report(keys, 2, secondedAt(leafHash), invalidStmt))
	got := h.inherent(leaf).Disputes
	if len(got) != 1 || len(got[0].Statements) != 3 {
		t.Fatalf("want one set of 3 statements")
	}
}
