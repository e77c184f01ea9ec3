package types

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// The JSON form follows the `decoded` convention of the shared interop
// vectors (and of polkadot-js): Rust snake_case field names in field order,
// enums as {"variant","index","value"}, BitVec as {"bit_length","bytes",
// "bits"}, byte arrays and Vec<u8> as 0x-hex, Option as null or the value,
// tuples as arrays. A candidate descriptor is printed in the layout of its
// detected version.

// OrderedObject is a JSON object that keeps its keys in insertion order, as
// the `decoded` convention requires (encoding/json sorts map keys).
type OrderedObject struct {
	keys []string
	vals []any
}

func obj(kv ...any) *OrderedObject {
	o := &OrderedObject{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.keys = append(o.keys, kv[i].(string))
		o.vals = append(o.vals, kv[i+1])
	}
	return o
}

// Add appends a key and its value.
func (o *OrderedObject) Add(k string, v any) {
	o.keys, o.vals = append(o.keys, k), append(o.vals, v)
}

func (o *OrderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func hx(b []byte) string { return "0x" + hex.EncodeToString(b) }

func enum(name string, index uint8, value any) *OrderedObject {
	return obj("variant", name, "index", index, "value", value)
}

func (v BitVec) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj("bit_length", v.Len, "bytes", hx(v.Bytes[:(v.Len+7)/8]), "bits", v.String()))
}

func (h Hash) MarshalJSON() ([]byte, error)               { return json.Marshal(hx(h[:])) }
func (v ValidatorID) MarshalJSON() ([]byte, error)        { return json.Marshal(hx(v[:])) }
func (v CollatorID) MarshalJSON() ([]byte, error)         { return json.Marshal(hx(v[:])) }
func (v ValidatorSignature) MarshalJSON() ([]byte, error) { return json.Marshal(hx(v[:])) }
func (v CollatorSignature) MarshalJSON() ([]byte, error)  { return json.Marshal(hx(v[:])) }

func (d DigestItem) MarshalJSON() ([]byte, error) {
	var val any
	switch d.Kind {
	case DigestPreRuntime, DigestConsensus, DigestSeal:
		val = []any{hx(d.Engine[:]), hx(d.Data)}
	case DigestOther:
		val = hx(d.Data)
	}
	return json.Marshal(enum(d.Kind.String(), uint8(d.Kind), val))
}

func (h Header) MarshalJSON() ([]byte, error) {
	digest := h.Digest
	if digest == nil {
		digest = []DigestItem{}
	}
	return json.Marshal(obj(
		"parent_hash", h.ParentHash,
		"number", h.Number,
		"state_root", h.StateRoot,
		"extrinsics_root", h.ExtrinsicsRoot,
		"digest", obj("logs", digest),
	))
}

func (d CandidateDescriptor) MarshalJSON() ([]byte, error) {
	if d.Version() == DescriptorV1 {
		return json.Marshal(obj(
			"para_id", d.ParaID,
			"relay_parent", d.RelayParent,
			"collator", d.Collator,
			"persisted_validation_data_hash", d.PersistedValidationDataHash,
			"pov_hash", d.PovHash,
			"erasure_root", d.ErasureRoot,
			"signature", d.Signature,
			"para_head", d.ParaHead,
			"validation_code_hash", d.ValidationCodeHash,
		))
	}
	return json.Marshal(obj(
		"para_id", d.ParaID,
		"relay_parent", d.RelayParent,
		"version", d.Collator[0],
		"core_index", binary.LittleEndian.Uint16(d.Collator[1:3]),
		"session_index", binary.LittleEndian.Uint32(d.Collator[3:7]),
		"reserved1", hx(d.Collator[7:]),
		"persisted_validation_data_hash", d.PersistedValidationDataHash,
		"pov_hash", d.PovHash,
		"erasure_root", d.ErasureRoot,
		"reserved2", hx(d.Signature[:]),
		"para_head", d.ParaHead,
		"validation_code_hash", d.ValidationCodeHash,
	))
}

func (c CandidateCommitments) MarshalJSON() ([]byte, error) {
	ump := make([]string, len(c.UpwardMessages))
	for i, m := range c.UpwardMessages {
		ump[i] = hx(m)
	}
	hrmp := make([]any, len(c.HorizontalMessages))
	for i, m := range c.HorizontalMessages {
		hrmp[i] = obj("recipient", m.Recipient, "data", hx(m.Data))
	}
	var code any
	if c.NewValidationCode != nil {
		code = hx(*c.NewValidationCode)
	}
	return json.Marshal(obj(
		"upward_messages", ump,
		"horizontal_messages", hrmp,
		"new_validation_code", code,
		"head_data", hx(c.HeadData),
		"processed_downward_messages", c.ProcessedDownwardMessages,
		"hrmp_watermark", c.HrmpWatermark,
	))
}

func (c CandidateReceipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj("descriptor", c.Descriptor, "commitments_hash", c.CommitmentsHash))
}

func (c CommittedCandidateReceipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj("descriptor", c.Descriptor, "commitments", c.Commitments))
}

func (a ValidityAttestation) MarshalJSON() ([]byte, error) {
	name := "Explicit"
	if a.Kind == AttestationImplicit {
		name = "Implicit"
	}
	return json.Marshal(enum(name, a.Kind, a.Signature))
}

func (b BackedCandidate) MarshalJSON() ([]byte, error) {
	votes := b.ValidityVotes
	if votes == nil {
		votes = []ValidityAttestation{}
	}
	return json.Marshal(obj("candidate", b.Candidate, "validity_votes", votes, "validator_indices", b.ValidatorIndices))
}

func (s UncheckedSignedAvailabilityBitfield) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj("payload", s.Payload, "validator_index", s.ValidatorIndex, "signature", s.Signature))
}

func (s SigningContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj("session_index", s.SessionIndex, "parent_hash", s.ParentHash))
}

var validKindNames = [...]string{"Explicit", "BackingSeconded", "BackingValid", "ApprovalChecking", "ApprovalCheckingMultipleCandidates"}

func (d DisputeStatement) MarshalJSON() ([]byte, error) {
	if !d.Valid {
		return json.Marshal(enum("Invalid", 1, enum("Explicit", d.Kind, nil)))
	}
	var val any
	switch d.Kind {
	case ValidBackingSeconded, ValidBackingValid:
		val = d.Hash
	case ValidApprovalCheckingMultipleCandidates:
		hs := d.Hashes
		if hs == nil {
			hs = []Hash{}
		}
		val = hs
	}
	name := "Unknown"
	if int(d.Kind) < len(validKindNames) {
		name = validKindNames[d.Kind]
	}
	return json.Marshal(enum("Valid", 0, enum(name, d.Kind, val)))
}

func (s DisputeStatementSet) MarshalJSON() ([]byte, error) {
	sts := make([]any, len(s.Statements))
	for i, st := range s.Statements {
		sts[i] = []any{st.Statement, st.ValidatorIndex, st.Signature}
	}
	return json.Marshal(obj("candidate_hash", s.CandidateHash, "session", s.Session, "statements", sts))
}

func (d InherentData) MarshalJSON() ([]byte, error) {
	bf, bc, ds := d.Bitfields, d.BackedCandidates, d.Disputes
	if bf == nil {
		bf = []UncheckedSignedAvailabilityBitfield{}
	}
	if bc == nil {
		bc = []BackedCandidate{}
	}
	if ds == nil {
		ds = []DisputeStatementSet{}
	}
	return json.Marshal(obj("bitfields", bf, "backed_candidates", bc, "disputes", ds, "parent_header", d.ParentHeader))
}

func (s ScheduledCore) MarshalJSON() ([]byte, error) {
	var c any
	if s.Collator != nil {
		c = *s.Collator
	}
	return json.Marshal(obj("para_id", s.ParaID, "collator", c))
}

func (o OccupiedCore) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj(
		"next_up_on_available", o.NextUpOnAvailable,
		"occupied_since", o.OccupiedSince,
		"time_out_at", o.TimeOutAt,
		"next_up_on_time_out", o.NextUpOnTimeOut,
		"availability", o.Availability,
		"group_responsible", o.GroupResponsible,
		"candidate_hash", o.CandidateHash,
		"candidate_descriptor", o.CandidateDescriptor,
	))
}

func (c CoreState) MarshalJSON() ([]byte, error) {
	switch c.Kind {
	case CoreOccupied:
		return json.Marshal(enum("Occupied", 0, c.Occupied))
	case CoreScheduled:
		return json.Marshal(enum("Scheduled", 1, c.Scheduled))
	}
	return json.Marshal(enum("Free", 2, nil))
}

func (m MisbehaviorReport) MarshalJSON() ([]byte, error) {
	return json.Marshal(obj(
		"session", m.Session,
		"candidate_hash", m.CandidateHash,
		"validator_index", m.ValidatorIndex,
		"first", []any{m.First.Statement, m.First.Signature},
		"second", []any{m.Second.Statement, m.Second.Signature},
	))
}

// unmarshalHex reads a 0x-hex JSON string of exactly len(dst) bytes.
func unmarshalHex(b []byte, dst []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return fmt.Errorf("%w: %v", codec.ErrInvalidValue, err)
	}
	if len(raw) != len(dst) {
		return fmt.Errorf("%w: %d bytes, want %d", codec.ErrInvalidValue, len(raw), len(dst))
	}
	copy(dst, raw)
	return nil
}

func (h *Hash) UnmarshalJSON(b []byte) error        { return unmarshalHex(b, h[:]) }
func (v *ValidatorID) UnmarshalJSON(b []byte) error { return unmarshalHex(b, v[:]) }
func (v *CollatorID) UnmarshalJSON(b []byte) error  { return unmarshalHex(b, v[:]) }
