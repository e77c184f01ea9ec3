package types

import (
	"github.com/polkadot-provisioner/provisioner/codec"
)

// DigestItemKind is the enum index of a sp_runtime DigestItem.
type DigestItemKind uint8

const (
	DigestOther                     DigestItemKind = 0
	DigestConsensus                 DigestItemKind = 4
	DigestSeal                      DigestItemKind = 5
	DigestPreRuntime                DigestItemKind = 6
	DigestRuntimeEnvironmentUpdated DigestItemKind = 8
)

func (k DigestItemKind) String() string {
	switch k {
	case DigestOther:
		return "Other"
	case DigestConsensus:
		return "Consensus"
	case DigestSeal:
		return "Seal"
	case DigestPreRuntime:
		return "PreRuntime"
	case DigestRuntimeEnvironmentUpdated:
		return "RuntimeEnvironmentUpdated"
	}
	return "Unknown"
}

func validDigestKind(k uint8) bool {
	switch DigestItemKind(k) {
	case DigestOther, DigestConsensus, DigestSeal, DigestPreRuntime, DigestRuntimeEnvironmentUpdated:
		return true
	}
	return false
}

// DigestItem is one header digest log. Engine is used by PreRuntime,
// Consensus and Seal; Data by those and Other; RuntimeEnvironmentUpdated
// carries nothing.
type DigestItem struct {
	Kind   DigestItemKind
	Engine [4]byte
	Data   []byte
}

// Header is a relay-chain block header (sp_runtime generic Header with
// u32 numbers and blake2-256).
type Header struct {
	ParentHash     Hash
	Number         BlockNumber
	StateRoot      Hash
	ExtrinsicsRoot Hash
	Digest         []DigestItem
}

func (d *DigestItem) Encode(w *codec.Writer) {
	w.U8(uint8(d.Kind))
	switch d.Kind {
	case DigestPreRuntime, DigestConsensus, DigestSeal:
		w.Raw(d.Engine[:])
		w.VecU8(d.Data)
	case DigestOther:
		w.VecU8(d.Data)
	}
}

func (d *DigestItem) Decode(r *codec.Reader) error {
	d.Kind = DigestItemKind(r.Variant("digest item", validDigestKind))
	switch d.Kind {
	case DigestPreRuntime, DigestConsensus, DigestSeal:
		if b := r.Fixed("digest engine id", 4); b != nil {
			copy(d.Engine[:], b)
		}
		d.Data = r.Bytes("digest data", 0)
	case DigestOther:
		d.Data = r.Bytes("digest data", 0)
	}
	return r.Err()
}

func (h *Header) Encode(w *codec.Writer) {
	w.Raw(h.ParentHash[:])
	w.Compact(uint64(h.Number))
	w.Raw(h.StateRoot[:])
	w.Raw(h.ExtrinsicsRoot[:])
	w.Compact(uint64(len(h.Digest)))
	for i := range h.Digest {
		h.Digest[i].Encode(w)
	}
}

func (h *Header) Decode(r *codec.Reader) error {
	r.Array32("header parent_hash", (*[32]byte)(&h.ParentHash))
	h.Number = r.CompactU32("header number")
	r.Array32("header state_root", (*[32]byte)(&h.StateRoot))
	r.Array32("header extrinsics_root", (*[32]byte)(&h.ExtrinsicsRoot))
	n := r.Len("header digest", 1, r.Lim.MaxDigestItems)
	h.Digest = nil
	if n > 0 {
		h.Digest = make([]DigestItem, n)
		for i := range h.Digest {
			if h.Digest[i].Decode(r) != nil {
				break
			}
		}
	}
	return r.Err()
}

// Hash is blake2-256 of the header's encoding, the block hash.
func (h *Header) Hash() Hash { return Blake2_256(Encode(h)) }
