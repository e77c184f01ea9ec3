package testnet

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrInvalidInherent wraps every reason the simulated runtime refuses a
// block's parachains inherent.
var ErrInvalidInherent = errors.New("invalid parachains inherent")

// MaxPoVSize is the max_pov_size every persisted validation data carries.
const MaxPoVSize = 5 << 20

// PendingCandidate is a backed candidate occupying a core until it becomes
// available or times out.
type PendingCandidate struct {
	Receipt       types.CandidateReceipt
	Para          types.ParaID
	Head          []byte
	NewCodeHash   *types.Hash
	OccupiedSince types.BlockNumber
	TimeOutAt     types.BlockNumber
	Availability  types.BitVec
	Group         types.GroupIndex
}

// DisputeRecord is what the chain knows of a dispute.
type DisputeRecord struct {
	Session       types.SessionIndex
	CandidateHash types.Hash
	For, Against  types.BitVec
	Start         types.BlockNumber
}

// State is the simulated runtime's state after a block.
type State struct {
	Number    types.BlockNumber
	Cores     []*PendingCandidate // nil: free
	Heads     [][]byte            // per para (index in Genesis.Paras)
	CodeHash  []types.Hash        // per para
	Included  []uint32            // candidates included so far, per para
	Disputes  []DisputeRecord     // sorted by (session, candidate hash)
	Slashings uint32              // validators found on the losing side of a concluded dispute
}

// GenesisState is the state of block 0: every para at its genesis head.
func GenesisState(g *Genesis) *State {
	st := &State{Cores: make([]*PendingCandidate, g.Cores)}
	for _, p := range g.Paras {
		st.Heads = append(st.Heads, GenesisHead(p))
		st.CodeHash = append(st.CodeHash, types.Blake2_256([]byte(fmt.Sprintf("code:%d:0", p))))
		st.Included = append(st.Included, 0)
	}
	return st
}

// GenesisHead is a para's head data at genesis.
func GenesisHead(p types.ParaID) []byte {
	h := types.Blake2_256([]byte(fmt.Sprintf("genesis head %d", p)))
	return h[:]
}

func (s *State) clone() *State {
	c := &State{
		Number:    s.Number,
		Cores:     make([]*PendingCandidate, len(s.Cores)),
		Heads:     append([][]byte(nil), s.Heads...),
		CodeHash:  append([]types.Hash(nil), s.CodeHash...),
		Included:  append([]uint32(nil), s.Included...),
		Disputes:  append([]DisputeRecord(nil), s.Disputes...),
		Slashings: s.Slashings,
	}
	for i, p := range s.Cores {
		if p != nil {
			cp := *p
			cp.Availability = p.Availability.Clone()
			c.Cores[i] = &cp
		}
	}
	return c
}

func (s *State) paraIndex(g *Genesis, p types.ParaID) int {
	for i, q := range g.Paras {
		if q == p {
			return i
		}
	}
	return -1
}

// Tip is the head a new candidate of para builds on: the head of its most
// recently backed pending candidate, or its included head.
func (s *State) Tip(g *Genesis, p types.ParaID) []byte {
	var best *PendingCandidate
	for _, c := range s.Cores {
		if c != nil && c.Para == p && (best == nil || c.OccupiedSince >= best.OccupiedSince) {
			best = c
		}
	}
	if best != nil {
		return best.Head
	}
	return s.Heads[s.paraIndex(g, p)]
}

// CoreStates is the runtime API availability_cores() at this state.
func (s *State) CoreStates(g *Genesis) []types.CoreState {
	out := make([]types.CoreState, len(s.Cores))
	for i, c := range s.Cores {
		para := g.ParaForCore(types.CoreIndex(i))
		if c == nil {
			out[i] = types.CoreState{Kind: types.CoreScheduled, Scheduled: types.ScheduledCore{ParaID: para}}
			continue
		}
		out[i] = types.CoreState{Kind: types.CoreOccupied, Occupied: &types.OccupiedCore{
			NextUpOnAvailable:   &types.ScheduledCore{ParaID: para},
			OccupiedSince:       c.OccupiedSince,
			TimeOutAt:           c.TimeOutAt,
			NextUpOnTimeOut:     &types.ScheduledCore{ParaID: para},
			Availability:        c.Availability.Clone(),
			GroupResponsible:    c.Group,
			CandidateHash:       c.Receipt.Hash(),
			CandidateDescriptor: c.Receipt.Descriptor,
		}}
	}
	return out
}

// OnChainDisputes is the runtime API disputes() at this state.
func (s *State) OnChainDisputes() map[provisioner.DisputeKey]provisioner.OnChainDispute {
	out := make(map[provisioner.DisputeKey]provisioner.OnChainDispute, len(s.Disputes))
	for _, d := range s.Disputes {
		out[provisioner.DisputeKey{Session: d.Session, CandidateHash: d.CandidateHash}] = provisioner.OnChainDispute{
			ValidatorsFor: d.For.Clone(), ValidatorsAgainst: d.Against.Clone(), Start: d.Start,
		}
	}
	return out
}

// PVD is the persisted validation data a candidate built on parentHead at
// the relay parent (number, state root) is validated against.
func PVD(parentHead []byte, relayNumber types.BlockNumber, relayStateRoot types.Hash) provisioner.PersistedValidationData {
	return provisioner.PersistedValidationData{
		ParentHead: parentHead, RelayParentNumber: relayNumber,
		RelayParentStorageRoot: relayStateRoot, MaxPoVSize: MaxPoVSize,
	}
}

// supermajority is the runtime's availability threshold n - (n-1)/3.
func supermajority(n int) int { return n - (n-1)/3 }

// ImportResult says what a block did.
type ImportResult struct {
	Bitfields int
	Backed    int
	Included  []types.ParaID
	TimedOut  int
	Disputes  int
	Slashed   int
}

// Keys resolves validator indices to parsed public keys.
type Keys []*types.PublicKey

// NewKeys parses the genesis validator keys once.
func NewKeys(g *Genesis) (Keys, error) {
	ks := make(Keys, len(g.Validators))
	for i, v := range g.Validators {
		k, err := types.ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("%w: validator %d: %w", ErrBadGenesis, i, err)
		}
		ks[i] = k
	}
	return ks, nil
}

func (ks Keys) verifier(i types.ValidatorIndex) types.Verifier {
	if int(i) >= len(ks) {
		return nil
	}
	return ks[i]
}

// Apply runs the parachains inherent of the block built on parentHeader
// the way the runtime's paraInherent.enter does, with its checks: one
// bitfield per validator in ascending order, right lengths, valid
// signatures, no bit on a free core; disputes sorted and signed; backed
// candidates on free cores of their para, anchored at the parent, chained on
// the para's head, with enough valid backing votes and at most one code
// upgrade per block. Any violation rejects the block.
func Apply(g *Genesis, keys Keys, parent *State, parentHeader *types.Header, number types.BlockNumber, inh *types.InherentData) (*State, *ImportResult, error) {
	st, res, _, err := apply(g, keys, parent, parentHeader, number, inh, true)
	return st, res, err
}

// Sanitize is the block builder's side of the same checks (the runtime's
// create_inherent): it drops what Apply would refuse instead of failing, and
// returns the inherent that remains, the state it leads to and what it
// dropped, by reason.
func Sanitize(g *Genesis, keys Keys, parent *State, parentHeader *types.Header, number types.BlockNumber, inh *types.InherentData) (*types.InherentData, *State, *ImportResult, map[string]int, error) {
	dropped := map[string]int{}
	st, res, kept, err := apply(g, keys, parent, parentHeader, number, inh, false, dropped)
	return kept, st, res, dropped, err
}

func apply(g *Genesis, keys Keys, parent *State, parentHeader *types.Header, number types.BlockNumber,
	inh *types.InherentData, strict bool, dropped ...map[string]int) (*State, *ImportResult, *types.InherentData, error) {
	parentHash := parentHeader.Hash()
	if inh.ParentHeader.Hash() != parentHash {
		return nil, nil, nil, fmt.Errorf("%w: parent header hashes to %s, block builds on %s", ErrInvalidInherent, inh.ParentHeader.Hash(), parentHash)
	}
	// reject fails the block in strict mode and drops the item otherwise.
	reject := func(reason string, err error) error {
		if strict {
			return err
		}
		dropped[0][reason]++
		return nil
	}
	st := parent.clone()
	st.Number = number
	res := &ImportResult{}
	kept := &types.InherentData{ParentHeader: inh.ParentHeader}
	n := len(g.Validators)
	ctx := types.SigningContext{SessionIndex: g.Session, ParentHash: parentHash}

	// Disputes first, as the runtime does.
	for i := range inh.Disputes {
		d := &inh.Disputes[i]
		if k := len(kept.Disputes); k > 0 {
			p := &kept.Disputes[k-1]
			if p.Session > d.Session || (p.Session == d.Session && bytes.Compare(p.CandidateHash[:], d.CandidateHash[:]) >= 0) {
				if err := reject("dispute_order", fmt.Errorf("%w: dispute sets not sorted by (session, candidate)", ErrInvalidInherent)); err != nil {
					return nil, nil, nil, err
				}
				continue
			}
		}
		if err := checkDispute(g, keys, d); err != nil {
			if err := reject("dispute_signature", err); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		st.importDispute(g, d, number, res)
		kept.Disputes = append(kept.Disputes, *d)
	}

	// Bitfields.
	last := -1
	for i := range inh.Bitfields {
		bf := &inh.Bitfields[i]
		vi := int(bf.ValidatorIndex)
		var reason string
		var err error
		switch {
		case vi <= last:
			reason, err = "bitfield_order", fmt.Errorf("%w: bitfield %d: validator %d not in ascending order", ErrInvalidInherent, i, vi)
		case vi >= n:
			reason, err = "bitfield_validator_index", fmt.Errorf("%w: bitfield %d: validator %d of %d", ErrInvalidInherent, i, vi, n)
		case bf.Payload.Len != g.Cores:
			reason, err = "bitfield_length", fmt.Errorf("%w: bitfield %d: %d bits for %d cores", ErrInvalidInherent, i, bf.Payload.Len, g.Cores)
		case !bf.Verify(keys[vi], ctx):
			reason, err = "bitfield_signature", fmt.Errorf("%w: bitfield %d: bad signature by validator %d", ErrInvalidInherent, i, vi)
		default:
			for c := 0; c < g.Cores; c++ {
				if bf.Payload.Get(c) && st.Cores[c] == nil {
					reason, err = "bitfield_free_core", fmt.Errorf("%w: bitfield %d: bit set on free core %d", ErrInvalidInherent, i, c)
					break
				}
			}
		}
		if err != nil {
			if err := reject(reason, err); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		last = vi
		for c := 0; c < g.Cores; c++ {
			if bf.Payload.Get(c) {
				st.Cores[c].Availability.Set(vi, true)
			}
		}
		kept.Bitfields = append(kept.Bitfields, *bf)
	}
	res.Bitfields = len(kept.Bitfields)
	threshold := supermajority(n)
	for c, pc := range st.Cores {
		if pc != nil && pc.Availability.CountOnes() >= threshold {
			pi := st.paraIndex(g, pc.Para)
			st.Heads[pi] = pc.Head
			if pc.NewCodeHash != nil {
				st.CodeHash[pi] = *pc.NewCodeHash
			}
			st.Included[pi]++
			res.Included = append(res.Included, pc.Para)
			st.Cores[c] = nil
		}
	}
	// Timeouts.
	for c, pc := range st.Cores {
		if pc != nil && pc.TimeOutAt <= number {
			st.Cores[c] = nil
			res.TimedOut++
		}
	}

	// Backed candidates.
	groups := g.Groups()
	codeUpgrades := 0
	for i := range inh.BackedCandidates {
		if err := st.back(g, keys, groups, &inh.BackedCandidates[i], parentHeader, parentHash, number, ctx, &codeUpgrades); err != nil {
			if err := reject("backed_candidate", fmt.Errorf("%w: backed candidate %d: %w", ErrInvalidInherent, i, err)); err != nil {
				return nil, nil, nil, err
			}
			continue
		}
		kept.BackedCandidates = append(kept.BackedCandidates, inh.BackedCandidates[i])
		res.Backed++
	}
	return st, res, kept, nil
}

func (st *State) back(g *Genesis, keys Keys, groups [][]types.ValidatorIndex, bc *types.BackedCandidate,
	parentHeader *types.Header, parentHash types.Hash, number types.BlockNumber, ctx types.SigningContext, codeUpgrades *int) error {
	_, core, ok := types.ExtractCoreIndex(bc.ValidatorIndices)
	if !ok || int(core) >= g.Cores {
		return fmt.Errorf("no valid injected core index")
	}
	d := &bc.Candidate.Descriptor
	para := g.ParaForCore(core)
	switch {
	case st.Cores[core] != nil:
		return fmt.Errorf("core %d is occupied", core)
	case d.ParaID != para:
		return fmt.Errorf("para %d on core %d, which serves %d", d.ParaID, core, para)
	case d.RelayParent != parentHash:
		return fmt.Errorf("relay parent %s, block builds on %s", d.RelayParent, parentHash)
	}
	if d.Version() == types.DescriptorV2 {
		dc, _ := d.CoreIndex()
		ds, _ := d.SessionIndex()
		if dc != core || ds != g.Session {
			return fmt.Errorf("v2 descriptor says core %d session %d, expected core %d session %d", dc, ds, core, g.Session)
		}
	}
	tip := st.Tip(g, para)
	pvd := PVD(tip, parentHeader.Number, parentHeader.StateRoot)
	if d.PersistedValidationDataHash != pvd.Hash() {
		return fmt.Errorf("para %d: does not build on the para's head", para)
	}
	cm := &bc.Candidate.Commitments
	if d.ParaHead != types.Blake2_256(cm.HeadData) {
		return fmt.Errorf("para head hash does not match head data")
	}
	var newCode *types.Hash
	if cm.NewValidationCode != nil {
		*codeUpgrades++
		if *codeUpgrades > 1 {
			return fmt.Errorf("a second code upgrade in one block")
		}
		h := types.Blake2_256(*cm.NewValidationCode)
		newCode = &h
	}
	gi := g.GroupForCore(core)
	group := groups[gi]
	if _, err := bc.VerifyBacking(group, keys.verifier, ctx, true, core, g.MinVotes(len(group))); err != nil {
		return err
	}
	st.Cores[core] = &PendingCandidate{
		Receipt:       bc.Candidate.Receipt(),
		Para:          para,
		Head:          cm.HeadData,
		NewCodeHash:   newCode,
		OccupiedSince: number,
		TimeOutAt:     number + g.AvailabilityTimeout,
		Availability:  types.NewBitVec(len(g.Validators)),
		Group:         gi,
	}
	return nil
}

// checkDispute verifies every statement of a dispute set.
func checkDispute(g *Genesis, keys Keys, d *types.DisputeStatementSet) error {
	n := len(g.Validators)
	for j := range d.Statements {
		e := &d.Statements[j]
		vi := int(e.ValidatorIndex)
		if vi >= n {
			return fmt.Errorf("%w: dispute statement %d: validator %d of %d", ErrInvalidInherent, j, vi, n)
		}
		if !e.Verify(keys[vi], d.CandidateHash, d.Session) {
			return fmt.Errorf("%w: dispute statement %d: bad signature by validator %d", ErrInvalidInherent, j, vi)
		}
	}
	return nil
}

// importDispute records a verified dispute set's votes.
func (st *State) importDispute(g *Genesis, d *types.DisputeStatementSet, number types.BlockNumber, res *ImportResult) {
	n := len(g.Validators)
	idx := sort.Search(len(st.Disputes), func(i int) bool {
		r := &st.Disputes[i]
		return r.Session > d.Session || (r.Session == d.Session && bytes.Compare(r.CandidateHash[:], d.CandidateHash[:]) >= 0)
	})
	if idx == len(st.Disputes) || st.Disputes[idx].Session != d.Session || st.Disputes[idx].CandidateHash != d.CandidateHash {
		st.Disputes = append(st.Disputes, DisputeRecord{})
		copy(st.Disputes[idx+1:], st.Disputes[idx:])
		st.Disputes[idx] = DisputeRecord{Session: d.Session, CandidateHash: d.CandidateHash,
			For: types.NewBitVec(n), Against: types.NewBitVec(n), Start: number}
	}
	rec := &st.Disputes[idx]
	rec.For, rec.Against = rec.For.Clone(), rec.Against.Clone()
	sm := supermajority(n)
	before := rec.For.CountOnes() >= sm || rec.Against.CountOnes() >= sm
	for j := range d.Statements {
		e := &d.Statements[j]
		if e.Statement.Valid {
			rec.For.Set(int(e.ValidatorIndex), true)
		} else {
			rec.Against.Set(int(e.ValidatorIndex), true)
		}
	}
	res.Disputes++
	// A validator on both sides has equivocated: the chain slashes it at once.
	slashed := 0
	for vi := 0; vi < n; vi++ {
		if rec.For.Get(vi) && rec.Against.Get(vi) {
			slashed++
		}
	}
	if !before && (rec.For.CountOnes() >= sm || rec.Against.CountOnes() >= sm) {
		loser := rec.Against
		if rec.Against.CountOnes() >= sm {
			loser = rec.For
		}
		slashed += loser.CountOnes()
	}
	res.Slashed += slashed
	st.Slashings += uint32(slashed)
}

// Encode writes the state; its blake2-256 is the block's state root.
func (s *State) Encode(w *codec.Writer) {
	w.U32(s.Number)
	w.Compact(uint64(len(s.Cores)))
	for _, c := range s.Cores {
		if c == nil {
			w.U8(0)
			continue
		}
		w.U8(1)
		c.Receipt.Encode(w)
		w.U32(c.Para)
		w.VecU8(c.Head)
		if c.NewCodeHash == nil {
			w.U8(0)
		} else {
			w.U8(1)
			w.Raw(c.NewCodeHash[:])
		}
		w.U32(c.OccupiedSince)
		w.U32(c.TimeOutAt)
		c.Availability.Encode(w)
		w.U32(c.Group)
	}
	w.Compact(uint64(len(s.Heads)))
	for i := range s.Heads {
		w.VecU8(s.Heads[i])
		w.Raw(s.CodeHash[i][:])
		w.U32(s.Included[i])
	}
	w.Compact(uint64(len(s.Disputes)))
	for i := range s.Disputes {
		d := &s.Disputes[i]
		w.U32(d.Session)
		w.Raw(d.CandidateHash[:])
		d.For.Encode(w)
		d.Against.Encode(w)
		w.U32(d.Start)
	}
	w.U32(s.Slashings)
}

// Decode reads a state written by Encode.
func (s *State) Decode(r *codec.Reader) error {
	s.Number = r.U32("state number")
	n := r.Len("state cores", 1, 256)
	s.Cores = make([]*PendingCandidate, n)
	for i := range s.Cores {
		if !r.OptionTag("core") {
			continue
		}
		c := &PendingCandidate{}
		c.Receipt.Decode(r)
		c.Para = r.U32("para")
		c.Head = r.Bytes("head", 0)
		if r.OptionTag("new code hash") {
			var h types.Hash
			r.Array32("new code hash", (*[32]byte)(&h))
			c.NewCodeHash = &h
		}
		c.OccupiedSince = r.U32("occupied since")
		c.TimeOutAt = r.U32("time out at")
		c.Availability.Decode(r)
		c.Group = r.U32("group")
		s.Cores[i] = c
	}
	n = r.Len("state paras", 1, 1<<16)
	s.Heads, s.CodeHash, s.Included = make([][]byte, n), make([]types.Hash, n), make([]uint32, n)
	for i := 0; i < n; i++ {
		s.Heads[i] = r.Bytes("para head", 0)
		r.Array32("code hash", (*[32]byte)(&s.CodeHash[i]))
		s.Included[i] = r.U32("included")
	}
	n = r.Len("state disputes", 40, 0)
	s.Disputes = make([]DisputeRecord, n)
	for i := range s.Disputes {
		d := &s.Disputes[i]
		d.Session = r.U32("dispute session")
		r.Array32("dispute candidate", (*[32]byte)(&d.CandidateHash))
		d.For.Decode(r)
		d.Against.Decode(r)
		d.Start = r.U32("dispute start")
	}
	s.Slashings = r.U32("slashings")
	return r.Err()
}

// Root is the state root: blake2-256 of the encoding.
func (s *State) Root() types.Hash { return types.Blake2_256(types.Encode(s)) }
