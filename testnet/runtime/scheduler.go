package runtime

import (
	"encoding/binary"
	"maps"
	"slices"
	"sync"

	"github.com/polkadot-provisioner/provisioner/types"
)

// assignment is the para the coretime assigner gives core at block b.
func (rt *Runtime) assignment(core int, b types.BlockNumber) types.ParaID {
	cycle := rt.cfg.Schedule[core]
	return cycle[int(uint64(b)%uint64(len(cycle)))]
}

// claimQueueFrom is the claim queue filled from assigner position next:
// per core the assignments of next .. next+lookahead-1, the front first.
func (rt *Runtime) claimQueueFrom(next types.BlockNumber) [][]types.ParaID {
	q := make([][]types.ParaID, rt.cfg.Cores)
	for c := range q {
		q[c] = make([]types.ParaID, rt.cfg.Lookahead)
		for d := range q[c] {
			q[c][d] = rt.assignment(c, next+types.BlockNumber(d))
		}
	}
	return q
}

// transposed is the tracker's claim queue: para -> depth -> cores.
func transposed(q [][]types.ParaID) types.ClaimQueueLookup {
	return func(para types.ParaID, depth uint8) []types.CoreIndex {
		var out []types.CoreIndex
		for c, paras := range q {
			if int(depth) < len(paras) && paras[depth] == para {
				out = append(out, types.CoreIndex(c))
			}
		}
		return out
	}
}

// isSessionStart reports whether block n applies a session change.
func (rt *Runtime) isSessionStart(n types.BlockNumber) bool {
	l := rt.cfg.SessionLength
	return l != 0 && n != 0 && n%l == 0
}

// upcomingSessionChange is the runtime's upcoming_session_change() during
// block n: the change is buffered and the next block applies it.
func (rt *Runtime) upcomingSessionChange(n types.BlockNumber) bool {
	return rt.isSessionStart(n + 1)
}

// Groups are the backing groups of session: a seeded shuffle of the
// validator indices cut into len/GroupSize groups (the remainder joins the
// last). The first session keeps index order, which is the testnet's
// historical grouping. Polkadot shuffles the active validator set itself,
// so a validator's index changes with the session; here indices stay and
// only group membership moves, so that a node keeps its index.
//
// The result is the caller's to keep and modify.
func (rt *Runtime) Groups(session types.SessionIndex) [][]types.ValidatorIndex {
	groups := rt.groups.get(rt, session)
	out := make([][]types.ValidatorIndex, len(groups))
	for i, g := range groups {
		out[i] = slices.Clone(g)
	}
	return out
}

// Group is Groups(session)[gi], or false when there is no group gi.
func (rt *Runtime) Group(session types.SessionIndex, gi types.GroupIndex) ([]types.ValidatorIndex, bool) {
	groups := rt.groups.get(rt, session)
	if int(gi) >= len(groups) {
		return nil, false
	}
	return slices.Clone(groups[gi]), true
}

// groupCacheSize bounds the sessions whose groups are kept: the current
// and next one, and the dispute period's behind them, fit.
const groupCacheSize = 16

// groupCache memoizes computeGroups by session. The groups it hands out
// are shared: the runtime only reads them.
type groupCache struct {
	mu       sync.Mutex
	sessions map[types.SessionIndex][][]types.ValidatorIndex
}

func newGroupCache() *groupCache {
	return &groupCache{sessions: make(map[types.SessionIndex][][]types.ValidatorIndex)}
}

// get returns the groups of session, computed once while the session is
// among the groupCacheSize latest asked for (the lowest session goes
// first). A nil cache computes every time.
func (c *groupCache) get(rt *Runtime, session types.SessionIndex) [][]types.ValidatorIndex {
	if c == nil {
		return rt.computeGroups(session)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.sessions[session]; ok {
		return g
	}
	g := rt.computeGroups(session)
	if len(c.sessions) >= groupCacheSize {
		delete(c.sessions, slices.Min(slices.Collect(maps.Keys(c.sessions))))
	}
	c.sessions[session] = g
	return g
}

func (rt *Runtime) computeGroups(session types.SessionIndex) [][]types.ValidatorIndex {
	n := len(rt.cfg.Validators)
	order := make([]types.ValidatorIndex, n)
	for i := range order {
		order[i] = types.ValidatorIndex(i)
	}
	if session != rt.cfg.FirstSession {
		var seed [16]byte
		binary.LittleEndian.PutUint64(seed[:8], rt.cfg.Seed)
		binary.LittleEndian.PutUint64(seed[8:], uint64(session))
		newRNG(types.Blake2_256(append([]byte("group shuffle"), seed[:]...))).shuffle(n, func(i, j int) {
			order[i], order[j] = order[j], order[i]
		})
	}
	count := n / rt.cfg.GroupSize
	groups := make([][]types.ValidatorIndex, count)
	for i, v := range order {
		gi := min(i/rt.cfg.GroupSize, count-1)
		groups[gi] = append(groups[gi], v)
	}
	return groups
}

// groupForCore is group_assigned_to_core(core, at) in the state's session:
// (core + rotations since the session start) mod groups.
func (rt *Runtime) groupForCore(st *State, core types.CoreIndex, at types.BlockNumber) (types.GroupIndex, bool) {
	groups := len(rt.cfg.Validators) / rt.cfg.GroupSize
	if at < st.SessionStart || int(core) >= rt.cfg.Cores || groups == 0 {
		return 0, false
	}
	rotations := uint64((at - st.SessionStart) / rt.cfg.GroupRotationFrequency)
	return types.GroupIndex((uint64(core) + rotations) % uint64(groups)), true
}

// timeoutPredicate is the scheduler's availability_timeout_predicate and
// availability_timeout_check_required as evaluated when block_number() is
// n: both use now = n+1, so that the runtime API at block n (whose
// block_number() is n) describes the block built on it. In the window of
// paras_availability_period blocks after a rotation a candidate times out
// period blocks after it was backed; otherwise its time out is period
// blocks after the next rotation, so within a rotation nothing times out.
type timeoutPredicate struct {
	now           types.BlockNumber
	checkRequired bool
	nextRotation  types.BlockNumber
	period        types.BlockNumber
}

func (rt *Runtime) timeouts(st *State, n types.BlockNumber) timeoutPredicate {
	now := n + 1
	f := rt.cfg.GroupRotationFrequency
	since := now - min(now, st.SessionStart)
	lastRotation := now - since%f
	return timeoutPredicate{
		now:           now,
		checkRequired: now < lastRotation+rt.cfg.ParasAvailabilityPeriod,
		nextRotation:  st.SessionStart + (since/f+1)*f,
		period:        rt.cfg.ParasAvailabilityPeriod,
	}
}

// liveUntil is the block at which a candidate backed in backedIn times out.
func (p timeoutPredicate) liveUntil(backedIn types.BlockNumber) types.BlockNumber {
	if p.checkRequired {
		return backedIn + p.period
	}
	return p.nextRotation + p.period
}

func (p timeoutPredicate) timedOut(backedIn types.BlockNumber) bool {
	return p.liveUntil(backedIn) <= p.now
}

// newSession applies a session change at block n, as the initializer does
// before the inherent runs: pending availability is dropped (inclusion's
// initializer_on_new_session drains it), the allowed relay parents are
// cleared (they never cross a session), disabled validators are enabled
// again, and disputes and inclusion records older than the dispute period
// are pruned. The groups of the new session are Groups(session).
func (rt *Runtime) newSession(st *State, n types.BlockNumber, out *Outcome) {
	st.Session++
	st.SessionStart = n
	for i := range st.Paras {
		for _, pc := range st.Paras[i].Pending {
			out.Dropped = append(out.Dropped, DroppedCandidate{Para: st.Paras[i].ID, Hash: pc.Hash, Core: pc.Core, Reason: DropSessionChange})
		}
		st.Paras[i].Pending = nil
	}
	st.Allowed = nil
	st.Disabled = nil
	oldest := st.Session - min(st.Session, rt.cfg.DisputePeriod)
	st.Disputes = slices.DeleteFunc(st.Disputes, func(d DisputeState) bool { return d.Session < oldest })
	st.Included = slices.DeleteFunc(st.Included, func(r InclusionRecord) bool { return r.Session < oldest })
	out.SessionChanged = true
}

// updateTracker is the allowed-relay-parents tracker's update at the start
// of block n's inherent: the parent joins the window, which keeps the last
// lookahead blocks (n-1 .. n-lookahead).
func (rt *Runtime) updateTracker(st *State, parent RelayParentInfo) {
	st.Allowed = append(st.Allowed, parent)
	if over := len(st.Allowed) - int(rt.cfg.Lookahead); over > 0 {
		st.Allowed = slices.Delete(st.Allowed, 0, over)
	}
}

func (st *State) allowedRelayParent(h types.Hash) (RelayParentInfo, bool) {
	for _, a := range st.Allowed {
		if a.Hash == h {
			return a, true
		}
	}
	return RelayParentInfo{}, false
}
