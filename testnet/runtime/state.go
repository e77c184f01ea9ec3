package runtime

import (
	"bytes"
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Pending is a candidate pending availability (inclusion's
// CandidatePendingAvailability).
type Pending struct {
	Core            types.CoreIndex
	Hash            types.Hash
	Descriptor      types.CandidateDescriptor
	CommitmentsHash types.Hash
	Head            []byte
	// NewCode is the hash of the new validation code it carries, if any.
	NewCode *types.Hash
	// RelayParentNumber is the number of its relay parent (its context).
	RelayParentNumber types.BlockNumber
	// BackedIn is the block that backed it.
	BackedIn types.BlockNumber
	// Availability has one bit per validator.
	Availability types.BitVec
	// Backers are the validators whose votes the runtime accepted.
	Backers []types.ValidatorIndex
	Group   types.GroupIndex
}

// Para is one para's storage: paras::Heads, CurrentCodeHash,
// MostRecentContext and inclusion::PendingAvailability (in chain order).
type Para struct {
	ID       types.ParaID
	Head     []byte
	CodeHash types.Hash
	// MostRecentContext is the relay-parent number of the last enacted
	// candidate.
	MostRecentContext types.BlockNumber
	// Pending is the para's chain of candidates pending availability, each
	// building on the one before (the first on Head).
	Pending []*Pending
	// Included counts enacted candidates.
	Included uint32
}

// RelayParentInfo is an allowed relay parent with the claim queue as of it
// (the tracker's RelayParentInfo). The claim queue is kept as the assigner
// position it was filled from (State.AssignerNext of that block): bulk
// coretime makes the queue a function of it, and a position is 4 bytes
// where a queue is cores x lookahead para ids.
type RelayParentInfo struct {
	Hash         types.Hash
	Number       types.BlockNumber
	StateRoot    types.Hash
	AssignerNext types.BlockNumber
}

// DisputeState is the runtime's DisputeState for (Session, Candidate).
type DisputeState struct {
	Session      types.SessionIndex
	Candidate    types.Hash
	For, Against types.BitVec
	Start        types.BlockNumber
	ConcludedAt  *types.BlockNumber
	// Backers are BackersOnDisputes: validators known to have backed it.
	Backers []types.ValidatorIndex
}

// ConcludedInvalid reports a supermajority against.
func (d *DisputeState) ConcludedInvalid() bool {
	return d.ConcludedAt != nil && d.Against.CountOnes() >= supermajority(d.Against.Len)
}

// InclusionRecord is disputes' Included(session, candidate) = block.
type InclusionRecord struct {
	Session   types.SessionIndex
	Candidate types.Hash
	At        types.BlockNumber
}

// OffenceKind is the DisputeOffenceKind of a slash.
type OffenceKind uint8

const (
	// ForInvalidBacked: a backer of a candidate that concluded invalid
	// (100% slash, disabled for the rest of the session).
	ForInvalidBacked OffenceKind = iota
	// ForInvalidApproved: a non-backer who voted for it (2%).
	ForInvalidApproved
	// AgainstValid: voted against a candidate that concluded valid (0%).
	AgainstValid
)

func (k OffenceKind) String() string {
	switch k {
	case ForInvalidBacked:
		return "for_invalid_backed"
	case ForInvalidApproved:
		return "for_invalid_approved"
	}
	return "against_valid"
}

// Offence is one slash reported by the dispute pallet.
type Offence struct {
	Session   types.SessionIndex
	Candidate types.Hash
	Validator types.ValidatorIndex
	Kind      OffenceKind
	At        types.BlockNumber
}

// State is the runtime storage after block Number.
type State struct {
	Number  types.BlockNumber
	Session types.SessionIndex
	// SessionStart is the block that started the session (scheduler's
	// SessionStartBlock), the base of group rotation.
	SessionStart types.BlockNumber
	// Paras in ascending para id.
	Paras []Para
	// AssignerNext is the block whose coretime assignment is at the front
	// of every core's claim queue: the queue holds the assignments of
	// AssignerNext .. AssignerNext+lookahead-1. It moves on by one in every
	// block that advances the claim queue, so a block that does not (a
	// pending session change) leaves its claims to the next block, as the
	// runtime's stored queue does.
	AssignerNext types.BlockNumber
	// Allowed are the allowed relay parents, oldest first.
	Allowed []RelayParentInfo
	// Disabled validators (ascending), for the rest of the session.
	Disabled []types.ValidatorIndex
	// Disputes sorted by (session, candidate).
	Disputes []DisputeState
	// Included sorted by (session, candidate).
	Included []InclusionRecord
	// Offences ever reported, in order.
	Offences []Offence
	// Frozen: a dispute reached f+1 votes against a candidate this chain
	// included; the runtime then backs and includes nothing.
	Frozen bool
	// RevertTo is the block the frozen chain asks to revert to.
	RevertTo types.BlockNumber
}

// Genesis is the state of block 0: every para at its genesis head, the
// claim queue filled for blocks 1..lookahead.
func (rt *Runtime) Genesis() *State {
	st := &State{Session: rt.cfg.FirstSession, SessionStart: 0, AssignerNext: 1}
	for _, p := range rt.cfg.Paras {
		st.Paras = append(st.Paras, Para{ID: p.ID, Head: slices.Clone(p.Head), CodeHash: p.CodeHash})
	}
	slices.SortFunc(st.Paras, func(a, b Para) int { return int64cmp(int64(a.ID), int64(b.ID)) })
	return st
}

func int64cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Clone is a deep copy; states are values the chain keeps per block.
func (s *State) Clone() *State {
	c := *s
	c.Paras = make([]Para, len(s.Paras))
	for i, p := range s.Paras {
		p.Head = slices.Clone(p.Head)
		pend := make([]*Pending, len(p.Pending))
		for j, pc := range p.Pending {
			cp := *pc
			cp.Availability = pc.Availability.Clone()
			cp.Backers = slices.Clone(pc.Backers)
			pend[j] = &cp
		}
		p.Pending = pend
		c.Paras[i] = p
	}
	c.Allowed = slices.Clone(s.Allowed)
	c.Disabled = slices.Clone(s.Disabled)
	c.Disputes = make([]DisputeState, len(s.Disputes))
	for i, d := range s.Disputes {
		d.For, d.Against = d.For.Clone(), d.Against.Clone()
		d.Backers = slices.Clone(d.Backers)
		if d.ConcludedAt != nil {
			at := *d.ConcludedAt
			d.ConcludedAt = &at
		}
		c.Disputes[i] = d
	}
	c.Included = slices.Clone(s.Included)
	c.Offences = slices.Clone(s.Offences)
	return &c
}

func (s *State) para(id types.ParaID) *Para {
	i, ok := slices.BinarySearchFunc(s.Paras, id, func(p Para, id types.ParaID) int { return int64cmp(int64(p.ID), int64(id)) })
	if !ok {
		return nil
	}
	return &s.Paras[i]
}

// occupant is the pending candidate on core, if any.
func (s *State) occupant(core types.CoreIndex) (*Para, int) {
	for i := range s.Paras {
		for j, pc := range s.Paras[i].Pending {
			if pc.Core == core {
				return &s.Paras[i], j
			}
		}
	}
	return nil, -1
}

func (s *State) isDisabled(v types.ValidatorIndex) bool {
	_, ok := slices.BinarySearch(s.Disabled, v)
	return ok
}

func (s *State) disable(v types.ValidatorIndex) {
	if i, ok := slices.BinarySearch(s.Disabled, v); !ok {
		s.Disabled = slices.Insert(s.Disabled, i, v)
	}
}

func disputeKeyCmp(as types.SessionIndex, ah types.Hash, bs types.SessionIndex, bh types.Hash) int {
	if as != bs {
		return int64cmp(int64(as), int64(bs))
	}
	return bytes.Compare(ah[:], bh[:])
}

func (s *State) dispute(session types.SessionIndex, h types.Hash) *DisputeState {
	i, ok := slices.BinarySearchFunc(s.Disputes, h, func(d DisputeState, h types.Hash) int {
		return disputeKeyCmp(d.Session, d.Candidate, session, h)
	})
	if !ok {
		return nil
	}
	return &s.Disputes[i]
}

func (s *State) inclusion(session types.SessionIndex, h types.Hash) (types.BlockNumber, bool) {
	i, ok := slices.BinarySearchFunc(s.Included, h, func(r InclusionRecord, h types.Hash) int {
		return disputeKeyCmp(r.Session, r.Candidate, session, h)
	})
	if !ok {
		return 0, false
	}
	return s.Included[i].At, true
}

func (s *State) noteIncluded(session types.SessionIndex, h types.Hash, at types.BlockNumber) {
	i, ok := slices.BinarySearchFunc(s.Included, h, func(r InclusionRecord, h types.Hash) int {
		return disputeKeyCmp(r.Session, r.Candidate, session, h)
	})
	if !ok {
		s.Included = slices.Insert(s.Included, i, InclusionRecord{Session: session, Candidate: h, At: at})
	}
}
