package testnet

import (
	"context"
	"fmt"
	"slices"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/types"
)

// The runtime limits the testnet's constraints report. The simulated
// runtime checks neither (a later issue models the HostConfiguration);
// these are Polkadot's values, far above what the testnet's collators
// produce (36-byte heads, code of a few dozen bytes).
const (
	maxHeadDataSize = 20 * 1024
	maxCodeSize     = 3 << 20
)

// BackingState is the provisioner's view of what the testnet's runtime
// accepts at leaf (provisioner.ChainView): per para the head on chain, its
// candidates pending availability in chain order, the code hash; a claim
// queue of one claim per core (the testnet has no lookahead: core i always
// serves Genesis.ParaForCore(i)); no disabled validators and no group
// rotation (the testnet has neither); the genesis' minimum_backing_votes.
func (c *Chain) BackingState(_ context.Context, leaf types.Hash) (provisioner.BackingState, error) {
	e, err := c.get(leaf)
	if err != nil {
		return provisioner.BackingState{}, err
	}
	st := e.state
	bs := provisioner.BackingState{
		Paras:               make(map[types.ParaID]provisioner.ParaConstraints, len(c.g.Paras)),
		MinimumBackingVotes: c.g.MinBackingVotes,
	}
	bs.ClaimQueue = claimQueue(c.g)
	// The testnet's runtime accepts only the leaf as a relay parent, so
	// the leaf is also the lowest relay-parent number.
	for i, para := range c.g.Paras {
		cons := provisioner.ParaConstraints{
			RequiredParent:       st.Heads[i],
			MinRelayParentNumber: e.header.Number,
			MaxHeadDataSize:      maxHeadDataSize,
			MaxCodeSize:          maxCodeSize,
			ValidationCodeHash:   st.CodeHash[i],
		}
		cons.PendingAvailability = c.pendingChain(st, para, st.Heads[i])
		bs.Paras[para] = cons
	}
	for _, pc := range st.Cores {
		if pc != nil && pc.OccupiedSince == st.Number && st.Number > 0 {
			bs.BackedInLeaf++
		}
	}
	return bs, nil
}

// claimQueue is the testnet's claim_queue() at every block: one claim per
// core, core i for Genesis.ParaForCore(i) (no lookahead, no on-demand), so
// the snapshot at any relay parent is this one. Collators select their
// core with a SelectCore signal against it (BuildCandidate).
func claimQueue(g *Genesis) map[types.CoreIndex][]types.ParaID {
	cq := make(map[types.CoreIndex][]types.ParaID, g.Cores)
	for core := range g.Cores {
		cq[types.CoreIndex(core)] = []types.ParaID{g.ParaForCore(types.CoreIndex(core))}
	}
	return cq
}

// NodeFeatures: the testnet's sessions set no node feature, so every node
// reads descriptors with the rule from before V3 and collators build V2
// (or, with Genesis.V1Descriptors, V1) descriptors.
func (c *Chain) NodeFeatures(_ context.Context, session types.SessionIndex) (types.BitVec, error) {
	if session != c.g.Session {
		return types.BitVec{}, fmt.Errorf("%w: session %d", ErrUnknownBlock, session)
	}
	return types.BitVec{}, nil
}

// IncludedAt: the simulated runtime records no inclusion per candidate
// (State.Included counts per para) and checks the dispute order as
// (session, candidate) only, so every dispute is remote here, which is
// the order it accepts.
func (c *Chain) IncludedAt(_ context.Context, leaf types.Hash, _ []provisioner.DisputeKey) (map[provisioner.DisputeKey]types.BlockNumber, error) {
	if _, err := c.get(leaf); err != nil {
		return nil, err
	}
	return nil, nil
}

// pendingChain orders a para's candidates pending availability from its
// head on chain: each builds on the head of the one before, which its
// persisted validation data (under its relay parent) proves. A candidate
// whose relay parent the chain no longer holds ends the chain there:
// nothing can be proven to build on it.
func (c *Chain) pendingChain(st *State, para types.ParaID, head []byte) []provisioner.PendingCandidate {
	var pending []*PendingCandidate
	for _, pc := range st.Cores {
		if pc != nil && pc.Para == para {
			pending = append(pending, pc)
		}
	}
	var out []provisioner.PendingCandidate
	for len(pending) > 0 {
		next := -1
		var rpNumber types.BlockNumber
		for k, pc := range pending {
			rp, _, err := c.HeaderAndState(pc.Receipt.Descriptor.RelayParent)
			if err != nil {
				continue
			}
			if pvd := PVD(head, rp.Number, rp.StateRoot); pvd.Hash() == pc.Receipt.Descriptor.PersistedValidationDataHash {
				next, rpNumber = k, rp.Number
				break
			}
		}
		if next < 0 {
			break
		}
		pc := pending[next]
		out = append(out, provisioner.PendingCandidate{
			CandidateHash: pc.Receipt.Hash(), HeadHash: types.Blake2_256(pc.Head), RelayParentNumber: rpNumber,
		})
		head = pc.Head
		pending = slices.Delete(pending, next, next+1)
	}
	return out
}

// The network layer's view of backing (p2p.AncestryView), answered from
// memory without waiting: a candidate may name as relay parent an active
// leaf or one of the leaf's allowed relay parents, which are the
// provisioner's (Chain.AllowedRelayParents: for the testnet's runtime, the
// leaf alone), so that gossip accepts exactly what the provisioner keeps.

var _ p2p.AncestryView = (*netView)(nil)

// AllowedRelayParent reports whether rp is an active leaf or an allowed
// relay parent of one, with the leaves whose window holds it.
func (v *netView) AllowedRelayParent(rp types.Hash) (p2p.RelayParentInfo, bool) {
	v.mu.Lock()
	leaves := make([]types.Hash, 0, len(v.active))
	for l := range v.active {
		leaves = append(leaves, l)
	}
	v.mu.Unlock()
	slices.SortFunc(leaves, func(a, b types.Hash) int { return slices.Compare(a[:], b[:]) })
	// No node feature is set (Chain.NodeFeatures), and every block's claim
	// queue is the same (claimQueue).
	info := p2p.RelayParentInfo{Session: v.g.Session, Validators: v.g.Validators, NumCores: v.g.Cores, ClaimQueue: claimQueue(v.g)}
	for _, l := range leaves {
		allowed, err := v.chain.AllowedRelayParents(context.Background(), l)
		if err != nil {
			continue
		}
		if l == rp {
			h, _, err := v.chain.HeaderAndState(l)
			if err != nil {
				continue
			}
			info.Number = h.Number
			info.Leaves = append(info.Leaves, l)
			continue
		}
		for _, a := range allowed {
			if a.Hash == rp {
				info.Number = a.Number
				info.Leaves = append(info.Leaves, l)
			}
		}
	}
	return info, len(info.Leaves) > 0
}

// BackingGroupAt: the testnet does not rotate groups, and nodes gossip one
// vote each (the backing pool merges them), so one valid vote is enough
// for the network layer, as in BackingGroup.
func (v *netView) BackingGroupAt(session types.SessionIndex, core types.CoreIndex, _ types.BlockNumber) ([]types.ValidatorIndex, int, error) {
	if session != v.g.Session {
		return nil, 0, p2p.ErrUnknownBackingGroup
	}
	if int(core) >= v.g.Cores {
		return nil, 0, p2p.ErrUnknownBackingGroup
	}
	return v.groups[v.g.GroupForCore(core)], 1, nil
}
