package runtime

import (
	"fmt"
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The runtime APIs. Each answers at a block's post-state for the block
// built on it (the child), as Polkadot's node asks them: when the child
// starts a session, the answers are the new session's (its groups, no
// disabled validators, the leaf as the only allowed relay parent).

// RelayParent is an allowed relay parent with its number.
type RelayParent struct {
	Hash      types.Hash
	Number    types.BlockNumber
	StateRoot types.Hash
}

// PendingInfo is a candidate pending availability, in chain order.
type PendingInfo struct {
	Hash              types.Hash
	Core              types.CoreIndex
	HeadHash          types.Hash
	RelayParentNumber types.BlockNumber
	BackedIn          types.BlockNumber
}

// Constraints is backing_constraints(para) at a leaf.
type Constraints struct {
	// RequiredParent is the para's head on chain; Pending builds on it.
	RequiredParent []byte
	// Pending are the candidates pending availability in chain order.
	Pending []PendingInfo
	// Tip is the head a new candidate builds on: the last pending
	// candidate's head, else RequiredParent.
	Tip []byte
	// MinRelayParentNumber is the oldest allowed relay parent's number for
	// the child, raised to the para's latest context (relay parents never
	// move backwards).
	MinRelayParentNumber types.BlockNumber
	MaxHeadDataSize      uint32
	MaxCodeSize          uint32
	MaxPoVSize           uint32
	ValidationCodeHash   types.Hash
	// UpgradeRestricted: a pending candidate carries new code, so another
	// code upgrade would be refused.
	UpgradeRestricted bool
}

func (rt *Runtime) childStartsSession(st *State) bool { return rt.isSessionStart(st.Number + 1) }

// SessionIndexForChild is session_index_for_child.
func (rt *Runtime) SessionIndexForChild(st *State) types.SessionIndex {
	if rt.childStartsSession(st) {
		return st.Session + 1
	}
	return st.Session
}

// childSessionStart is the SessionStartBlock the child will see.
func (rt *Runtime) childSessionStart(st *State) types.BlockNumber {
	if rt.childStartsSession(st) {
		return st.Number + 1
	}
	return st.SessionStart
}

// AllowedRelayParents are the relay parents a candidate in the child may
// name, oldest first, the leaf last.
func (rt *Runtime) AllowedRelayParents(st *State, leaf *types.Header) []RelayParent {
	var prior []RelayParentInfo
	if !rt.childStartsSession(st) {
		prior = st.Allowed
		if over := len(prior) + 1 - int(rt.cfg.Lookahead); over > 0 {
			prior = prior[over:]
		}
	}
	out := make([]RelayParent, 0, len(prior)+1)
	for _, a := range prior {
		out = append(out, RelayParent{Hash: a.Hash, Number: a.Number, StateRoot: a.StateRoot})
	}
	return append(out, RelayParent{Hash: leaf.Hash(), Number: leaf.Number, StateRoot: leaf.StateRoot})
}

func (rt *Runtime) allowedForChild(st *State, leaf *types.Header, rp types.Hash) (types.BlockNumber, types.BlockNumber, bool) {
	if rp == leaf.Hash() {
		return leaf.Number, st.AssignerNext, true
	}
	if rt.childStartsSession(st) {
		return 0, 0, false
	}
	prior := st.Allowed
	if over := len(prior) + 1 - int(rt.cfg.Lookahead); over > 0 {
		prior = prior[over:]
	}
	for _, a := range prior {
		if a.Hash == rp {
			return a.Number, a.AssignerNext, true
		}
	}
	return 0, 0, false
}

// ClaimQueue is claim_queue(): per core the paras of the next lookahead
// blocks, the front first.
func (rt *Runtime) ClaimQueue(st *State) map[types.CoreIndex][]types.ParaID {
	return queueMap(rt.claimQueueFrom(st.AssignerNext))
}

func queueMap(q [][]types.ParaID) map[types.CoreIndex][]types.ParaID {
	out := make(map[types.CoreIndex][]types.ParaID, len(q))
	for c, paras := range q {
		out[types.CoreIndex(c)] = paras
	}
	return out
}

// ClaimQueueAt is the claim queue as of an allowed relay parent of the
// child (the tracker's snapshot, against which V2 UMP signals are checked).
func (rt *Runtime) ClaimQueueAt(st *State, leaf *types.Header, rp types.Hash) (map[types.CoreIndex][]types.ParaID, error) {
	_, next, ok := rt.allowedForChild(st, leaf, rp)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRelayParent, rp)
	}
	return queueMap(rt.claimQueueFrom(next)), nil
}

// ClaimQueueLookup is ClaimQueueAt transposed, for types.CheckUMPSignals.
func (rt *Runtime) ClaimQueueLookup(st *State, leaf *types.Header, rp types.Hash) (types.ClaimQueueLookup, error) {
	_, next, ok := rt.allowedForChild(st, leaf, rp)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRelayParent, rp)
	}
	return transposed(rt.claimQueueFrom(next)), nil
}

// AvailabilityCores is availability_cores() as runtime API v13 derives it
// from the claim queue: an occupied core's next_up fields are the front of
// its queue and its group is the one at relay-parent number + 1; a free
// core is Scheduled for its front.
func (rt *Runtime) AvailabilityCores(st *State) []types.CoreState {
	q := rt.claimQueueFrom(st.AssignerNext)
	pred := rt.timeouts(st, st.Number)
	out := make([]types.CoreState, rt.cfg.Cores)
	for c := range out {
		front := types.ScheduledCore{ParaID: q[c][0]}
		out[c] = types.CoreState{Kind: types.CoreScheduled, Scheduled: front}
	}
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			front := types.ScheduledCore{ParaID: q[pc.Core][0]}
			next, timeout := front, front
			gi, _ := rt.groupForCore(st, pc.Core, pc.RelayParentNumber+1)
			out[pc.Core] = types.CoreState{Kind: types.CoreOccupied, Occupied: &types.OccupiedCore{
				NextUpOnAvailable:   &next,
				OccupiedSince:       pc.BackedIn,
				TimeOutAt:           pred.liveUntil(pc.BackedIn),
				NextUpOnTimeOut:     &timeout,
				Availability:        pc.Availability.Clone(),
				GroupResponsible:    gi,
				CandidateHash:       pc.Hash,
				CandidateDescriptor: pc.Descriptor,
			}}
		}
	}
	return out
}

// BackingConstraints is backing_constraints(para) at leaf (st is the
// leaf's state).
func (rt *Runtime) BackingConstraints(st *State, leaf *types.Header, para types.ParaID) (Constraints, error) {
	p := st.para(para)
	if p == nil {
		return Constraints{}, fmt.Errorf("%w: %d", ErrUnknownPara, para)
	}
	allowed := rt.AllowedRelayParents(st, leaf)
	c := Constraints{
		RequiredParent: slices.Clone(p.Head), Tip: slices.Clone(p.Head),
		MinRelayParentNumber: max(allowed[0].Number, p.MostRecentContext),
		MaxHeadDataSize:      rt.cfg.MaxHeadDataSize, MaxCodeSize: rt.cfg.MaxCodeSize, MaxPoVSize: rt.cfg.MaxPoVSize,
		ValidationCodeHash: p.CodeHash,
	}
	if rt.childStartsSession(st) {
		// The session change drops every pending candidate.
		return c, nil
	}
	for _, pc := range p.Pending {
		c.Pending = append(c.Pending, PendingInfo{Hash: pc.Hash, Core: pc.Core, HeadHash: types.Blake2_256(pc.Head),
			RelayParentNumber: pc.RelayParentNumber, BackedIn: pc.BackedIn})
		c.Tip = slices.Clone(pc.Head)
		c.MinRelayParentNumber = max(c.MinRelayParentNumber, pc.RelayParentNumber)
		c.UpgradeRestricted = c.UpgradeRestricted || pc.NewCode != nil
	}
	return c, nil
}

// Paras are the registered para ids, ascending.
func (rt *Runtime) Paras(st *State) []types.ParaID {
	out := make([]types.ParaID, len(st.Paras))
	for i := range st.Paras {
		out[i] = st.Paras[i].ID
	}
	return out
}

// Head is a para's head on chain and how many candidates it included.
func (rt *Runtime) Head(st *State, para types.ParaID) ([]byte, uint32, error) {
	p := st.para(para)
	if p == nil {
		return nil, 0, fmt.Errorf("%w: %d", ErrUnknownPara, para)
	}
	return p.Head, p.Included, nil
}

// NodeFeatures is node_features().
func (rt *Runtime) NodeFeatures() types.BitVec { return rt.cfg.NodeFeatures.Clone() }

// MinimumBackingVotes is minimum_backing_votes() (capped per group by the
// group size when used).
func (rt *Runtime) MinimumBackingVotes() int { return rt.cfg.MinimumBackingVotes }

// Lookahead is scheduling_lookahead().
func (rt *Runtime) Lookahead() uint32 { return rt.cfg.Lookahead }

// DisabledValidators is disabled_validators() for the child.
func (rt *Runtime) DisabledValidators(st *State) []types.ValidatorIndex {
	if rt.childStartsSession(st) {
		return nil
	}
	return slices.Clone(st.Disabled)
}

// SessionValidators are the validator keys of session (every session has
// the genesis validators), if the chain still keeps the session.
func (rt *Runtime) SessionValidators(st *State, session types.SessionIndex) ([]types.ValidatorID, error) {
	if err := rt.knownSession(st, session); err != nil {
		return nil, err
	}
	return rt.cfg.Validators, nil
}

// SessionGroups are the backing groups of session.
func (rt *Runtime) SessionGroups(st *State, session types.SessionIndex) ([][]types.ValidatorIndex, error) {
	if err := rt.knownSession(st, session); err != nil {
		return nil, err
	}
	return rt.Groups(session), nil
}

func (rt *Runtime) knownSession(st *State, session types.SessionIndex) error {
	child := rt.SessionIndexForChild(st)
	if session > child || session+rt.cfg.DisputePeriod < st.Session {
		return fmt.Errorf("%w: %d (chain at %d)", ErrUnknownSession, session, child)
	}
	return nil
}

// GroupRotation is group_rotation_info for the child: the session start
// block and the rotation frequency.
func (rt *Runtime) GroupRotation(st *State) (sessionStart, frequency types.BlockNumber) {
	return rt.childSessionStart(st), rt.cfg.GroupRotationFrequency
}

// GroupForCore is group_assigned_to_core(core, at) in the child's session.
func (rt *Runtime) GroupForCore(st *State, core types.CoreIndex, at types.BlockNumber) (types.GroupIndex, bool) {
	view := State{SessionStart: rt.childSessionStart(st)}
	return rt.groupForCore(&view, core, at)
}

// Disputes is disputes(): every dispute the chain keeps, by (session,
// candidate).
func (rt *Runtime) Disputes(st *State) []DisputeState {
	return st.Clone().Disputes
}

// InclusionHeight is the block that included the candidate in session, for
// the runtime's ordering of local disputes.
func (rt *Runtime) InclusionHeight(st *State, session types.SessionIndex, candidate types.Hash) (types.BlockNumber, bool) {
	return st.inclusion(session, candidate)
}

// SortDisputes orders dispute sets as create_inherent will (local
// disputes by inclusion height, then by session and hash) and drops
// repeated (session, candidate) sets: a provisioner can use it on the
// leaf's state.
func (rt *Runtime) SortDisputes(st *State, sets []types.DisputeStatementSet) []types.DisputeStatementSet {
	return sortDisputes(st, sets)
}
