package types

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// Random, canonical values of every wire type, for the live polkadot-js
// cross-check, property tests and fuzz seeds. Each generator takes only a
// *rand.Rand, so a fixed seed reproduces its values; every value it returns
// encodes canonically (BitVec padding zero, descriptors of a known layout).
//
// The distributions are skewed towards the cases codecs get wrong: empty
// and one-element sequences, lengths that need a two- or four-byte compact
// prefix, bit lengths that are not multiples of 8, u32 extremes, every enum
// variant, Some and None, v1, v2 and unknown-version descriptors, core index
// injected or not.

// rndU32 is a u32 that is often 0, the maximum or small.
func rndU32(r *rand.Rand) uint32 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return math.MaxUint32
	case 2:
		return uint32(r.IntN(256))
	}
	return r.Uint32()
}

func rndFill(r *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
}

func rndHash(r *rand.Rand) (h Hash) { rndFill(r, h[:]); return h }

func rndSig(r *rand.Rand) (s [64]byte) { rndFill(r, s[:]); return s }

// rndLen is a sequence length: empty, one, a few, or (rarely) past 63 so the
// compact prefix takes two bytes. max bounds the "few" case.
func rndLen(r *rand.Rand, max int) int {
	switch r.IntN(10) {
	case 0:
		return 0
	case 1:
		return 1
	}
	return r.IntN(max + 1)
}

// rndBlob is a Vec<u8>: often empty or short, sometimes 64..300 bytes
// (two-byte compact length).
func rndBlob(r *rand.Rand) []byte {
	n := 0
	switch r.IntN(8) {
	case 0:
	case 1:
		n = 64 + r.IntN(237)
	default:
		n = 1 + r.IntN(40)
	}
	b := make([]byte, n)
	rndFill(r, b)
	return b
}

// rndBits is a random BitVec of n bits with zero padding.
func rndBits(r *rand.Rand, n int) BitVec {
	v := NewBitVec(n)
	rndFill(r, v.Bytes)
	if n%8 != 0 {
		v.Bytes[len(v.Bytes)-1] &= byte(1<<(n%8)) - 1
	}
	return v
}

// rndBitLength favours bit lengths that are not a multiple of 8, with 0,
// exact byte multiples and (rarely) more than 63 bits among them.
func rndBitLength(r *rand.Rand) int {
	switch r.IntN(10) {
	case 0:
		return 0
	case 1:
		return 8 * (1 + r.IntN(8))
	case 2:
		return 64 + r.IntN(600)
	}
	return 1 + r.IntN(130)
}

// randomBitVec is a BitVec<u8, Lsb0> of a random length.
func randomBitVec(r *rand.Rand) BitVec { return rndBits(r, rndBitLength(r)) }

func randomSignedBitfield(r *rand.Rand) UncheckedSignedAvailabilityBitfield {
	return UncheckedSignedAvailabilityBitfield{
		Payload:        randomBitVec(r),
		ValidatorIndex: rndU32(r),
		Signature:      rndSig(r),
	}
}

// randomCandidateDescriptor is a v1 descriptor (some reserved byte
// non-zero), a v2 one (version 0, reserved bytes zero) or, rarely, one of an
// unknown version (reserved bytes zero, version byte not 0).
func randomCandidateDescriptor(r *rand.Rand) CandidateDescriptor {
	d := NewCandidateDescriptorV2(rndU32(r), rndHash(r), uint16(r.Uint32()), rndU32(r),
		rndHash(r), rndHash(r), rndHash(r), rndHash(r), rndHash(r))
	switch r.IntN(10) {
	case 0, 1, 2, 3:
		// v1: a collator key and signature fill the reserved bytes. Now
		// and then only one of the two regions is non-zero, which the
		// RFC-103 rule must still read as v1.
		switch r.IntN(4) {
		case 0:
			d.Collator = [32]byte(rndHash(r))
			d.Collator[31] |= 1
		case 1:
			d.Signature = rndSig(r)
			d.Signature[0] |= 1
		default:
			d.Collator = [32]byte(rndHash(r))
			d.Signature = rndSig(r)
			d.Signature[0] |= 1
		}
	case 4:
		d.Collator[0] = byte(1 + r.IntN(255))
	}
	return d
}

// UMP signal encodings: SelectCore(CoreSelector(u8), ClaimQueueOffset(u8))
// and ApprovedPeer(BoundedVec<u8, 64>).
func rndUMPSignal(r *rand.Rand) []byte {
	if r.IntN(2) == 0 {
		return SelectCoreSignal(uint8(r.Uint32()), uint8(r.Uint32()))
	}
	peer := make([]byte, r.IntN(65))
	rndFill(r, peer)
	return append(codec.AppendCompact([]byte{UMPSignalApprovedPeer}, uint64(len(peer))), peer...)
}

func randomCandidateCommitments(r *rand.Rand) CandidateCommitments {
	var c CandidateCommitments
	for range rndLen(r, 4) {
		msg := rndBlob(r)
		if len(msg) == 0 {
			msg = []byte{0} // an empty message would act as the UMP separator
		}
		c.UpwardMessages = append(c.UpwardMessages, msg)
	}
	if r.IntN(3) == 0 {
		// The empty separator, then UMP signals (possibly none).
		c.UpwardMessages = append(c.UpwardMessages, []byte{})
		for range r.IntN(3) {
			c.UpwardMessages = append(c.UpwardMessages, rndUMPSignal(r))
		}
	}
	for range rndLen(r, 3) {
		c.HorizontalMessages = append(c.HorizontalMessages, OutboundHrmpMessage{Recipient: rndU32(r), Data: rndBlob(r)})
	}
	switch r.IntN(8) {
	case 0, 1, 2, 3:
		// None
	case 4:
		// Some of a code past 16383 bytes: a four-byte compact length.
		code := make([]byte, 16384+r.IntN(512))
		rndFill(r, code)
		c.NewValidationCode = &code
	default:
		code := rndBlob(r)
		c.NewValidationCode = &code
	}
	c.HeadData = rndBlob(r)
	c.ProcessedDownwardMessages = rndU32(r)
	c.HrmpWatermark = rndU32(r)
	return c
}

func randomCandidateReceipt(r *rand.Rand) CandidateReceipt {
	return CandidateReceipt{Descriptor: randomCandidateDescriptor(r), CommitmentsHash: rndHash(r)}
}

func randomCommittedCandidateReceipt(r *rand.Rand) CommittedCandidateReceipt {
	return CommittedCandidateReceipt{Descriptor: randomCandidateDescriptor(r), Commitments: randomCandidateCommitments(r)}
}

func randomValidityAttestation(r *rand.Rand) ValidityAttestation {
	kind := AttestationImplicit
	if r.IntN(2) == 0 {
		kind = AttestationExplicit
	}
	return ValidityAttestation{Kind: kind, Signature: rndSig(r)}
}

// randomBackedCandidate has one vote per set bit of its group's bits, and
// half the time the core index injected after them.
func randomBackedCandidate(r *rand.Rand) BackedCandidate {
	size := rndLen(r, 7)
	if r.IntN(12) == 0 {
		size = 60 + r.IntN(20) // with an injected core, past 63 bits
	}
	group := rndBits(r, size)
	b := BackedCandidate{Candidate: randomCommittedCandidateReceipt(r), ValidatorIndices: group}
	for range group.CountOnes() {
		b.ValidityVotes = append(b.ValidityVotes, randomValidityAttestation(r))
	}
	if r.IntN(2) == 0 {
		b.ValidatorIndices, _ = InjectCoreIndex(group, CoreIndex(r.IntN(256)))
	}
	return b
}

// randomDisputeStatement draws each of the six statement kinds equally.
func randomDisputeStatement(r *rand.Rand) DisputeStatement {
	k := r.IntN(6)
	if k == 5 {
		return DisputeStatement{Valid: false, Kind: InvalidExplicit}
	}
	d := DisputeStatement{Valid: true, Kind: uint8(k)}
	switch d.Kind {
	case ValidBackingSeconded, ValidBackingValid:
		d.Hash = rndHash(r)
	case ValidApprovalCheckingMultipleCandidates:
		for range rndLen(r, 4) {
			d.Hashes = append(d.Hashes, rndHash(r))
		}
	}
	return d
}

func randomDisputeStatementSet(r *rand.Rand) DisputeStatementSet {
	s := DisputeStatementSet{CandidateHash: rndHash(r), Session: rndU32(r)}
	for range rndLen(r, 6) {
		s.Statements = append(s.Statements, DisputeStatementEntry{
			Statement: randomDisputeStatement(r), ValidatorIndex: rndU32(r), Signature: rndSig(r),
		})
	}
	return s
}

var digestKinds = [...]DigestItemKind{DigestOther, DigestConsensus, DigestSeal, DigestPreRuntime, DigestRuntimeEnvironmentUpdated}

// randomDigestItem draws each of the five digest item kinds equally.
func randomDigestItem(r *rand.Rand) DigestItem {
	d := DigestItem{Kind: digestKinds[r.IntN(len(digestKinds))]}
	switch d.Kind {
	case DigestPreRuntime, DigestConsensus, DigestSeal:
		engines := [...]string{"BABE", "BEEF", "aura", "FRNK", "pow_"}
		if i := r.IntN(len(engines) + 1); i < len(engines) {
			copy(d.Engine[:], engines[i])
		} else {
			rndFill(r, d.Engine[:])
		}
		d.Data = rndBlob(r)
	case DigestOther:
		d.Data = rndBlob(r)
	}
	return d
}

// randomHeader has a block number from each compact size class in turn
// (one, two, four bytes and the big-integer form).
func randomHeader(r *rand.Rand) Header {
	var n uint32
	switch r.IntN(4) {
	case 0:
		n = uint32(r.IntN(1 << 6))
	case 1:
		n = 1<<6 + uint32(r.IntN(1<<14-1<<6))
	case 2:
		n = 1<<14 + uint32(r.IntN(1<<30-1<<14))
	default:
		n = 1<<30 + uint32(r.Uint64N(1<<32-1<<30))
	}
	h := Header{ParentHash: rndHash(r), Number: n, StateRoot: rndHash(r), ExtrinsicsRoot: rndHash(r)}
	for range rndLen(r, 5) {
		h.Digest = append(h.Digest, randomDigestItem(r))
	}
	return h
}

func randomInherentData(r *rand.Rand) InherentData {
	var d InherentData
	for range rndLen(r, 5) {
		d.Bitfields = append(d.Bitfields, randomSignedBitfield(r))
	}
	for range rndLen(r, 3) {
		d.BackedCandidates = append(d.BackedCandidates, randomBackedCandidate(r))
	}
	for range rndLen(r, 2) {
		d.Disputes = append(d.Disputes, randomDisputeStatementSet(r))
	}
	d.ParentHeader = randomHeader(r)
	return d
}

// randomParaInherentExtrinsic is a v4 or v5 paraInherent.enter with the
// Polkadot pallet index or a random one.
func randomParaInherentExtrinsic(r *rand.Rand) ParaInherentExtrinsic {
	x := ParaInherentExtrinsic{Version: ExtrinsicV4Unsigned, PalletIndex: ParaInherentPalletIndex, Data: randomInherentData(r)}
	if r.IntN(2) == 0 {
		x.Version = ExtrinsicV5Bare
	}
	if r.IntN(3) == 0 {
		x.PalletIndex, x.CallIndex = uint8(r.Uint32()), uint8(r.Uint32())
	}
	return x
}

// randomInherentDataMap holds, in identifier order, parachn0 (usually) and
// a few other entries with printable or arbitrary identifiers.
func randomInherentDataMap(r *rand.Rand) InherentDataMap {
	var m InherentDataMap
	if r.IntN(4) != 0 {
		d := randomInherentData(r)
		m.Put(ParachainsInherentIdentifier, Encode(&d))
	}
	for range rndLen(r, 3) {
		var id [8]byte
		if r.IntN(2) == 0 {
			copy(id[:], []string{"timstap0", "babeslot", "auraslot", "uncles00"}[r.IntN(4)])
		} else {
			rndFill(r, id[:])
		}
		m.Put(id, rndBlob(r))
	}
	return m
}

// TestRandomValuesRoundTrip: every generated value decodes from its own
// encoding, re-encodes identically, and its encoded size is predicted.
func TestRandomValuesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := crossCheckTypes()
	gens = append(gens,
		crossType{"extrinsic", func() crossValue { return new(ParaInherentExtrinsic) },
			func(r *rand.Rand) crossValue { v := randomParaInherentExtrinsic(r); return &v }},
		crossType{"inherent-data-map", func() crossValue { return new(InherentDataMap) },
			func(r *rand.Rand) crossValue { v := randomInherentDataMap(r); return &v }},
	)
	for _, g := range gens {
		for i := range 200 {
			v := g.random(r)
			enc := Encode(v)
			back := g.new()
			if err := Decode(enc, back); err != nil {
				t.Fatalf("%s #%d: decode of own encoding: %v\n%x", g.name, i, err, enc)
			}
			if re := Encode(back); !bytes.Equal(re, enc) {
				t.Fatalf("%s #%d: re-encoding differs\n in: %x\nout: %x", g.name, i, enc, re)
			}
			if s, ok := v.(interface{ EncodedSize() int }); ok && s.EncodedSize() != len(enc) {
				t.Fatalf("%s #%d: EncodedSize %d, encoding %d bytes", g.name, i, s.EncodedSize(), len(enc))
			}
		}
	}
}
