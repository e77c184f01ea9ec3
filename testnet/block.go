package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrInvalidBlock wraps every reason a block announcement is refused.
var ErrInvalidBlock = errors.New("invalid block")

// EngineID tags the testnet's pre-runtime and seal digests.
var EngineID = [4]byte{'t', 'n', 'e', 't'}

// MaxInherentSize is the block builder's size budget for the parachains
// inherent (the runtime's weight limit stands behind it on a real chain).
const MaxInherentSize = 4 << 20

// BlockBody is what an announcement carries beside the header: the
// paraInherent.enter extrinsic, the post-state (so a node that missed
// blocks, e.g. after a restart, can follow the chain from any block whose
// state root checks out), and the author's own report of the fetch.
type BlockBody struct {
	Extrinsic   types.ParaInherentExtrinsic
	State       State
	FetchMicros uint32
	Fallback    bool
}

func (b *BlockBody) Encode(w *codec.Writer) {
	b.Extrinsic.Encode(w)
	b.State.Encode(w)
	w.U32(b.FetchMicros)
	w.Bool(b.Fallback)
}

func (b *BlockBody) Decode(r *codec.Reader) error {
	b.Extrinsic.Decode(r)
	b.State.Decode(r)
	b.FetchMicros = r.U32("fetch micros")
	b.Fallback = r.Bool("fallback")
	return r.Err()
}

// Block is a header with its body.
type Block struct {
	Header types.Header
	Body   BlockBody
}

// preRuntime encodes (slot u64, author u32).
func preRuntime(slot uint64, author types.ValidatorIndex) types.DigestItem {
	b := binary.LittleEndian.AppendUint64(nil, slot)
	b = binary.LittleEndian.AppendUint32(b, author)
	return types.DigestItem{Kind: types.DigestPreRuntime, Engine: EngineID, Data: b}
}

// SlotAndAuthor reads the pre-runtime digest.
func SlotAndAuthor(h *types.Header) (slot uint64, author types.ValidatorIndex, err error) {
	for _, d := range h.Digest {
		if d.Kind == types.DigestPreRuntime && d.Engine == EngineID && len(d.Data) == 12 {
			return binary.LittleEndian.Uint64(d.Data), binary.LittleEndian.Uint32(d.Data[8:]), nil
		}
	}
	return 0, 0, fmt.Errorf("%w: no pre-runtime digest", ErrInvalidBlock)
}

// sealPayload is what the author signs: the hash of the header without its
// seal, as Substrate's consensus engines do.
func sealPayload(h *types.Header) []byte {
	unsealed := *h
	unsealed.Digest = h.Digest[:len(h.Digest)-1]
	hash := unsealed.Hash()
	return hash[:]
}

// BuildBlock makes the block of slot on parent from an already sanitized
// inherent and the state it leads to, sealed by the author.
func BuildBlock(kp types.Signer, author types.ValidatorIndex, slot uint64, parent *types.Header,
	inh *types.InherentData, st *State, fetchMicros uint32, fallback bool) *Block {
	ext := types.ParaInherentExtrinsic{Version: types.ExtrinsicV5Bare, PalletIndex: types.ParaInherentPalletIndex, CallIndex: 0, Data: *inh}
	h := types.Header{
		ParentHash:     parent.Hash(),
		Number:         parent.Number + 1,
		StateRoot:      st.Root(),
		ExtrinsicsRoot: ext.Hash(),
		Digest:         []types.DigestItem{preRuntime(slot, author), {Kind: types.DigestSeal, Engine: EngineID}},
	}
	sig := kp.Sign(sealPayload(&h))
	h.Digest[1].Data = sig[:]
	return &Block{Header: h, Body: BlockBody{Extrinsic: ext, State: *st, FetchMicros: fetchMicros, Fallback: fallback}}
}

// CheckSeal verifies the header's author, slot and seal against genesis:
// the author must own the slot, the slot must be after the parent's, and
// the seal must be the author's signature.
func CheckSeal(g *Genesis, keys Keys, h *types.Header, parentSlot uint64) (slot uint64, author types.ValidatorIndex, err error) {
	slot, author, err = SlotAndAuthor(h)
	if err != nil {
		return 0, 0, err
	}
	if h.Number > 0 && slot <= parentSlot {
		return 0, 0, fmt.Errorf("%w: slot %d not after parent's %d", ErrInvalidBlock, slot, parentSlot)
	}
	if want := g.SlotAuthor(slot); author != want {
		return 0, 0, fmt.Errorf("%w: validator %d authored slot %d of validator %d", ErrInvalidBlock, author, slot, want)
	}
	last := h.Digest[len(h.Digest)-1]
	if last.Kind != types.DigestSeal || last.Engine != EngineID || len(last.Data) != 64 {
		return 0, 0, fmt.Errorf("%w: no seal", ErrInvalidBlock)
	}
	if !keys[author].Verify(sealPayload(h), [64]byte(last.Data)) {
		return 0, 0, fmt.Errorf("%w: bad seal by validator %d", ErrInvalidBlock, author)
	}
	return slot, author, nil
}
