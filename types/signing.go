package types

import (
	"errors"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// Signature errors, testable with errors.Is.
var (
	ErrBadSignature      = errors.New("bad signature")
	ErrValidatorIndex    = errors.New("validator index out of range")
	ErrVotesMismatch     = errors.New("backing votes do not match validator indices")
	ErrNotEnoughVotes    = errors.New("not enough backing votes")
	ErrCoreIndexMismatch = errors.New("core index mismatch")
)

// Signer signs payloads with the signing context "substrate" (a *Keypair).
type Signer interface {
	Sign(payload []byte) [64]byte
}

// Verifier checks signatures of one public key (a *PublicKey).
type Verifier interface {
	Verify(payload []byte, sig [64]byte) bool
}

// SignedPayload is one signature a Verifier was asked about.
type SignedPayload struct {
	Key       *PublicKey
	Payload   []byte
	Signature [64]byte
}

// SignatureID names the exact (key, payload, signature) triple, for maps
// of signatures already verified: a signature valid for another payload or
// under another key has another ID.
func SignatureID(key *PublicKey, payload []byte, sig [64]byte) string {
	pk := key.Bytes()
	b := make([]byte, 0, len(pk)+len(sig)+len(payload))
	b = append(b, pk[:]...)
	b = append(b, sig[:]...)
	return string(append(b, payload...))
}

// PayloadRecorder is a Verifier that checks nothing: it appends what it is
// asked to Items and says true. Verification functions of this package
// build the signing payloads (one definition of what is signed), so a
// caller that wants to verify the signatures later, together (a batch) or
// from a cache, records them with it; its result speaks only for the
// checks other than the signatures.
type PayloadRecorder struct {
	Key   *PublicKey
	Items *[]SignedPayload
}

func (r PayloadRecorder) Verify(payload []byte, sig [64]byte) bool {
	*r.Items = append(*r.Items, SignedPayload{Key: r.Key, Payload: payload, Signature: sig})
	return true
}

// BitfieldSigningPayload is SCALE(bitfield) ++ SCALE(SigningContext).
func BitfieldSigningPayload(payload BitVec, ctx SigningContext) []byte {
	return AppendBitfieldSigningPayload(make([]byte, 0, 5+len(payload.Bytes)+36), payload, ctx)
}

// AppendBitfieldSigningPayload appends BitfieldSigningPayload(payload, ctx)
// to dst and returns the extended slice: a gossip validator builds every
// bitfield's payload in a buffer it reuses, where a fresh one per message
// would be garbage at a thousand messages a block.
func AppendBitfieldSigningPayload(dst []byte, payload BitVec, ctx SigningContext) []byte {
	w := codec.WriterOn(dst)
	payload.Encode(w)
	ctx.Encode(w)
	return w.Bytes()
}

// SignBitfield signs an availability bitfield.
func SignBitfield(s Signer, payload BitVec, idx ValidatorIndex, ctx SigningContext) UncheckedSignedAvailabilityBitfield {
	return UncheckedSignedAvailabilityBitfield{
		Payload:        payload,
		ValidatorIndex: idx,
		Signature:      s.Sign(BitfieldSigningPayload(payload, ctx)),
	}
}

// Verify checks the bitfield's signature against the validator's key.
func (s *UncheckedSignedAvailabilityBitfield) Verify(v Verifier, ctx SigningContext) bool {
	return v.Verify(BitfieldSigningPayload(s.Payload, ctx), s.Signature)
}

// BackingPayload is what a backing vote signs: the compact statement
// ("BKNG" ++ kind ++ candidate hash) followed by the signing context.
func BackingPayload(kind uint8, candidateHash Hash, ctx SigningContext) []byte {
	w := codec.NewWriter(4 + 1 + 32 + 36)
	st := CompactStatement{Kind: kind, CandidateHash: candidateHash}
	st.Encode(w)
	ctx.Encode(w)
	return w.Bytes()
}

// SignBackingVote makes a validity attestation: Implicit (signing Seconded)
// when seconded is true, Explicit (signing Valid) otherwise.
func SignBackingVote(s Signer, seconded bool, candidateHash Hash, ctx SigningContext) ValidityAttestation {
	kind, st := AttestationExplicit, CompactValid
	if seconded {
		kind, st = AttestationImplicit, CompactSeconded
	}
	return ValidityAttestation{Kind: kind, Signature: s.Sign(BackingPayload(st, candidateHash, ctx))}
}

// Verify checks one backing vote.
func (a *ValidityAttestation) Verify(v Verifier, candidateHash Hash, ctx SigningContext) bool {
	st := CompactValid
	if a.Kind == AttestationImplicit {
		st = CompactSeconded
	}
	return v.Verify(BackingPayload(st, candidateHash, ctx), a.Signature)
}

// VerifyBacking checks a backed candidate against its backing group:
// group lists the validator indices of the group in order, keys maps a
// validator index to its key. With coreInjected, the last 8 bits of
// validator_indices hold the core index, which must equal core. Every vote
// must verify, votes must follow the set bits, and at least minVotes are
// required. It returns the validator indices that voted.
func (b *BackedCandidate) VerifyBacking(group []ValidatorIndex, keys func(ValidatorIndex) Verifier,
	ctx SigningContext, coreInjected bool, core CoreIndex, minVotes int) ([]ValidatorIndex, error) {
	bits := b.ValidatorIndices
	if coreInjected {
		var got CoreIndex
		var ok bool
		bits, got, ok = ExtractCoreIndex(bits)
		if !ok {
			return nil, fmt.Errorf("%w: validator_indices has %d bits, no room for a core index", ErrVotesMismatch, b.ValidatorIndices.Len)
		}
		if got != core {
			return nil, fmt.Errorf("%w: injected %d, expected %d", ErrCoreIndexMismatch, got, core)
		}
	}
	if bits.Len != len(group) {
		return nil, fmt.Errorf("%w: %d bits for a group of %d", ErrVotesMismatch, bits.Len, len(group))
	}
	ones := bits.CountOnes()
	if ones != len(b.ValidityVotes) {
		return nil, fmt.Errorf("%w: %d bits set, %d votes", ErrVotesMismatch, ones, len(b.ValidityVotes))
	}
	if ones < minVotes {
		return nil, fmt.Errorf("%w: %d of %d needed", ErrNotEnoughVotes, ones, minVotes)
	}
	hash := b.Hash()
	voters := make([]ValidatorIndex, 0, ones)
	vote := 0
	for i := 0; i < bits.Len; i++ {
		if !bits.Get(i) {
			continue
		}
		vi := group[i]
		k := keys(vi)
		if k == nil {
			return nil, fmt.Errorf("%w: %d", ErrValidatorIndex, vi)
		}
		if !b.ValidityVotes[vote].Verify(k, hash, ctx) {
			return nil, fmt.Errorf("%w: backing vote %d by validator %d", ErrBadSignature, vote, vi)
		}
		voters = append(voters, vi)
		vote++
	}
	return voters, nil
}

// DisputeStatementPayload is what a validator signs for a dispute statement
// about candidateHash in session.
func DisputeStatementPayload(st *DisputeStatement, candidateHash Hash, session SessionIndex) []byte {
	w := codec.NewWriter(80)
	switch {
	case !st.Valid || st.Kind == ValidExplicit:
		w.Raw([]byte("DISP"))
		w.Bool(st.Valid)
		w.Raw(candidateHash[:])
		w.U32(session)
	case st.Kind == ValidBackingSeconded || st.Kind == ValidBackingValid:
		kind := CompactValid
		if st.Kind == ValidBackingSeconded {
			kind = CompactSeconded
		}
		return BackingPayload(kind, candidateHash, SigningContext{SessionIndex: session, ParentHash: st.Hash})
	case st.Kind == ValidApprovalChecking:
		w.Raw([]byte("APPR"))
		w.Raw(candidateHash[:])
		w.U32(session)
	case st.Kind == ValidApprovalCheckingMultipleCandidates:
		// One candidate signs exactly like the single-candidate approval,
		// so old and new signatures stay interchangeable.
		w.Raw([]byte("APPR"))
		if len(st.Hashes) == 1 {
			w.Raw(st.Hashes[0][:])
		} else {
			w.Compact(uint64(len(st.Hashes)))
			for i := range st.Hashes {
				w.Raw(st.Hashes[i][:])
			}
		}
		w.U32(session)
	}
	return w.Bytes()
}

// SignDisputeStatement makes one signed dispute statement.
func SignDisputeStatement(s Signer, st DisputeStatement, candidateHash Hash, session SessionIndex, idx ValidatorIndex) DisputeStatementEntry {
	return DisputeStatementEntry{
		Statement:      st,
		ValidatorIndex: idx,
		Signature:      s.Sign(DisputeStatementPayload(&st, candidateHash, session)),
	}
}

// Verify checks one dispute statement's signature.
func (e *DisputeStatementEntry) Verify(v Verifier, candidateHash Hash, session SessionIndex) bool {
	if e.Statement.Valid && e.Statement.Kind == ValidApprovalCheckingMultipleCandidates {
		found := false
		for _, h := range e.Statement.Hashes {
			found = found || h == candidateHash
		}
		if !found {
			return false
		}
	}
	return v.Verify(DisputeStatementPayload(&e.Statement, candidateHash, session), e.Signature)
}

// SignCollator makes a v1 collator signature on the descriptor.
func (d *CandidateDescriptor) SignCollator(s Signer) {
	d.Signature = s.Sign(d.CollatorSignaturePayload())
}

// VerifyCollator checks a v1 descriptor's collator signature.
func (d *CandidateDescriptor) VerifyCollator(v Verifier) bool {
	return v.Verify(d.CollatorSignaturePayload(), d.Signature)
}
