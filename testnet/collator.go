package testnet

import (
	"encoding/binary"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Candidate is what a collator hands its backing group: the committed
// receipt and the validation data it was built against.
type Candidate struct {
	Core    types.CoreIndex
	Receipt types.CommittedCandidateReceipt
	PVD     provisioner.PersistedValidationData
}

// chainDepth is the position of core among the cores of its para: with
// elastic scaling the collator chains one candidate per core.
func chainDepth(g *Genesis, core types.CoreIndex) int {
	para := g.ParaForCore(core)
	d := 0
	for c := types.CoreIndex(0); c < core; c++ {
		if g.ParaForCore(c) == para {
			d++
		}
	}
	return d
}

// nextHead is the head a para's block on parent produces at relay block
// number: deterministic, so every member of the group builds the same one.
func nextHead(para types.ParaID, parent []byte, relayNumber types.BlockNumber) []byte {
	b := make([]byte, 0, 8+len(parent))
	b = binary.LittleEndian.AppendUint32(b, para)
	b = binary.LittleEndian.AppendUint32(b, relayNumber)
	b = append(b, parent...)
	h := types.Blake2_256(b)
	// Head data: 4-byte para block number then the hash, like a tiny header.
	out := binary.LittleEndian.AppendUint32(nil, relayNumber)
	return append(out, h[:]...)
}

// BuildCandidate is the collator of the para on core producing its block
// for the relay parent (leaf) whose header and state are given.
// Everything is derived from the chain, so every group member and the
// collator agree on the candidate without talking.
func BuildCandidate(g *Genesis, leaf *types.Header, st *State, core types.CoreIndex) (*Candidate, error) {
	para := g.ParaForCore(core)
	leafHash := leaf.Hash()
	parentHead := st.Tip(g, para)
	for i := 0; i < chainDepth(g, core); i++ {
		parentHead = nextHead(para, parentHead, leaf.Number+1)
	}
	head := nextHead(para, parentHead, leaf.Number+1)
	pvd := PVD(parentHead, leaf.Number, leaf.StateRoot)
	n := leaf.Number + 1
	label := func(s string) types.Hash {
		return types.Blake2_256([]byte(fmt.Sprintf("%s:%d:%d:%x", s, para, n, head)))
	}
	cm := types.CandidateCommitments{
		HeadData:                  head,
		ProcessedDownwardMessages: 0,
		HrmpWatermark:             leaf.Number,
	}
	if n%3 == 0 {
		cm.UpwardMessages = append(cm.UpwardMessages, []byte(fmt.Sprintf("ump %d@%d", para, n)))
	}
	if n%4 == 0 && len(g.Paras) > 1 {
		to := g.Paras[(st.paraIndex(g, para)+1)%len(g.Paras)]
		cm.HorizontalMessages = append(cm.HorizontalMessages, types.OutboundHrmpMessage{Recipient: to, Data: []byte(fmt.Sprintf("hrmp %d->%d@%d", para, to, n))})
	}
	// Now and then a para upgrades its code; paras take turns so that one
	// block rarely carries two upgrades (the provisioner keeps at most one).
	if n%10 == 0 && int(n/10)%len(g.Paras) == st.paraIndex(g, para) && chainDepth(g, core) == 0 {
		code := []byte(fmt.Sprintf("\x00asm code for %d v%d", para, n))
		cm.NewValidationCode = &code
	}
	var d types.CandidateDescriptor
	codeHash := st.CodeHash[st.paraIndex(g, para)]
	if g.V1Descriptors {
		collator, err := types.KeypairFromURI(CollatorURI(para))
		if err != nil {
			return nil, err
		}
		d = types.CandidateDescriptor{
			ParaID: para, RelayParent: leafHash, Collator: collator.Public(),
			PersistedValidationDataHash: pvd.Hash(), PovHash: label("pov"), ErasureRoot: label("erasure"),
			ParaHead: types.Blake2_256(head), ValidationCodeHash: codeHash,
		}
		d.SignCollator(collator)
	} else {
		d = types.NewCandidateDescriptorV2(para, leafHash, uint16(core), g.Session,
			pvd.Hash(), label("pov"), label("erasure"), types.Blake2_256(head), codeHash)
		// v2 candidates say which core they want with a UMP signal after
		// the empty separator.
		cm.UpwardMessages = append(cm.UpwardMessages, []byte{}, types.SelectCoreSignal(uint8(chainDepth(g, core)), 0))
	}
	return &Candidate{Core: core, Receipt: types.CommittedCandidateReceipt{Descriptor: d, Commitments: cm}, PVD: pvd}, nil
}

// BackingVote is one group member's signed statement on a candidate.
func BackingVote(kp types.Signer, c *Candidate, seconded bool, g *Genesis, leafHash types.Hash) types.ValidityAttestation {
	return types.SignBackingVote(kp, seconded, c.Receipt.Hash(), types.SigningContext{SessionIndex: g.Session, ParentHash: leafHash})
}

// Backed assembles a backed candidate from the votes of group members (by
// position in the group), with the core index injected.
func Backed(c *Candidate, groupLen int, votes map[int]types.ValidityAttestation) (types.BackedCandidate, error) {
	bits := types.NewBitVec(groupLen)
	var vs []types.ValidityAttestation
	for pos := 0; pos < groupLen; pos++ {
		if v, ok := votes[pos]; ok {
			bits.Set(pos, true)
			vs = append(vs, v)
		}
	}
	idx, err := types.InjectCoreIndex(bits, c.Core)
	if err != nil {
		return types.BackedCandidate{}, err
	}
	return types.BackedCandidate{Candidate: c.Receipt, ValidityVotes: vs, ValidatorIndices: idx}, nil
}

// AvailabilityBitfield is an honest validator's bitfield at a leaf: a bit
// for every occupied core (it holds a chunk of every candidate whose block
// it has imported).
func AvailabilityBitfield(st *State) types.BitVec {
	b := types.NewBitVec(len(st.Cores))
	for i, c := range st.Cores {
		b.Set(i, c != nil)
	}
	return b
}
