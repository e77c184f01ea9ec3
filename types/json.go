package types

import (
	"bytes"
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

// JSONOptions says how to print values whose reading depends on the
// runtime's node features. The bytes of a descriptor are the same in every
// version; only their reading changes, so decoding never needs these.
type JSONOptions struct {
	// CandidateReceiptV3: node feature CandidateReceiptV3 is on, so a
	// descriptor's version is VersionWith(true), and every descriptor that is
	// not V1 prints in the V3 layout (scheduling_session_offset, reserved1
	// [24], scheduling_parent, reserved2 [32]), as the V3 runtime's
	// CandidateDescriptorV2 struct has those fields for V2 and V3 alike.
	CandidateReceiptV3 bool
}

// JSONValue returns v ready for encoding/json, printed with o. Values that
// hold no descriptor come back as they are (their MarshalJSON applies);
// MarshalJSON of the others is JSONValue with the zero options.
func JSONValue(v any, o JSONOptions) any {
	v3 := o.CandidateReceiptV3
	if j, ok := v.(jsonValuer); ok {
		return j.jsonValue(v3)
	}
	// Values (not pointers) of the same types: their methods take a
	// pointer, so address a copy.
	switch x := v.(type) {
	case CandidateDescriptor:
		return x.jsonValue(v3)
	case CandidateReceipt:
		return x.jsonValue(v3)
	case CommittedCandidateReceipt:
		return x.jsonValue(v3)
	case BackedCandidate:
		return x.jsonValue(v3)
	case InherentData:
		return x.jsonValue(v3)
	case OccupiedCore:
		return x.jsonValue(v3)
	case CoreState:
		return x.jsonValue(v3)
	}
	return v
}

// jsonValuer is every type whose JSON reads a descriptor, and so depends
// on JSONOptions.
type jsonValuer interface {
	jsonValue(v3 bool) *OrderedObject
}

func (d CandidateDescriptor) MarshalJSON() ([]byte, error) { return json.Marshal(d.jsonValue(false)) }

func (d *CandidateDescriptor) jsonValue(v3 bool) *OrderedObject {
	if d.VersionWith(v3) == DescriptorV1 {
		return obj(
			"para_id", d.ParaID,
			"relay_parent", d.RelayParent,
			"collator", d.Collator,
			"persisted_validation_data_hash", d.PersistedValidationDataHash,
			"pov_hash", d.PovHash,
			"erasure_root", d.ErasureRoot,
			"signature", d.Signature,
			"para_head", d.ParaHead,
			"validation_code_hash", d.ValidationCodeHash,
		)
	}
	l := d.Layout()
	if v3 {
		return obj(
			"para_id", d.ParaID,
			"relay_parent", d.RelayParent,
			"version", l.Version,
			"core_index", l.CoreIndex,
			"session_index", l.SessionIndex,
			"scheduling_session_offset", l.SchedulingSessionOffset,
			"reserved1", hx(l.Reserved1[:]),
			"persisted_validation_data_hash", d.PersistedValidationDataHash,
			"pov_hash", d.PovHash,
			"erasure_root", d.ErasureRoot,
			"scheduling_parent", l.SchedulingParent,
			"reserved2", hx(l.Reserved2[:]),
			"para_head", d.ParaHead,
			"validation_code_hash", d.ValidationCodeHash,
		)
	}
	return obj(
		"para_id", d.ParaID,
		"relay_parent", d.RelayParent,
		"version", l.Version,
		"core_index", l.CoreIndex,
		"session_index", l.SessionIndex,
		"reserved1", hx(d.Collator[7:]),
		"persisted_validation_data_hash", d.PersistedValidationDataHash,
		"pov_hash", d.PovHash,
		"erasure_root", d.ErasureRoot,
		"reserved2", hx(d.Signature[:]),
		"para_head", d.ParaHead,
		"validation_code_hash", d.ValidationCodeHash,
	)
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

func (c CandidateReceipt) MarshalJSON() ([]byte, error) { return json.Marshal(c.jsonValue(false)) }

func (c *CandidateReceipt) jsonValue(v3 bool) *OrderedObject {
	return obj("descriptor", c.Descriptor.jsonValue(v3), "commitments_hash", c.CommitmentsHash)
}

func (c CommittedCandidateReceipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.jsonValue(false))
}

func (c *CommittedCandidateReceipt) jsonValue(v3 bool) *OrderedObject {
	return obj("descriptor", c.Descriptor.jsonValue(v3), "commitments", c.Commitments)
}

func (a ValidityAttestation) MarshalJSON() ([]byte, error) {
	name := "Explicit"
	if a.Kind == AttestationImplicit {
		name = "Implicit"
	}
	return json.Marshal(enum(name, a.Kind, a.Signature))
}

func (b BackedCandidate) MarshalJSON() ([]byte, error) { return json.Marshal(b.jsonValue(false)) }

func (b *BackedCandidate) jsonValue(v3 bool) *OrderedObject {
	votes := b.ValidityVotes
	if votes == nil {
		votes = []ValidityAttestation{}
	}
	return obj("candidate", b.Candidate.jsonValue(v3), "validity_votes", votes, "validator_indices", b.ValidatorIndices)
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

func (d InherentData) MarshalJSON() ([]byte, error) { return json.Marshal(d.jsonValue(false)) }

func (d *InherentData) jsonValue(v3 bool) *OrderedObject {
	bf, ds := d.Bitfields, d.Disputes
	if bf == nil {
		bf = []UncheckedSignedAvailabilityBitfield{}
	}
	bc := make([]*OrderedObject, len(d.BackedCandidates))
	for i := range d.BackedCandidates {
		bc[i] = d.BackedCandidates[i].jsonValue(v3)
	}
	if ds == nil {
		ds = []DisputeStatementSet{}
	}
	return obj("bitfields", bf, "backed_candidates", bc, "disputes", ds, "parent_header", d.ParentHeader)
}

func (s ScheduledCore) MarshalJSON() ([]byte, error) {
	var c any
	if s.Collator != nil {
		c = *s.Collator
	}
	return json.Marshal(obj("para_id", s.ParaID, "collator", c))
}

func (o OccupiedCore) MarshalJSON() ([]byte, error) { return json.Marshal(o.jsonValue(false)) }

func (o *OccupiedCore) jsonValue(v3 bool) *OrderedObject {
	return obj(
		"next_up_on_available", o.NextUpOnAvailable,
		"occupied_since", o.OccupiedSince,
		"time_out_at", o.TimeOutAt,
		"next_up_on_time_out", o.NextUpOnTimeOut,
		"availability", o.Availability,
		"group_responsible", o.GroupResponsible,
		"candidate_hash", o.CandidateHash,
		"candidate_descriptor", o.CandidateDescriptor.jsonValue(v3),
	)
}

func (c CoreState) MarshalJSON() ([]byte, error) { return json.Marshal(c.jsonValue(false)) }

func (c *CoreState) jsonValue(v3 bool) *OrderedObject {
	switch c.Kind {
	case CoreOccupied:
		var oc any // a nil *OccupiedCore prints null, as before
		if c.Occupied != nil {
			oc = c.Occupied.jsonValue(v3)
		}
		return enum("Occupied", 0, oc)
	case CoreScheduled:
		return enum("Scheduled", 1, c.Scheduled)
	}
	return enum("Free", 2, nil)
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
