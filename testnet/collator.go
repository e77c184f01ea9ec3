package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrNoCandidate: the collator has nothing to build on a core (no relay
// parent at or above the para's minimum, or no para in the claim queue).
var ErrNoCandidate = errors.New("no candidate to build")

// Candidate is what a collator hands its backing group: the committed
// receipt, the validation data it was built against, and the backing
// context the runtime will check its votes in.
type Candidate struct {
	Core    types.CoreIndex
	Receipt types.CommittedCandidateReceipt
	PVD     provisioner.PersistedValidationData
	// RelayParent is the allowed relay parent it is anchored to.
	RelayParent runtime.RelayParent
	// Session is the session of the leaf's child: the backing votes'
	// signing session.
	Session types.SessionIndex
	// Group is the backing group assigned to the core at
	// RelayParent.Number + 1, in group order.
	Group []types.ValidatorIndex
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

// povHash is the PoV hash of the para block producing the head whose
// hash is paraHead. A valid block's PoV is a function of its head, so a
// validator "re-executes" a candidate by recomputing it from the
// descriptor (CandidateValid); an invalid one (Genesis.InvalidCandidates)
// carries another.
func povHash(para types.ParaID, paraHead types.Hash, valid bool) types.Hash {
	tag := "pov"
	if !valid {
		tag = "invalid pov"
	}
	return types.Blake2_256([]byte(fmt.Sprintf("%s:%d:%x", tag, para, paraHead)))
}

// CandidateValid is the testnet's validation of a candidate: its PoV is
// the one its head comes from. Approval checkers and availability voters
// judge by it.
func CandidateValid(d *types.CandidateDescriptor) bool {
	return d.PovHash == povHash(d.ParaID, d.ParaHead, true)
}

// paraCores are the cores whose claim-queue front is para, ascending:
// with elastic scaling a collator chains one candidate per core.
func paraCores(cq map[types.CoreIndex][]types.ParaID, para types.ParaID) []types.CoreIndex {
	var out []types.CoreIndex
	for c, q := range cq {
		if len(q) > 0 && q[0] == para {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// pickRelayParent draws the collator's relay parent among the allowed
// ones at or above the para's minimum, seeded by the leaf and the para so
// that every group member draws the same, and the same for every core of
// the para (a chain's relay parents may not move backwards).
func pickRelayParent(g *Genesis, allowed []runtime.RelayParent, min types.BlockNumber, para types.ParaID, leaf types.Hash) (runtime.RelayParent, bool) {
	var ok []runtime.RelayParent
	for _, a := range allowed {
		if a.Number >= min {
			ok = append(ok, a)
		}
	}
	if len(ok) == 0 {
		return runtime.RelayParent{}, false
	}
	b := binary.LittleEndian.AppendUint64(nil, g.Seed)
	b = binary.LittleEndian.AppendUint32(b, para)
	b = append(b, leaf[:]...)
	h := types.Blake2_256(b)
	return ok[binary.LittleEndian.Uint64(h[:8])%uint64(len(ok))], true
}

// BuildCandidate is the collator of the para at the front of core's claim
// queue producing its block for the child of leaf (whose post-state is
// st): anchored at a seeded draw among the runtime's allowed relay
// parents, on the para's tip (its last pending candidate's head, chained
// once per earlier core of the para). Everything is derived from the
// chain, so every group member and the collator agree on the candidate
// without talking.
func BuildCandidate(g *Genesis, leaf *types.Header, st *State, core types.CoreIndex) (*Candidate, error) {
	return newCollation(g, leaf, st).build(core, nil)
}

// collation is what the candidates of every core at one leaf share,
// computed once: a node asks BuildCandidate's question for every core at
// every leaf.
type collation struct {
	g       *Genesis
	leaf    *types.Header
	hash    types.Hash
	st      *State
	cq      map[types.CoreIndex][]types.ParaID
	allowed []runtime.RelayParent
	session types.SessionIndex
	// cons and lookups are filled as paras and relay parents come up.
	cons    map[types.ParaID]runtime.Constraints
	lookups map[types.Hash]types.ClaimQueueLookup
}

func newCollation(g *Genesis, leaf *types.Header, st *State) *collation {
	return &collation{
		g: g, leaf: leaf, hash: leaf.Hash(), st: st, cq: g.rt.ClaimQueue(st),
		allowed: g.rt.AllowedRelayParents(st, leaf), session: g.rt.SessionIndexForChild(st),
		cons: map[types.ParaID]runtime.Constraints{}, lookups: map[types.Hash]types.ClaimQueueLookup{},
	}
}

func (c *collation) constraints(para types.ParaID) (runtime.Constraints, error) {
	if cons, ok := c.cons[para]; ok {
		return cons, nil
	}
	cons, err := c.g.rt.BackingConstraints(c.st, c.leaf, para)
	if err == nil {
		c.cons[para] = cons
	}
	return cons, err
}

func (c *collation) lookup(rp types.Hash) (types.ClaimQueueLookup, error) {
	if l, ok := c.lookups[rp]; ok {
		return l, nil
	}
	l, err := c.g.rt.ClaimQueueLookup(c.st, c.leaf, rp)
	if err == nil {
		c.lookups[rp] = l
	}
	return l, err
}

// build is BuildCandidate for core. With wanted, a candidate whose
// backing group wanted refuses is not built: (nil, nil).
func (c *collation) build(core types.CoreIndex, wanted func(group []types.ValidatorIndex) bool) (*Candidate, error) {
	g, rt, st, leaf, cq := c.g, c.g.rt, c.st, c.leaf, c.cq
	if len(cq[core]) == 0 {
		return nil, fmt.Errorf("%w: core %d has no claim", ErrNoCandidate, core)
	}
	para := cq[core][0]
	depth := slices.Index(paraCores(cq, para), core)
	cons, err := c.constraints(para)
	if err != nil {
		return nil, fmt.Errorf("collator of para %d: %w", para, err)
	}
	rp, ok := pickRelayParent(g, c.allowed, cons.MinRelayParentNumber, para, c.hash)
	if !ok {
		return nil, fmt.Errorf("%w: para %d needs a relay parent from #%d", ErrNoCandidate, para, cons.MinRelayParentNumber)
	}
	session := c.session
	gi, ok := rt.GroupForCore(st, core, rp.Number+1)
	var group []types.ValidatorIndex
	if ok {
		group, ok = rt.Group(session, gi)
	}
	if !ok {
		return nil, fmt.Errorf("%w: no group for core %d at #%d", ErrNoCandidate, core, rp.Number+1)
	}
	if wanted != nil && !wanted(group) {
		return nil, nil
	}
	n := leaf.Number + 1
	parentHead := slices.Clone(cons.Tip)
	for range depth {
		parentHead = nextHead(para, parentHead, n)
	}
	head := nextHead(para, parentHead, n)
	pvd := rt.PersistedValidationData(parentHead, rp.Number, rp.StateRoot)
	label := func(s string) types.Hash {
		return types.Blake2_256([]byte(fmt.Sprintf("%s:%d:%d:%x", s, para, n, head)))
	}
	cm := types.CandidateCommitments{
		HeadData:                  head,
		ProcessedDownwardMessages: 0,
		HrmpWatermark:             rp.Number,
	}
	if n%3 == 0 {
		cm.UpwardMessages = append(cm.UpwardMessages, []byte(fmt.Sprintf("ump %d@%d", para, n)))
	}
	pi := slices.Index(g.Paras, para)
	if n%4 == 0 && len(g.Paras) > 1 {
		to := g.Paras[(pi+1)%len(g.Paras)]
		cm.HorizontalMessages = append(cm.HorizontalMessages, types.OutboundHrmpMessage{Recipient: to, Data: []byte(fmt.Sprintf("hrmp %d->%d@%d", para, to, n))})
	}
	// Now and then a para upgrades its code; paras take turns, and a para
	// with an upgrade pending waits (the runtime's upgrade restriction).
	if n%10 == 0 && int(n/10)%len(g.Paras) == pi && depth == 0 && !cons.UpgradeRestricted {
		code := []byte(fmt.Sprintf("\x00asm code for %d v%d", para, n))
		cm.NewValidationCode = &code
	}
	codeHash := nextCodeHash(st, para, &cons)
	paraHead := types.Blake2_256(head)
	pov := povHash(para, paraHead, !g.InvalidAt(para, n))
	var d types.CandidateDescriptor
	if g.V1Descriptors {
		collator, err := types.KeypairFromURI(CollatorURI(para))
		if err != nil {
			return nil, fmt.Errorf("collator key: %w", err)
		}
		d = types.CandidateDescriptor{
			ParaID: para, RelayParent: rp.Hash, Collator: collator.Public(),
			PersistedValidationDataHash: pvd.Hash(), PovHash: pov, ErasureRoot: label("erasure"),
			ParaHead: paraHead, ValidationCodeHash: codeHash,
		}
		d.SignCollator(collator)
	} else {
		d = types.NewCandidateDescriptorV2(para, rp.Hash, uint16(core), session,
			pvd.Hash(), pov, label("erasure"), paraHead, codeHash)
		// V2 candidates say which core they want with a UMP signal after
		// the empty separator: the core's position among the para's cores
		// in the claim queue at the relay parent.
		selector := 0
		if lookup, err := c.lookup(rp.Hash); err == nil {
			cores := slices.Clone(lookup(para, 0))
			slices.Sort(cores)
			selector = max(0, slices.Index(cores, core))
		}
		cm.UpwardMessages = append(cm.UpwardMessages, []byte{}, types.SelectCoreSignal(uint8(selector), 0))
	}
	return &Candidate{
		Core: core, Receipt: types.CommittedCandidateReceipt{Descriptor: d, Commitments: cm},
		PVD: provisioner.PersistedValidationData{ParentHead: pvd.ParentHead, RelayParentNumber: pvd.RelayParentNumber,
			RelayParentStorageRoot: pvd.RelayParentStorageRoot, MaxPoVSize: pvd.MaxPoVSize},
		RelayParent: rp, Session: session, Group: group,
	}, nil
}

// BackingVote is one group member's signed statement on a candidate, in
// the runtime's backing context {session of the leaf's child, the
// candidate's relay parent}.
func BackingVote(kp types.Signer, c *Candidate, seconded bool) types.ValidityAttestation {
	return types.SignBackingVote(kp, seconded, c.Receipt.Hash(), types.SigningContext{SessionIndex: c.Session, ParentHash: c.RelayParent.Hash})
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

// AvailabilityBitfield is a validator's bitfield at a leaf: a bit for
// every core occupied by a valid candidate (it holds a chunk of every
// candidate whose block it has imported). No validator vouches for the
// availability of an invalid candidate, so one never gets included: its
// dispute concludes while it is pending, freeing its core, instead of
// freezing the chain as a dispute on an included candidate would.
func AvailabilityBitfield(g *Genesis, st *State) types.BitVec {
	b := types.NewBitVec(g.Cores)
	for i, c := range g.rt.AvailabilityCores(st) {
		b.Set(i, c.Kind == types.CoreOccupied && c.Occupied != nil && CandidateValid(&c.Occupied.CandidateDescriptor))
	}
	return b
}

// nextCodeHash is the validation code a candidate building on the para's
// tip names: the runtime applies a code upgrade when it enacts the
// candidate carrying it, so a candidate chained on a pending upgrade is
// checked, once that is included, against the new code.
func nextCodeHash(st *State, para types.ParaID, cons *runtime.Constraints) types.Hash {
	code := cons.ValidationCodeHash
	pi := slices.IndexFunc(st.Paras, func(p runtime.Para) bool { return p.ID == para })
	if pi < 0 {
		return code
	}
	for _, pc := range st.Paras[pi].Pending {
		if pc.NewCode != nil && slices.ContainsFunc(cons.Pending, func(q runtime.PendingInfo) bool { return q.Hash == pc.Hash }) {
			code = *pc.NewCode
		}
	}
	return code
}
