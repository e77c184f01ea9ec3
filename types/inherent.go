package types

import (
	"bytes"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// InherentData is the parachains inherent (ParaInherentData): what a relay
// block author passes to paraInherent.enter.
type InherentData struct {
	Bitfields        []UncheckedSignedAvailabilityBitfield
	BackedCandidates []BackedCandidate
	Disputes         []DisputeStatementSet
	ParentHeader     Header
}

func (d *InherentData) Encode(w *codec.Writer) {
	w.Compact(uint64(len(d.Bitfields)))
	for i := range d.Bitfields {
		d.Bitfields[i].Encode(w)
	}
	w.Compact(uint64(len(d.BackedCandidates)))
	for i := range d.BackedCandidates {
		d.BackedCandidates[i].Encode(w)
	}
	w.Compact(uint64(len(d.Disputes)))
	for i := range d.Disputes {
		d.Disputes[i].Encode(w)
	}
	d.ParentHeader.Encode(w)
}

// Smallest encodings, used to bound sequence lengths by the bytes left.
const (
	minSignedBitfieldSize  = 1 + 4 + 64
	minBackedCandidateSize = CandidateDescriptorSize + 1 + 1 + 1 + 1 + 4 + 4 + 1 + 1
	minDisputeSetSize      = 32 + 4 + 1
)

func (d *InherentData) Decode(r *codec.Reader) error {
	n := r.Len("bitfields", minSignedBitfieldSize, r.Lim.MaxItems)
	d.Bitfields = nil
	if n > 0 {
		d.Bitfields = make([]UncheckedSignedAvailabilityBitfield, n)
		for i := range d.Bitfields {
			if d.Bitfields[i].Decode(r) != nil {
				return r.Err()
			}
		}
	}
	n = r.Len("backed_candidates", minBackedCandidateSize, r.Lim.MaxItems)
	d.BackedCandidates = nil
	if n > 0 {
		d.BackedCandidates = make([]BackedCandidate, n)
		for i := range d.BackedCandidates {
			if d.BackedCandidates[i].Decode(r) != nil {
				return r.Err()
			}
		}
	}
	n = r.Len("disputes", minDisputeSetSize, r.Lim.MaxItems)
	d.Disputes = nil
	if n > 0 {
		d.Disputes = make([]DisputeStatementSet, n)
		for i := range d.Disputes {
			if d.Disputes[i].Decode(r) != nil {
				return r.Err()
			}
		}
	}
	if r.Err() != nil {
		return r.Err()
	}
	return d.ParentHeader.Decode(r)
}

// ParachainsInherentIdentifier is the sp_inherents identifier of the
// parachains inherent.
var ParachainsInherentIdentifier = [8]byte{'p', 'a', 'r', 'a', 'c', 'h', 'n', '0'}

// InherentDataEntry is one entry of an sp_inherents InherentData map.
type InherentDataEntry struct {
	Identifier [8]byte
	Data       []byte // the SCALE encoding of the inherent's value
}

// InherentDataMap is Substrate's sp_inherents::InherentData, a
// BTreeMap<[u8;8], Vec<u8>>: entries are kept in ascending identifier order
// and identifiers are unique, as a BTreeMap encodes them.
type InherentDataMap struct {
	Entries []InherentDataEntry
}

// Put inserts or replaces an entry, keeping the order.
func (m *InherentDataMap) Put(id [8]byte, data []byte) {
	for i := range m.Entries {
		switch c := bytes.Compare(m.Entries[i].Identifier[:], id[:]); {
		case c == 0:
			m.Entries[i].Data = data
			return
		case c > 0:
			m.Entries = append(m.Entries, InherentDataEntry{})
			copy(m.Entries[i+1:], m.Entries[i:])
			m.Entries[i] = InherentDataEntry{Identifier: id, Data: data}
			return
		}
	}
	m.Entries = append(m.Entries, InherentDataEntry{Identifier: id, Data: data})
}

// Get returns the data under id.
func (m *InherentDataMap) Get(id [8]byte) ([]byte, bool) {
	for i := range m.Entries {
		if m.Entries[i].Identifier == id {
			return m.Entries[i].Data, true
		}
	}
	return nil, false
}

// NewParachainsInherentDataMap wraps an encoded parachains inherent in an
// sp_inherents map under "parachn0".
func NewParachainsInherentDataMap(d *InherentData) InherentDataMap {
	var m InherentDataMap
	m.Put(ParachainsInherentIdentifier, Encode(d))
	return m
}

// ParachainsInherent decodes the "parachn0" entry.
func (m *InherentDataMap) ParachainsInherent(lim codec.Limits) (*InherentData, error) {
	b, ok := m.Get(ParachainsInherentIdentifier)
	if !ok {
		return nil, fmt.Errorf("inherent data map: %w: no parachn0 entry", codec.ErrInvalidValue)
	}
	d := new(InherentData)
	if err := DecodeWithLimits(b, d, lim); err != nil {
		return nil, fmt.Errorf("parachn0 entry: %w", err)
	}
	return d, nil
}

func (m *InherentDataMap) Encode(w *codec.Writer) {
	w.Compact(uint64(len(m.Entries)))
	for i := range m.Entries {
		w.Raw(m.Entries[i].Identifier[:])
		w.VecU8(m.Entries[i].Data)
	}
}

func (m *InherentDataMap) Decode(r *codec.Reader) error {
	n := r.Len("inherent data map", 9, r.Lim.MaxItems)
	m.Entries = nil
	if n > 0 {
		m.Entries = make([]InherentDataEntry, n)
		for i := range m.Entries {
			e := &m.Entries[i]
			if b := r.Fixed("inherent identifier", 8); b != nil {
				copy(e.Identifier[:], b)
			}
			if i > 0 && r.Err() == nil && bytes.Compare(m.Entries[i-1].Identifier[:], e.Identifier[:]) >= 0 {
				r.Fail("inherent identifier", codec.ErrNonCanonical, "identifiers not strictly ascending")
			}
			e.Data = r.Bytes("inherent data", 0)
		}
	}
	return r.Err()
}

// ParaInherentPalletIndex is the paraInherent pallet index on Polkadot and
// Kusama (Westend uses 45).
const ParaInherentPalletIndex = 54

// Extrinsic format versions of an unsigned paraInherent.enter.
const (
	ExtrinsicV4Unsigned uint8 = 0x04
	ExtrinsicV5Bare     uint8 = 0x05
)

// ParaInherentExtrinsic is the paraInherent.enter(data) extrinsic:
// Compact(len) ++ version ++ [pallet, call] ++ SCALE(InherentData).
type ParaInherentExtrinsic struct {
	Version     uint8
	PalletIndex uint8
	CallIndex   uint8
	Data        InherentData
}

func (x *ParaInherentExtrinsic) Encode(w *codec.Writer) {
	w.Compact(uint64(3 + x.Data.EncodedSize()))
	w.U8(x.Version)
	w.U8(x.PalletIndex)
	w.U8(x.CallIndex)
	x.Data.Encode(w)
}

func (x *ParaInherentExtrinsic) Decode(r *codec.Reader) error {
	n := r.Len("extrinsic length", 1, 0)
	if r.Err() != nil {
		return r.Err()
	}
	end := r.Offset() + n
	x.Version = r.Variant("extrinsic version", func(v uint8) bool { return v == ExtrinsicV4Unsigned || v == ExtrinsicV5Bare })
	x.PalletIndex = r.U8("call pallet index")
	x.CallIndex = r.U8("call index")
	if r.Err() != nil {
		return r.Err()
	}
	if x.Data.Decode(r) != nil {
		return r.Err()
	}
	if r.Offset() != end {
		r.Fail("extrinsic", codec.ErrInvalidValue, fmt.Sprintf("length prefix says %d bytes, call used %d", n, r.Offset()-end+n))
	}
	return r.Err()
}

// Hash is the extrinsic hash: blake2-256 of its encoding.
func (x *ParaInherentExtrinsic) Hash() Hash { return Blake2_256(Encode(x)) }
