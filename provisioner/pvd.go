package provisioner

import (
	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// PersistedValidationData is Polkadot's PersistedValidationData: what a
// candidate was validated against. Its blake2-256 hash is the descriptor's
// persisted_validation_data_hash, so a sender cannot lie about the parent
// head it carries. (It belongs with the wire types; it lives here until the
// types package has it.)
type PersistedValidationData struct {
	ParentHead             []byte
	RelayParentNumber      types.BlockNumber
	RelayParentStorageRoot types.Hash
	MaxPoVSize             uint32
}

// Encode writes parent_head (Vec<u8>), relay_parent_number (u32),
// relay_parent_storage_root and max_pov_size (u32).
func (p *PersistedValidationData) Encode(w *codec.Writer) {
	w.VecU8(p.ParentHead)
	w.U32(p.RelayParentNumber)
	w.Raw(p.RelayParentStorageRoot[:])
	w.U32(p.MaxPoVSize)
}

// Hash is blake2-256 of the encoding.
func (p *PersistedValidationData) Hash() types.Hash { return types.Blake2_256(types.Encode(p)) }

// ParentHeadHash is the hash of the parent head data, which is what the
// parent candidate's descriptor carries as para_head.
func (p *PersistedValidationData) ParentHeadHash() types.Hash { return types.Blake2_256(p.ParentHead) }
