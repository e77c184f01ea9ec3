package provisioner

import (
	"context"

	"github.com/polkadot-provisioner/provisioner/types"
)

// addMisbehavior verifies a misbehaviour report with the session's key of
// the accused validator and, if it proves a double vote, records both
// statements in the candidate's dispute: Polkadot slashes only through
// disputes, so the votes reach a block only inside a dispute set the
// runtime keeps (both sides, more participants than (n-1)/3, not concluded
// long ago), which is then selected before any other. Until then the
// report waits with its dispute (counted by reason in
// polkadot_parachain_provisioner_misbehavior_waiting) and is forgotten when
// its session leaves the dispute window. A report that proves nothing is
// dropped (and counted).
func (p *Provisioner) addMisbehavior(ctx context.Context, rep *types.MisbehaviorReport) string {
	if p.ancientSession(rep.Session) {
		return reasonAncientSession
	}
	sess, err := p.sessionFor(ctx, rep.Session)
	if err != nil {
		return reasonUnknownSession
	}
	if int64(rep.ValidatorIndex) >= int64(sess.validators()) {
		return reasonValidatorIndex
	}
	if !wellFormed(&rep.First.Statement) || !wellFormed(&rep.Second.Statement) {
		return reasonMalformed
	}
	key := sess.verifier(rep.ValidatorIndex, p.cfg.VerifierFor)
	if key == nil {
		return reasonInvalidProof
	}
	// Verify checks that one statement says valid and the other invalid,
	// and both signatures (a backing statement is checked under its own
	// relay parent, carried in the statement's Hash).
	if err := rep.Verify(key); err != nil {
		log.Debugw("misbehaviour report does not verify", "validator", rep.ValidatorIndex,
			"candidate", rep.CandidateHash, "session", rep.Session, "err", err)
		return reasonInvalidProof
	}
	dk := DisputeKey{Session: rep.Session, CandidateHash: rep.CandidateHash}
	rec, ok := p.disputes[dk]
	if !ok {
		if len(p.disputes) >= p.cfg.MaxDisputes {
			return reasonDisputeLimit
		}
		rec = newDisputeRecord(dk, sess.validators())
		p.disputes[dk] = rec
	}
	now := p.cfg.Clock.Now()
	changed := false
	for _, s := range []*types.SignedDisputeStatement{&rep.First, &rep.Second} {
		e := types.DisputeStatementEntry{Statement: s.Statement, ValidatorIndex: rep.ValidatorIndex, Signature: s.Signature}
		changed = rec.add(e, now) || changed
	}
	if !changed && rec.misbehavior {
		return reasonDuplicate
	}
	rec.misbehavior = true
	return ""
}
