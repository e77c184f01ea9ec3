package testnet

import (
	"context"
	"fmt"
	"slices"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/types"
)

// BackingState is the provisioner's view of what the runtime accepts in
// the leaf's child (provisioner.ChainView): per para its
// backing_constraints, the claim queue, the disabled validators, the
// minimum_backing_votes, the group rotation and what the leaf itself
// backed, all from testnet/runtime.
func (c *Chain) BackingState(_ context.Context, leaf types.Hash) (provisioner.BackingState, error) {
	e, err := c.get(leaf)
	if err != nil {
		return provisioner.BackingState{}, err
	}
	st := e.state
	start, freq := c.rt.GroupRotation(st)
	bs := provisioner.BackingState{
		Paras:               make(map[types.ParaID]provisioner.ParaConstraints, len(st.Paras)),
		ClaimQueue:          c.rt.ClaimQueue(st),
		Disabled:            c.rt.DisabledValidators(st),
		MinimumBackingVotes: c.rt.MinimumBackingVotes(),
		Rotation:            provisioner.GroupRotation{SessionStart: start, Frequency: freq},
	}
	if e.out != nil {
		bs.BackedInLeaf = len(e.out.Backed)
	}
	if c.g.childBacksNothing(st.Number + 1) {
		// The child buffers a session change: the runtime backs nothing
		// in it, so no para may be backed (the provisioner would offer
		// candidates create_inherent drops).
		return bs, nil
	}
	for _, para := range c.rt.Paras(st) {
		cons, err := c.rt.BackingConstraints(st, &e.header, para)
		if err != nil {
			return provisioner.BackingState{}, fmt.Errorf("backing constraints of para %d: %w", para, err)
		}
		pc := provisioner.ParaConstraints{
			RequiredParent:       cons.RequiredParent,
			MinRelayParentNumber: cons.MinRelayParentNumber,
			MaxHeadDataSize:      cons.MaxHeadDataSize,
			MaxCodeSize:          cons.MaxCodeSize,
			// The code the next candidate names (nextCodeHash): the
			// runtime enacts a pending upgrade before it backs anything
			// chained on it.
			ValidationCodeHash: nextCodeHash(st, para, &cons),
		}
		for _, p := range cons.Pending {
			pc.PendingAvailability = append(pc.PendingAvailability, provisioner.PendingCandidate{
				CandidateHash: p.Hash, HeadHash: p.HeadHash, RelayParentNumber: p.RelayParentNumber,
			})
		}
		bs.Paras[para] = pc
	}
	return bs, nil
}

// NodeFeatures is the runtime's node_features() (the testnet sets none,
// so descriptors read with the rule from before V3) for a session the
// chain keeps.
func (c *Chain) NodeFeatures(_ context.Context, session types.SessionIndex) (types.BitVec, error) {
	_, st := c.Best()
	if _, err := c.rt.SessionValidators(st, session); err != nil {
		return types.BitVec{}, fmt.Errorf("%w: %w", ErrUnknownBlock, err)
	}
	return c.rt.NodeFeatures(), nil
}

// IncludedAt is the runtime's inclusion record (disputes' Included) of
// each dispute's candidate at the leaf: the provisioner orders local
// disputes first by it, as create_inherent does.
func (c *Chain) IncludedAt(_ context.Context, leaf types.Hash, keys []provisioner.DisputeKey) (map[provisioner.DisputeKey]types.BlockNumber, error) {
	e, err := c.get(leaf)
	if err != nil {
		return nil, err
	}
	out := map[provisioner.DisputeKey]types.BlockNumber{}
	for _, k := range keys {
		if at, ok := c.rt.InclusionHeight(e.state, k.Session, k.CandidateHash); ok {
			out[k] = at
		}
	}
	return out, nil
}

// The network layer's view of backing (p2p.AncestryView), answered from
// memory without waiting: a candidate may name as relay parent an active
// leaf or one of the leaf's allowed relay parents (the runtime's), so that
// gossip accepts exactly what the provisioner keeps.

var _ p2p.AncestryView = (*netView)(nil)

// AllowedRelayParent reports whether rp is an active leaf or an allowed
// relay parent of one, with the leaves whose window holds it, the child's
// session and the claim-queue snapshot at rp. It runs for every backed
// candidate gossiped, so each leaf's window is computed once, on the first
// question after the leaf's activation, and kept while the leaf is active
// (a block's state never changes).
func (v *netView) AllowedRelayParent(rp types.Hash) (p2p.RelayParentInfo, bool) {
	v.mu.Lock()
	leaves := make([]types.Hash, 0, len(v.active))
	for l := range v.active {
		leaves = append(leaves, l)
	}
	slices.SortFunc(leaves, func(a, b types.Hash) int { return slices.Compare(a[:], b[:]) })
	info := p2p.RelayParentInfo{Validators: v.g.Validators, NumCores: v.g.Cores, NodeFeatures: v.g.rt.NodeFeatures()}
	for _, l := range leaves {
		w, ok := v.windows[l]
		if !ok {
			if w, ok = v.window(l); !ok {
				continue
			}
			v.windows[l] = w
		}
		if a, ok := w[rp]; ok {
			// Allowed relay parents never cross a session, so every leaf
			// holding rp names the same session for its child.
			info.Number, info.Session, info.ClaimQueue = a.number, a.session, a.claimQueue
			info.Leaves = append(info.Leaves, l)
		}
	}
	v.mu.Unlock()
	return info, len(info.Leaves) > 0
}

// window computes leaf's allowed relay parents from the runtime; false
// when the chain does not hold the leaf. The claim queues are shared by
// every answer: the network layer only reads them.
func (v *netView) window(leaf types.Hash) (map[types.Hash]relayParentEntry, bool) {
	h, st, err := v.chain.HeaderAndState(leaf)
	if err != nil {
		return nil, false
	}
	rt := v.g.rt
	session := rt.SessionIndexForChild(st)
	allowed := rt.AllowedRelayParents(st, &h)
	w := make(map[types.Hash]relayParentEntry, len(allowed))
	for _, a := range allowed {
		cq, err := rt.ClaimQueueAt(st, &h, a.Hash)
		if err != nil {
			continue
		}
		w[a.Hash] = relayParentEntry{number: a.Number, session: session, claimQueue: cq}
	}
	return w, true
}

// BackingGroupAt is the runtime's group_assigned_to_core(core, at) in the
// session (with group rotation) from the best block's view. Nodes gossip
// one vote each and the backing pool merges them, so one valid vote is
// enough for the network layer.
func (v *netView) BackingGroupAt(session types.SessionIndex, core types.CoreIndex, at types.BlockNumber) ([]types.ValidatorIndex, int, error) {
	group, ok := v.chain.backingGroupAt(session, core, at)
	if !ok {
		return nil, 0, p2p.ErrUnknownBackingGroup
	}
	return group, 1, nil
}

// backingGroupAt is the group assigned to core at block at, when session
// is the session of the best block's child.
func (c *Chain) backingGroupAt(session types.SessionIndex, core types.CoreIndex, at types.BlockNumber) ([]types.ValidatorIndex, bool) {
	_, st := c.Best()
	if c.rt.SessionIndexForChild(st) != session {
		return nil, false
	}
	gi, ok := c.rt.GroupForCore(st, core, at)
	if !ok {
		return nil, false
	}
	return c.rt.Group(session, gi)
}

// sessionForChild is the session of leaf's child (the signing session of
// bitfields and backing votes for leaf); for a block the chain does not
// hold, the best block's.
func (c *Chain) sessionForChild(leaf types.Hash) types.SessionIndex {
	if _, st, err := c.HeaderAndState(leaf); err == nil {
		return c.rt.SessionIndexForChild(st)
	}
	_, st := c.Best()
	return c.rt.SessionIndexForChild(st)
}

// childBacksNothing reports whether block n is the last of its session:
// the runtime buffers the session change during it and backs nothing
// (upcoming_session_change).
func (g *Genesis) childBacksNothing(n types.BlockNumber) bool {
	return g.SessionLength != 0 && (n+1)%g.SessionLength == 0
}
