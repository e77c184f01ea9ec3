package runtime

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// harness drives a chain of the runtime block by block.
type harness struct {
	t       testing.TB
	rt      *Runtime
	kps     []*types.Keypair
	headers []types.Header
	states  []*State
	seq     int
}

var testKeys []*types.Keypair

func keypairs(t testing.TB, n int) []*types.Keypair {
	for len(testKeys) < n {
		kp, err := types.KeypairFromURI(fmt.Sprintf("//RuntimeTest%d", len(testKeys)))
		if err != nil {
			t.Fatal(err)
		}
		testKeys = append(testKeys, kp)
	}
	return testKeys[:n]
}

func paraHead(p types.ParaID) []byte {
	h := types.Blake2_256([]byte(fmt.Sprintf("genesis %d", p)))
	return h[:]
}

func codeHash(p types.ParaID) types.Hash { return types.Blake2_256([]byte(fmt.Sprintf("code %d", p))) }

// baseConfig: 6 validators in 3 groups of 2, para 100 on cores 0 and 1,
// para 200 on core 2.
func baseConfig(t testing.TB) Config {
	kps := keypairs(t, 6)
	cfg := Config{GroupSize: 2, Cores: 3, Schedule: [][]types.ParaID{{100}, {100}, {200}}, FirstSession: 1}
	for _, kp := range kps {
		cfg.Validators = append(cfg.Validators, kp.Public())
	}
	for _, p := range []types.ParaID{100, 200} {
		cfg.Paras = append(cfg.Paras, ParaGenesis{ID: p, Head: paraHead(p), CodeHash: codeHash(p)})
	}
	return cfg
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := rt.Genesis()
	g := types.Header{ParentHash: types.Blake2_256([]byte("genesis")), StateRoot: st.Root()}
	return &harness{t: t, rt: rt, kps: keypairs(t, len(cfg.Validators)), headers: []types.Header{g}, states: []*State{st}}
}

func (h *harness) tip() (*types.Header, *State) {
	return &h.headers[len(h.headers)-1], h.states[len(h.states)-1]
}

func (h *harness) inherent() *types.InherentData {
	th, _ := h.tip()
	return &types.InherentData{ParentHeader: *th}
}

// create runs CreateInherent on the tip and returns what it keeps.
func (h *harness) create(inh *types.InherentData) (*types.InherentData, *Outcome) {
	h.t.Helper()
	th, st := h.tip()
	kept, _, out, err := h.rt.CreateInherent(st, th, inh)
	if err != nil {
		h.t.Fatalf("block %d: create: %v", th.Number+1, err)
	}
	return kept, out
}

// block imports a block with the sanitized inherent, checking that Enter
// accepts exactly what CreateInherent kept and filters nothing from it.
func (h *harness) block(inh *types.InherentData) *Outcome {
	h.t.Helper()
	kept, created := h.create(inh)
	th, st := h.tip()
	next, out, err := h.rt.Enter(st, th, kept)
	if err != nil {
		h.t.Fatalf("block %d: enter of the created inherent: %v", th.Number+1, err)
	}
	if len(out.Filtered) != 0 {
		h.t.Fatalf("block %d: enter filtered %v from the created inherent", th.Number+1, out.Filtered)
	}
	// The outcome reports what create_inherent filtered from the input.
	out.Filtered = created.Filtered
	hd := types.Header{ParentHash: th.Hash(), Number: next.Number, StateRoot: next.Root()}
	h.headers = append(h.headers, hd)
	h.states = append(h.states, next)
	return out
}

func (h *harness) empty(n int) {
	for range n {
		h.block(h.inherent())
	}
}

// nextHead is the head a para block builds on parent.
func nextHead(parent []byte, label int) []byte {
	b := binary.LittleEndian.AppendUint32(slices.Clone(parent), uint32(label))
	x := types.Blake2_256(b)
	return x[:]
}

type candOpts struct {
	newCode  []byte
	selector *uint8
	voters   int // 0: the whole group
}

// candidate builds a V2 candidate of para on core, anchored at the block
// numbered rp, on parentHead, backed by its group for the tip's child.
func (h *harness) candidate(para types.ParaID, core types.CoreIndex, rp types.BlockNumber, parentHead []byte, o candOpts) types.BackedCandidate {
	h.t.Helper()
	th, st := h.tip()
	rpH := &h.headers[rp]
	h.seq++
	head := nextHead(parentHead, h.seq)
	pvd := h.rt.PersistedValidationData(parentHead, rpH.Number, rpH.StateRoot)
	session := h.rt.SessionIndexForChild(st)
	cons, err := h.rt.BackingConstraints(st, th, para)
	if err != nil {
		h.t.Fatal(err)
	}
	d := types.NewCandidateDescriptorV2(para, rpH.Hash(), uint16(core), session, pvd.Hash(),
		types.Blake2_256([]byte{byte(h.seq), 1}), types.Blake2_256([]byte{byte(h.seq), 2}), types.Blake2_256(head), cons.ValidationCodeHash)
	sel := uint8(0)
	if lookup, err := h.rt.ClaimQueueLookup(st, th, rpH.Hash()); err == nil {
		cores := lookup(para, 0)
		slices.Sort(cores)
		if i := slices.Index(cores, core); i >= 0 {
			sel = uint8(i)
		}
	}
	if o.selector != nil {
		sel = *o.selector
	}
	cm := types.CandidateCommitments{HeadData: head, UpwardMessages: [][]byte{{}, types.SelectCoreSignal(sel, 0)}}
	if o.newCode != nil {
		code := slices.Clone(o.newCode)
		cm.NewValidationCode = &code
	}
	ccr := types.CommittedCandidateReceipt{Descriptor: d, Commitments: cm}
	gi, ok := h.rt.GroupForCore(st, core, rp+1)
	if !ok {
		h.t.Fatalf("no group for core %d at %d", core, rp+1)
	}
	group := h.rt.Groups(session)[gi]
	ctx := types.SigningContext{SessionIndex: session, ParentHash: rpH.Hash()}
	bits := types.NewBitVec(len(group))
	var votes []types.ValidityAttestation
	for pos, v := range group {
		if o.voters > 0 && pos >= o.voters {
			break
		}
		bits.Set(pos, true)
		votes = append(votes, types.SignBackingVote(h.kps[v], pos == 0, ccr.Hash(), ctx))
	}
	idx, err := types.InjectCoreIndex(bits, core)
	if err != nil {
		h.t.Fatal(err)
	}
	return types.BackedCandidate{Candidate: ccr, ValidityVotes: votes, ValidatorIndices: idx}
}

// bitfields signed by validators for the tip's child, with the given
// cores' bits set.
func (h *harness) bitfields(validators []int, cores ...types.CoreIndex) []types.UncheckedSignedAvailabilityBitfield {
	th, st := h.tip()
	ctx := types.SigningContext{SessionIndex: h.rt.SessionIndexForChild(st), ParentHash: th.Hash()}
	var out []types.UncheckedSignedAvailabilityBitfield
	for _, v := range validators {
		b := types.NewBitVec(h.rt.cfg.Cores)
		for _, c := range cores {
			b.Set(int(c), true)
		}
		out = append(out, types.SignBitfield(h.kps[v], b, types.ValidatorIndex(v), ctx))
	}
	return out
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func head(h *harness, para types.ParaID) []byte {
	_, st := h.tip()
	hd, _, err := h.rt.Head(st, para)
	if err != nil {
		h.t.Fatal(err)
	}
	return hd
}
