package types

import (
	"github.com/polkadot-provisioner/provisioner/codec"
)

// SigningContext binds a signed payload to a session and a relay parent.
type SigningContext struct {
	SessionIndex SessionIndex
	ParentHash   Hash
}

func (s *SigningContext) Encode(w *codec.Writer) {
	w.U32(s.SessionIndex)
	w.Raw(s.ParentHash[:])
}

func (s *SigningContext) Decode(r *codec.Reader) error {
	s.SessionIndex = r.U32("signing context session_index")
	r.Array32("signing context parent_hash", (*[32]byte)(&s.ParentHash))
	return r.Err()
}

// UncheckedSignedAvailabilityBitfield is a validator's signed statement of
// which occupied cores it holds an erasure chunk for (one bit per core).
type UncheckedSignedAvailabilityBitfield struct {
	Payload        BitVec
	ValidatorIndex ValidatorIndex
	Signature      ValidatorSignature
}

func (s *UncheckedSignedAvailabilityBitfield) Encode(w *codec.Writer) {
	s.Payload.Encode(w)
	w.U32(s.ValidatorIndex)
	w.Raw(s.Signature[:])
}

func (s *UncheckedSignedAvailabilityBitfield) Decode(r *codec.Reader) error {
	s.Payload.Decode(r)
	s.ValidatorIndex = r.U32("bitfield validator_index")
	r.Array64("bitfield signature", (*[64]byte)(&s.Signature))
	return r.Err()
}

// Compact statement kinds (enum indices after the "BKNG" magic).
const (
	CompactSeconded uint8 = 1
	CompactValid    uint8 = 2
)

// CompactStatement is what backing votes sign: "BKNG" ++ kind ++ hash.
type CompactStatement struct {
	Kind          uint8
	CandidateHash Hash
}

var backingMagic = [4]byte{'B', 'K', 'N', 'G'}

func (c *CompactStatement) Encode(w *codec.Writer) {
	w.Raw(backingMagic[:])
	w.U8(c.Kind)
	w.Raw(c.CandidateHash[:])
}

func (c *CompactStatement) Decode(r *codec.Reader) error {
	if m := r.Fixed("compact statement magic", 4); m != nil && string(m) != string(backingMagic[:]) {
		r.Fail("compact statement magic", codec.ErrInvalidValue, "not BKNG")
	}
	c.Kind = r.Variant("compact statement", func(k uint8) bool { return k == CompactSeconded || k == CompactValid })
	r.Array32("compact statement candidate_hash", (*[32]byte)(&c.CandidateHash))
	return r.Err()
}

// Valid dispute statement kinds (ValidDisputeStatementKind indices).
const (
	ValidExplicit                           uint8 = 0
	ValidBackingSeconded                    uint8 = 1
	ValidBackingValid                       uint8 = 2
	ValidApprovalChecking                   uint8 = 3
	ValidApprovalCheckingMultipleCandidates uint8 = 4
)

// InvalidExplicit is the only InvalidDisputeStatementKind.
const InvalidExplicit uint8 = 0

// DisputeStatement is Valid(kind) (enum index 0) or Invalid(kind) (index 1).
// Hash is the relay parent signing context of the backing kinds; Hashes the
// candidates of ApprovalCheckingMultipleCandidates.
type DisputeStatement struct {
	Valid  bool
	Kind   uint8
	Hash   Hash
	Hashes []Hash
}

func (d *DisputeStatement) Encode(w *codec.Writer) {
	if d.Valid {
		w.U8(0)
	} else {
		w.U8(1)
	}
	w.U8(d.Kind)
	if !d.Valid {
		return
	}
	switch d.Kind {
	case ValidBackingSeconded, ValidBackingValid:
		w.Raw(d.Hash[:])
	case ValidApprovalCheckingMultipleCandidates:
		w.Compact(uint64(len(d.Hashes)))
		for i := range d.Hashes {
			w.Raw(d.Hashes[i][:])
		}
	}
}

func (d *DisputeStatement) Decode(r *codec.Reader) error {
	d.Valid = r.Variant("dispute statement", func(k uint8) bool { return k <= 1 }) == 0
	if r.Err() != nil {
		return r.Err()
	}
	d.Hash, d.Hashes = Hash{}, nil
	if !d.Valid {
		d.Kind = r.Variant("invalid dispute statement kind", func(k uint8) bool { return k == InvalidExplicit })
		return r.Err()
	}
	d.Kind = r.Variant("valid dispute statement kind", func(k uint8) bool { return k <= ValidApprovalCheckingMultipleCandidates })
	switch d.Kind {
	case ValidBackingSeconded, ValidBackingValid:
		r.Array32("backing relay parent", (*[32]byte)(&d.Hash))
	case ValidApprovalCheckingMultipleCandidates:
		n := r.Len("approval candidate hashes", 32, r.Lim.MaxItems)
		if n > 0 {
			d.Hashes = make([]Hash, n)
			for i := range d.Hashes {
				r.Array32("approval candidate hash", (*[32]byte)(&d.Hashes[i]))
			}
		}
	}
	return r.Err()
}

// DisputeStatementEntry is one signed statement in a dispute.
type DisputeStatementEntry struct {
	Statement      DisputeStatement
	ValidatorIndex ValidatorIndex
	Signature      ValidatorSignature
}

// DisputeStatementSet is a set of statements about one candidate in one session.
type DisputeStatementSet struct {
	CandidateHash Hash
	Session       SessionIndex
	Statements    []DisputeStatementEntry
}

func (s *DisputeStatementSet) Encode(w *codec.Writer) {
	w.Raw(s.CandidateHash[:])
	w.U32(s.Session)
	w.Compact(uint64(len(s.Statements)))
	for i := range s.Statements {
		st := &s.Statements[i]
		st.Statement.Encode(w)
		w.U32(st.ValidatorIndex)
		w.Raw(st.Signature[:])
	}
}

func (s *DisputeStatementSet) Decode(r *codec.Reader) error {
	r.Array32("dispute candidate_hash", (*[32]byte)(&s.CandidateHash))
	s.Session = r.U32("dispute session")
	n := r.Len("dispute statements", 70, r.Lim.MaxStatements)
	s.Statements = nil
	if n > 0 {
		s.Statements = make([]DisputeStatementEntry, n)
		for i := range s.Statements {
			st := &s.Statements[i]
			if st.Statement.Decode(r) != nil {
				break
			}
			st.ValidatorIndex = r.U32("dispute validator_index")
			r.Array64("dispute signature", (*[64]byte)(&st.Signature))
		}
	}
	return r.Err()
}
