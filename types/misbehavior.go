package types

import (
	"errors"
	"fmt"
	"io"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// ErrNotContradictory: a misbehaviour report whose two statements do not
// contradict each other proves nothing.
var ErrNotContradictory = errors.New("statements do not contradict")

// SignedDisputeStatement is a statement with the signature of the validator
// the report is about.
type SignedDisputeStatement struct {
	Statement DisputeStatement
	Signature ValidatorSignature
}

// MisbehaviorReport is a self-contained proof: one validator signed two
// statements about one candidate in one session that contradict each other
// (one says valid, the other invalid). Verified, it becomes a dispute
// statement set that slashes the validator.
type MisbehaviorReport struct {
	Session        SessionIndex
	CandidateHash  Hash
	ValidatorIndex ValidatorIndex
	First          SignedDisputeStatement
	Second         SignedDisputeStatement
}

func (m *MisbehaviorReport) Encode(w *codec.Writer) {
	w.U32(m.Session)
	w.Raw(m.CandidateHash[:])
	w.U32(m.ValidatorIndex)
	m.First.Statement.Encode(w)
	w.Raw(m.First.Signature[:])
	m.Second.Statement.Encode(w)
	w.Raw(m.Second.Signature[:])
}

func (m *MisbehaviorReport) Decode(r *codec.Reader) error {
	m.Session = r.U32("report session")
	r.Array32("report candidate_hash", (*[32]byte)(&m.CandidateHash))
	m.ValidatorIndex = r.U32("report validator_index")
	m.First.Statement.Decode(r)
	r.Array64("report first signature", (*[64]byte)(&m.First.Signature))
	m.Second.Statement.Decode(r)
	r.Array64("report second signature", (*[64]byte)(&m.Second.Signature))
	return r.Err()
}

// Verify checks that the statements contradict and that both signatures
// are the validator's.
func (m *MisbehaviorReport) Verify(v Verifier) error {
	if m.First.Statement.Valid == m.Second.Statement.Valid {
		return fmt.Errorf("misbehavior report: %w", ErrNotContradictory)
	}
	for i, s := range []*SignedDisputeStatement{&m.First, &m.Second} {
		e := DisputeStatementEntry{Statement: s.Statement, ValidatorIndex: m.ValidatorIndex, Signature: s.Signature}
		if !e.Verify(v, m.CandidateHash, m.Session) {
			return fmt.Errorf("misbehavior report statement %d: %w", i+1, ErrBadSignature)
		}
	}
	return nil
}

// DisputeStatementSet turns the report into the dispute statement set that
// puts both of the offender's statements on chain.
func (m *MisbehaviorReport) DisputeStatementSet() DisputeStatementSet {
	return DisputeStatementSet{
		CandidateHash: m.CandidateHash,
		Session:       m.Session,
		Statements: []DisputeStatementEntry{
			{Statement: m.First.Statement, ValidatorIndex: m.ValidatorIndex, Signature: m.First.Signature},
			{Statement: m.Second.Statement, ValidatorIndex: m.ValidatorIndex, Signature: m.Second.Signature},
		},
	}
}

func (v MisbehaviorReport) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *MisbehaviorReport) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }
