package types

import (
	"encoding/binary"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// DescriptorVersion is what RFC-103 calls the descriptor version.
type DescriptorVersion int

const (
	DescriptorV1 DescriptorVersion = 1
	DescriptorV2 DescriptorVersion = 2
	// DescriptorV3 (version byte 1) exists only once the CandidateReceiptV3
	// node feature is on; before that the same bytes read as V1.
	DescriptorV3 DescriptorVersion = 3
	// DescriptorUnknown: not V1, but the version byte is not one the
	// active rule knows.
	DescriptorUnknown DescriptorVersion = 0
)

func (v DescriptorVersion) String() string {
	switch v {
	case DescriptorV1:
		return "v1"
	case DescriptorV2:
		return "v2"
	case DescriptorV3:
		return "v3"
	}
	return "unknown"
}

// Node feature bits (polkadot_primitives node_features::FeatureIndex) that
// change how a descriptor's bytes are read. The runtime publishes the node
// features as a BitVec<u8, Lsb0>.
const (
	// NodeFeatureCandidateReceiptV2 once gated V2 receipts; today's runtime
	// no longer checks it, so the V2 rule applies whether or not it is set.
	NodeFeatureCandidateReceiptV2 = 3
	// NodeFeatureCandidateReceiptV3 switches on the V3 version rule.
	NodeFeatureCandidateReceiptV3 = 4
)

// CandidateReceiptV3Enabled reports whether the node features turn the V3
// descriptor rule on.
func CandidateReceiptV3Enabled(features BitVec) bool {
	return features.Len > NodeFeatureCandidateReceiptV3 &&
		len(features.Bytes) > NodeFeatureCandidateReceiptV3/8 &&
		features.Get(NodeFeatureCandidateReceiptV3)
}

// CandidateDescriptorSize is the encoded size of a descriptor in every version.
const CandidateDescriptorSize = 292

// CandidateDescriptor holds the 292 bytes of a descriptor in the v1 layout.
// The v2 layout (RFC-103) reads the same bytes differently: Collator holds
// version (1 byte), core index (u16), session index (u32) and 25 reserved
// bytes; Signature is 64 reserved bytes. Version tells which layout applies.
type CandidateDescriptor struct {
	ParaID                      ParaID
	RelayParent                 Hash
	Collator                    CollatorID
	PersistedValidationDataHash Hash
	PovHash                     Hash
	ErasureRoot                 Hash
	Signature                   CollatorSignature
	ParaHead                    Hash
	ValidationCodeHash          Hash
}

// NewCandidateDescriptorV2 builds a v2 descriptor: zero version, core and
// session in place of the collator key, reserved bytes zero.
func NewCandidateDescriptorV2(para ParaID, relayParent Hash, core uint16, session SessionIndex,
	pvdHash, povHash, erasureRoot, paraHead, codeHash Hash) CandidateDescriptor {
	d := CandidateDescriptor{
		ParaID: para, RelayParent: relayParent, PersistedValidationDataHash: pvdHash,
		PovHash: povHash, ErasureRoot: erasureRoot, ParaHead: paraHead, ValidationCodeHash: codeHash,
	}
	binary.LittleEndian.PutUint16(d.Collator[1:3], core)
	binary.LittleEndian.PutUint32(d.Collator[3:7], session)
	return d
}

// NewCandidateDescriptorV3 builds a v3 descriptor: version byte 1, core and
// session as in v2, the scheduling parent in bytes 164..196, offset and
// reserved bytes zero.
func NewCandidateDescriptorV3(para ParaID, relayParent Hash, core uint16, session SessionIndex,
	pvdHash, povHash, erasureRoot, paraHead, codeHash, schedulingParent Hash) CandidateDescriptor {
	d := NewCandidateDescriptorV2(para, relayParent, core, session, pvdHash, povHash, erasureRoot, paraHead, codeHash)
	d.Collator[0] = 1
	copy(d.Signature[:32], schedulingParent[:])
	return d
}

// DescriptorLayout is a descriptor's bytes 36..68 and 164..228 read in the
// V3 layout (the V2 layout is the same with scheduling_session_offset,
// reserved1 and scheduling_parent ++ reserved2 merged into its 25 and 64
// reserved bytes). Which reading is meaningful depends on the version.
type DescriptorLayout struct {
	Version                 uint8 // byte 36
	CoreIndex               uint16
	SessionIndex            SessionIndex
	SchedulingSessionOffset uint8    // byte 43
	Reserved1               [24]byte // bytes 44..68
	SchedulingParent        Hash     // bytes 164..196
	Reserved2               [32]byte // bytes 196..228
}

// Layout reads the descriptor in the V3 layout.
func (d *CandidateDescriptor) Layout() DescriptorLayout {
	l := DescriptorLayout{
		Version:                 d.Collator[0],
		CoreIndex:               binary.LittleEndian.Uint16(d.Collator[1:3]),
		SessionIndex:            binary.LittleEndian.Uint32(d.Collator[3:7]),
		SchedulingSessionOffset: d.Collator[7],
	}
	copy(l.Reserved1[:], d.Collator[8:])
	copy(l.SchedulingParent[:], d.Signature[:32])
	copy(l.Reserved2[:], d.Signature[32:])
	return l
}

// VersionWith is the runtime's version(v3_enabled). With the V3 node
// feature off it is Version, the rule every node applied before V3, kept
// exactly so that old and new nodes agree until the feature is switched on.
// With it on, only bytes 44..60 (reserved1[0..16]) decide V1 — V1's
// collator key is random, so 16 zero bytes there do not happen by chance —
// which frees the offset byte, the rest of reserved1 and bytes 164..228 for
// V3; then version byte 0 is V2, 1 is V3 and anything else unknown.
func (d *CandidateDescriptor) VersionWith(v3Enabled bool) DescriptorVersion {
	if !v3Enabled {
		return d.Version()
	}
	for _, b := range d.Collator[8:24] {
		if b != 0 {
			return DescriptorV1
		}
	}
	switch d.Collator[0] {
	case 0:
		return DescriptorV2
	case 1:
		return DescriptorV3
	}
	return DescriptorUnknown
}

// CoreIndexWith is the runtime's core_index(v3_enabled): the descriptor's
// core for every version but V1 (an Unknown version still has the field;
// the runtime drops such candidates elsewhere).
func (d *CandidateDescriptor) CoreIndexWith(v3Enabled bool) (CoreIndex, bool) {
	if d.VersionWith(v3Enabled) == DescriptorV1 {
		return 0, false
	}
	return CoreIndex(binary.LittleEndian.Uint16(d.Collator[1:3])), true
}

// SessionIndexWith is the runtime's session_index(v3_enabled): the
// descriptor's session for every version but V1.
func (d *CandidateDescriptor) SessionIndexWith(v3Enabled bool) (SessionIndex, bool) {
	if d.VersionWith(v3Enabled) == DescriptorV1 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(d.Collator[3:7]), true
}

// SchedulingParent is the runtime's scheduling_parent(v3_enabled): the
// block whose claim queue and backing group the candidate was scheduled by.
// Only V3 separates it from the relay parent (the execution context).
func (d *CandidateDescriptor) SchedulingParent(v3Enabled bool) Hash {
	if d.VersionWith(v3Enabled) == DescriptorV3 {
		var h Hash
		copy(h[:], d.Signature[:32])
		return h
	}
	return d.RelayParent
}

// SchedulingSession is the runtime's scheduling_session(v3_enabled): none
// for V1 and Unknown, the session for V2, and the session plus the offset
// (saturating, as the runtime adds) for V3.
func (d *CandidateDescriptor) SchedulingSession(v3Enabled bool) (SessionIndex, bool) {
	s := binary.LittleEndian.Uint32(d.Collator[3:7])
	switch d.VersionWith(v3Enabled) {
	case DescriptorV2:
		return s, true
	case DescriptorV3:
		off := SessionIndex(d.Collator[7])
		if s > ^SessionIndex(0)-off {
			return ^SessionIndex(0), true
		}
		return s + off, true
	}
	return 0, false
}

// Version applies the RFC-103 rule as deployed before V3 (the runtime's
// version(false)): any non-zero reserved byte means v1; otherwise version
// byte 0 means v2 and anything else is unknown. A V3 descriptor reads as V1
// here, which is why V3 needs a node feature.
func (d *CandidateDescriptor) Version() DescriptorVersion {
	if d.Signature != (CollatorSignature{}) {
		return DescriptorV1
	}
	for _, b := range d.Collator[7:] {
		if b != 0 {
			return DescriptorV1
		}
	}
	if d.Collator[0] == 0 {
		return DescriptorV2
	}
	return DescriptorUnknown
}

// V2VersionByte is the raw version field of the v2 layout.
func (d *CandidateDescriptor) V2VersionByte() uint8 { return d.Collator[0] }

// CoreIndex is the core of a v2 descriptor; ok is false for other versions.
func (d *CandidateDescriptor) CoreIndex() (core CoreIndex, ok bool) {
	if d.Version() != DescriptorV2 {
		return 0, false
	}
	return CoreIndex(binary.LittleEndian.Uint16(d.Collator[1:3])), true
}

// SessionIndex is the session of a v2 descriptor; ok is false otherwise.
func (d *CandidateDescriptor) SessionIndex() (s SessionIndex, ok bool) {
	if d.Version() != DescriptorV2 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(d.Collator[3:7]), true
}

// CollatorSignaturePayload is what a v1 collator signs: relay_parent ++
// para_id ++ persisted_validation_data_hash ++ pov_hash ++ validation_code_hash.
func (d *CandidateDescriptor) CollatorSignaturePayload() []byte {
	b := make([]byte, 0, 132)
	b = append(b, d.RelayParent[:]...)
	b = binary.LittleEndian.AppendUint32(b, d.ParaID)
	b = append(b, d.PersistedValidationDataHash[:]...)
	b = append(b, d.PovHash[:]...)
	b = append(b, d.ValidationCodeHash[:]...)
	return b
}

func (d *CandidateDescriptor) Encode(w *codec.Writer) {
	w.U32(d.ParaID)
	w.Raw(d.RelayParent[:])
	w.Raw(d.Collator[:])
	w.Raw(d.PersistedValidationDataHash[:])
	w.Raw(d.PovHash[:])
	w.Raw(d.ErasureRoot[:])
	w.Raw(d.Signature[:])
	w.Raw(d.ParaHead[:])
	w.Raw(d.ValidationCodeHash[:])
}

func (d *CandidateDescriptor) Decode(r *codec.Reader) error {
	b := r.Fixed("candidate descriptor", CandidateDescriptorSize)
	if b == nil {
		return r.Err()
	}
	d.ParaID = binary.LittleEndian.Uint32(b)
	copy(d.RelayParent[:], b[4:36])
	copy(d.Collator[:], b[36:68])
	copy(d.PersistedValidationDataHash[:], b[68:100])
	copy(d.PovHash[:], b[100:132])
	copy(d.ErasureRoot[:], b[132:164])
	copy(d.Signature[:], b[164:228])
	copy(d.ParaHead[:], b[228:260])
	copy(d.ValidationCodeHash[:], b[260:292])
	return nil
}

// OutboundHrmpMessage is an HRMP message to another para.
type OutboundHrmpMessage struct {
	Recipient ParaID
	Data      []byte
}

// CandidateCommitments are the outputs of a candidate's execution.
// UpwardMessages may end with an empty separator message followed by UMP
// signals (see UMPSignals). NewValidationCode nil means None.
type CandidateCommitments struct {
	UpwardMessages            [][]byte
	HorizontalMessages        []OutboundHrmpMessage
	NewValidationCode         *[]byte
	HeadData                  []byte
	ProcessedDownwardMessages uint32
	HrmpWatermark             BlockNumber
}

func (c *CandidateCommitments) Encode(w *codec.Writer) {
	w.Compact(uint64(len(c.UpwardMessages)))
	for _, m := range c.UpwardMessages {
		w.VecU8(m)
	}
	w.Compact(uint64(len(c.HorizontalMessages)))
	for i := range c.HorizontalMessages {
		w.U32(c.HorizontalMessages[i].Recipient)
		w.VecU8(c.HorizontalMessages[i].Data)
	}
	if c.NewValidationCode == nil {
		w.U8(0)
	} else {
		w.U8(1)
		w.VecU8(*c.NewValidationCode)
	}
	w.VecU8(c.HeadData)
	w.U32(c.ProcessedDownwardMessages)
	w.U32(c.HrmpWatermark)
}

func (c *CandidateCommitments) Decode(r *codec.Reader) error {
	n := r.Len("upward_messages", 1, r.Lim.MaxItems)
	c.UpwardMessages = nil
	if n > 0 {
		c.UpwardMessages = make([][]byte, n)
		for i := range c.UpwardMessages {
			c.UpwardMessages[i] = r.Bytes("upward message", 0)
		}
	}
	n = r.Len("horizontal_messages", 5, r.Lim.MaxItems)
	c.HorizontalMessages = nil
	if n > 0 {
		c.HorizontalMessages = make([]OutboundHrmpMessage, n)
		for i := range c.HorizontalMessages {
			c.HorizontalMessages[i].Recipient = r.U32("hrmp recipient")
			c.HorizontalMessages[i].Data = r.Bytes("hrmp data", 0)
		}
	}
	c.NewValidationCode = nil
	if r.OptionTag("new_validation_code") {
		code := r.Bytes("new_validation_code", 0)
		c.NewValidationCode = &code
	}
	c.HeadData = r.Bytes("head_data", 0)
	c.ProcessedDownwardMessages = r.U32("processed_downward_messages")
	c.HrmpWatermark = r.U32("hrmp_watermark")
	return r.Err()
}

// Hash is the commitments hash: blake2-256 of the encoding.
func (c *CandidateCommitments) Hash() Hash { return Blake2_256(Encode(c)) }

// UMPSignal kinds (polkadot_primitives UMPSignal enum indices).
const (
	UMPSignalSelectCore   uint8 = 0
	UMPSignalApprovedPeer uint8 = 1
)

// UMPSignals splits the upward messages at the first empty message: what
// comes before are real messages, what comes after are encoded UMP signals.
func (c *CandidateCommitments) UMPSignals() (messages, signals [][]byte) {
	for i, m := range c.UpwardMessages {
		if len(m) == 0 {
			return c.UpwardMessages[:i], c.UpwardMessages[i+1:]
		}
	}
	return c.UpwardMessages, nil
}

// SelectCoreSignal encodes UMPSignal::SelectCore(CoreSelector(selector),
// ClaimQueueOffset(offset)).
func SelectCoreSignal(selector, offset uint8) []byte {
	return []byte{UMPSignalSelectCore, selector, offset}
}

// CandidateReceipt is a descriptor plus the hash of the commitments.
type CandidateReceipt struct {
	Descriptor      CandidateDescriptor
	CommitmentsHash Hash
}

func (c *CandidateReceipt) Encode(w *codec.Writer) {
	c.Descriptor.Encode(w)
	w.Raw(c.CommitmentsHash[:])
}

func (c *CandidateReceipt) Decode(r *codec.Reader) error {
	c.Descriptor.Decode(r)
	r.Array32("commitments_hash", (*[32]byte)(&c.CommitmentsHash))
	return r.Err()
}

// Hash is the candidate hash: blake2-256 of the receipt's encoding.
func (c *CandidateReceipt) Hash() Hash {
	w := codec.NewWriter(CandidateDescriptorSize + 32)
	c.Encode(w)
	return Blake2_256(w.Bytes())
}

// CommittedCandidateReceipt is a descriptor with the full commitments.
type CommittedCandidateReceipt struct {
	Descriptor  CandidateDescriptor
	Commitments CandidateCommitments
}

func (c *CommittedCandidateReceipt) Encode(w *codec.Writer) {
	c.Descriptor.Encode(w)
	c.Commitments.Encode(w)
}

func (c *CommittedCandidateReceipt) Decode(r *codec.Reader) error {
	c.Descriptor.Decode(r)
	return c.Commitments.Decode(r)
}

// Receipt is the CandidateReceipt of this candidate.
func (c *CommittedCandidateReceipt) Receipt() CandidateReceipt {
	return CandidateReceipt{Descriptor: c.Descriptor, CommitmentsHash: c.Commitments.Hash()}
}

// Hash is the candidate hash.
func (c *CommittedCandidateReceipt) Hash() Hash {
	rc := c.Receipt()
	return rc.Hash()
}

// Validity attestation kinds (enum indices).
const (
	AttestationImplicit uint8 = 1 // signs CompactStatement::Seconded
	AttestationExplicit uint8 = 2 // signs CompactStatement::Valid
)

// ValidityAttestation is one backing vote.
type ValidityAttestation struct {
	Kind      uint8
	Signature ValidatorSignature
}

func (a *ValidityAttestation) Encode(w *codec.Writer) {
	w.U8(a.Kind)
	w.Raw(a.Signature[:])
}

func (a *ValidityAttestation) Decode(r *codec.Reader) error {
	a.Kind = r.Variant("validity attestation", func(k uint8) bool { return k == AttestationImplicit || k == AttestationExplicit })
	r.Array64("validity attestation signature", (*[64]byte)(&a.Signature))
	return r.Err()
}

// BackedCandidate is a candidate with its backing votes. ValidatorIndices has
// one bit per member of the backing group, optionally followed by 8 bits
// holding the core index (InjectCoreIndex). Votes follow the set bits.
type BackedCandidate struct {
	Candidate        CommittedCandidateReceipt
	ValidityVotes    []ValidityAttestation
	ValidatorIndices BitVec
}

func (b *BackedCandidate) Encode(w *codec.Writer) {
	b.Candidate.Encode(w)
	w.Compact(uint64(len(b.ValidityVotes)))
	for i := range b.ValidityVotes {
		b.ValidityVotes[i].Encode(w)
	}
	b.ValidatorIndices.Encode(w)
}

func (b *BackedCandidate) Decode(r *codec.Reader) error {
	b.Candidate.Decode(r)
	n := r.Len("validity_votes", 65, r.Lim.MaxVotes)
	b.ValidityVotes = nil
	if n > 0 {
		b.ValidityVotes = make([]ValidityAttestation, n)
		for i := range b.ValidityVotes {
			b.ValidityVotes[i].Decode(r)
		}
	}
	if r.Err() != nil {
		return r.Err()
	}
	return b.ValidatorIndices.Decode(r)
}

// Hash is the candidate hash.
func (b *BackedCandidate) Hash() Hash { return b.Candidate.Hash() }

// InjectCoreIndex returns the group's bits followed by the core index as 8
// bits (LSB first), as the runtime expects once the core-index feature is on.
func InjectCoreIndex(groupBits BitVec, core CoreIndex) (BitVec, error) {
	if core > 255 {
		return BitVec{}, fmt.Errorf("inject core index %d: %w: does not fit 8 bits", core, codec.ErrInvalidValue)
	}
	out := NewBitVec(groupBits.Len + 8)
	copy(out.Bytes, groupBits.Bytes)
	for i := 0; i < 8; i++ {
		out.Set(groupBits.Len+i, core&(1<<i) != 0)
	}
	return out, nil
}

// ExtractCoreIndex splits validator_indices into the group's bits and the
// injected core index. ok is false when fewer than 8 bits are present.
func ExtractCoreIndex(indices BitVec) (groupBits BitVec, core CoreIndex, ok bool) {
	if indices.Len < 8 {
		return indices, 0, false
	}
	n := indices.Len - 8
	groupBits = NewBitVec(n)
	copy(groupBits.Bytes, indices.Bytes[:len(groupBits.Bytes)])
	if n%8 != 0 {
		groupBits.Bytes[len(groupBits.Bytes)-1] &= byte(1<<(n%8)) - 1
	}
	for i := 0; i < 8; i++ {
		if indices.Get(n + i) {
			core |= 1 << i
		}
	}
	return groupBits, core, true
}
