package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// provService runs the provisioner subsystem for a node and adapts it to
// the network layer's InherentProvider.
type provService struct {
	sub    *provisioner.Subsystem
	chain  *Chain
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	best types.Hash // the last activated leaf: the node's best block
}

func newProvService(ctx context.Context, chain *Chain, prePropose time.Duration, reg prometheus.Registerer) (*provService, error) {
	sub, err := provisioner.NewSubsystem(provisioner.Config{
		Chain: chain, Clock: provisioner.RealClock(), Registerer: reg, PrePropose: prePropose,
	})
	if err != nil {
		return nil, fmt.Errorf("provisioner: %w", err)
	}
	s := &provService{sub: sub, chain: chain, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.done)
		if err := sub.Run(s.ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warnw("provisioner stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *provService) activate(leaf types.Hash, number types.BlockNumber, old types.Hash) {
	u := provisioner.ActiveLeavesUpdate{Activated: []provisioner.ActivatedLeaf{{Hash: leaf, Number: number}}}
	if !old.IsZero() {
		u.Deactivated = []types.Hash{old}
	}
	if err := s.sub.ActiveLeaves(s.ctx, u); err != nil && s.ctx.Err() == nil {
		log.Warnw("active leaves update", "err", err)
	}
	// Recorded once the provisioner knows the leaf, so that a best-leaf
	// request never names a leaf it has not heard of yet.
	s.mu.Lock()
	s.best = leaf
	s.mu.Unlock()
}

func (s *provService) feed(rp types.Hash, d provisioner.Data) {
	if err := s.sub.Feed(s.ctx, rp, d); err != nil && s.ctx.Err() == nil {
		log.Debugw("feed", "err", err)
	}
}

func (s *provService) stop() {
	_ = s.sub.Conclude(s.ctx)
	s.cancel()
	<-s.done
}

// RequestInherentData serves the inherent protocol (p2p.InherentProvider),
// mapping the provisioner's errors to the wire's.
func (s *provService) RequestInherentData(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
	r, err := s.sub.RequestInherentData(ctx, rp)
	switch {
	case err == nil:
		return r.Data, nil
	case errors.Is(err, provisioner.ErrUnknownLeaf), errors.Is(err, provisioner.ErrLeafDeactivated):
		return nil, fmt.Errorf("%w: %w", p2p.ErrUnknownLeaf, err)
	case errors.Is(err, provisioner.ErrShuttingDown):
		return nil, fmt.Errorf("%w: %w", p2p.ErrShuttingDown, err)
	case errors.Is(err, provisioner.ErrTooManyRequests):
		// The leaf's held requests are full: load shedding, answered busy.
		return nil, fmt.Errorf("%w: %w", p2p.ErrBusy, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, provisioner.ErrAssemblyTimeout):
		return nil, fmt.Errorf("%w: %w", p2p.ErrNotReady, err)
	}
	return nil, err
}

// BestLeaf is the node's best block, which it activates as its only leaf
// (p2p.LeafResolver).
func (s *provService) BestLeaf() (types.Hash, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.best, !s.best.IsZero()
}

// Header returns the header of any block the node has imported
// (p2p.LeafResolver), so a builder can fall back on the real parent.
func (s *provService) Header(h types.Hash) (types.Header, bool) {
	hdr, _, err := s.chain.HeaderAndState(h)
	return hdr, err == nil
}

// netView is the network layer's view of the chain: the node's active
// leaf (and, briefly, the one before it) with the session's keys.
type netView struct {
	g     *Genesis
	chain *Chain

	mu     sync.Mutex
	active map[types.Hash]bool
	// number is the number of the newest active leaf: a block the chain
	// holds above it is imported but not activated yet (KnownBlock).
	number types.BlockNumber
	// windows are the active leaves' allowed relay parents, computed once
	// per leaf (AllowedRelayParent); a leaf's entry goes with the leaf.
	windows map[types.Hash]map[types.Hash]relayParentEntry
}

// relayParentEntry is what a leaf's window says about one relay parent.
type relayParentEntry struct {
	number     types.BlockNumber
	session    types.SessionIndex
	claimQueue map[types.CoreIndex][]types.ParaID
}

func newNetView(g *Genesis, chain *Chain) *netView {
	return &netView{
		g: g, chain: chain, active: map[types.Hash]bool{}, windows: map[types.Hash]map[types.Hash]relayParentEntry{},
	}
}

func (v *netView) setLeaf(leaf, old types.Hash) {
	h, _, err := v.chain.HeaderAndState(leaf)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.active[leaf] = true
	if err == nil {
		v.number = h.Number
	}
	if !old.IsZero() {
		delete(v.active, old)
		delete(v.windows, old)
	}
}

// Leaf answers from memory and never waits: it runs inside gossip
// validation. Gossip that outruns its leaf's announcement is parked by the
// network layer outside validation and replayed when the node calls
// p2p.Node.LeafActivated (see p2p/parking.go).
func (v *netView) Leaf(rp types.Hash) (p2p.LeafInfo, bool) {
	v.mu.Lock()
	ok := v.active[rp]
	v.mu.Unlock()
	if ok {
		return p2p.LeafInfo{Session: v.chain.sessionForChild(rp), Validators: v.g.Validators, NumCores: v.g.Cores}, true
	}
	return p2p.LeafInfo{}, false
}

// KnownBlock (p2p.KnownBlocks): a block the node has imported and its
// view has moved on from (a leaf it passed, an ancestor, a fork's block
// no higher than the leaf) will not become a leaf, so gossip for it is
// late and not parked. A block above the active leaf is the one the node
// has just imported and is about to activate (Node.activate follows the
// import): gossip for it is early, so it is parked and replayed by
// LeafActivated; were it dropped as late, gossipsub, which marks a
// message seen before validation, would drop every other copy too.
func (v *netView) KnownBlock(h types.Hash) bool {
	hdr, _, err := v.chain.HeaderAndState(h)
	if err != nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return hdr.Number <= v.number
}

// BackingGroup: nodes gossip one vote each (the testnet has no statement
// distribution), and the backing pool merges them, so one valid vote is
// enough for the network layer.
// The group is the runtime's for the core at rp's number + 1.
func (v *netView) BackingGroup(rp types.Hash, core types.CoreIndex) ([]types.ValidatorIndex, int, error) {
	h, _, err := v.chain.HeaderAndState(rp)
	if err != nil {
		return nil, 0, err
	}
	group, ok := v.chain.backingGroupAt(v.chain.sessionForChild(rp), core, h.Number+1)
	if !ok {
		return nil, 0, fmt.Errorf("%w: core %d at %s", p2p.ErrUnknownBackingGroup, core, rp)
	}
	return group, 1, nil
}

// SessionValidators answers for every session the best block's runtime
// keeps: every session has the genesis validators, and a validator record
// signed in an earlier session stays valid for the dispute period.
func (v *netView) SessionValidators(s types.SessionIndex) ([]types.ValidatorID, bool) {
	_, st := v.chain.Best()
	vals, err := v.g.rt.SessionValidators(st, s)
	return vals, err == nil
}

// backingPool merges the single-vote backed candidates of a group's members
// into one backed candidate once it has the runtime's minimum of votes (the
// job of Polkadot's candidate-backing subsystem), and attaches the
// persisted validation data the collator built it against.
type backingPool struct {
	g     *Genesis
	chain *Chain
	// cores is how many cores' schedules hold each para: a collator
	// chains at most one candidate per such core on its tip (pvdFor).
	cores map[types.ParaID]int

	mu    sync.Mutex
	pools map[types.Hash]map[types.Hash]*pooled
}

type pooled struct {
	cand  types.BackedCandidate
	core  types.CoreIndex
	votes map[int]types.ValidityAttestation
	// group is the size of the candidate's backing group.
	group int
	fed   bool
}

// resolved is a merged candidate ready for the provisioner, with the
// relay parent it was gossiped for.
type resolved struct {
	rp   types.Hash
	cand *provisioner.BackedCandidate
}

func newBackingPool(g *Genesis, chain *Chain) *backingPool {
	cores := map[types.ParaID]int{}
	for _, cycle := range g.rt.Config().Schedule {
		for _, p := range slices.Compact(slices.Sorted(slices.Values(cycle))) {
			cores[p]++
		}
	}
	return &backingPool{g: g, chain: chain, cores: cores, pools: map[types.Hash]map[types.Hash]*pooled{}}
}

// prune is called when a leaf ends. Candidates are pooled by their own
// relay parent, which stays usable while the best block's window holds
// it (async backing), so the pools of relay parents it no longer holds go.
func (b *backingPool) prune(types.Hash) {
	h, st := b.chain.Best()
	keep := map[types.Hash]bool{}
	for _, a := range b.g.rt.AllowedRelayParents(st, &h) {
		keep[a.Hash] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for rp := range b.pools {
		if !keep[rp] {
			delete(b.pools, rp)
		}
	}
}

// add records the votes of c and returns the merged candidate when it has
// reached the minimum and its validation data is known (merge), once.
func (b *backingPool) add(rp types.Hash, c *types.BackedCandidate) *provisioner.BackedCandidate {
	bits, core, ok := types.ExtractCoreIndex(c.ValidatorIndices)
	if !ok || int(core) >= b.g.Cores {
		return nil
	}
	rpHeader, _, err := b.chain.HeaderAndState(c.Candidate.Descriptor.RelayParent)
	if err != nil {
		return nil
	}
	group, ok := b.chain.backingGroupAt(b.chain.sessionForChild(rp), core, rpHeader.Number+1)
	if !ok {
		return nil
	}
	hash := c.Hash()
	b.mu.Lock()
	defer b.mu.Unlock()
	pool := b.pools[rp]
	if pool == nil {
		pool = map[types.Hash]*pooled{}
		b.pools[rp] = pool
	}
	p := pool[hash]
	if p == nil {
		p = &pooled{cand: *c, core: core, votes: map[int]types.ValidityAttestation{}, group: len(group)}
		pool[hash] = p
	}
	vote := 0
	for pos := 0; pos < bits.Len && pos < len(group); pos++ {
		if bits.Get(pos) {
			if vote < len(c.ValidityVotes) {
				p.votes[pos] = c.ValidityVotes[vote]
			}
			vote++
		}
	}
	return b.merge(p)
}

// merge is p's merged candidate, once, when it has the minimum of votes
// and its validation data is known. The votes can come before this node
// has imported the leaf the collator built on (gossip outruns the block's
// announcement and import, and the relay parent, an ancestor of that
// leaf, is already known here): the parent head is then the head of a
// candidate this node's chain does not hold yet, and the provisioner
// would discard a candidate without validation data for good. Such a
// candidate waits in the pool unfed; resolve feeds it once the leaf is
// imported. Called with b.mu held.
func (b *backingPool) merge(p *pooled) *provisioner.BackedCandidate {
	if p.fed || len(p.votes) < min(b.g.rt.MinimumBackingVotes(), p.group) {
		return nil
	}
	pvd := b.pvdFor(&p.cand)
	if pvd == nil {
		return nil
	}
	p.fed = true
	merged, err := Backed(&Candidate{Core: p.core, Receipt: p.cand.Candidate}, p.group, p.votes)
	if err != nil {
		return nil
	}
	return &provisioner.BackedCandidate{Candidate: merged, ValidationData: pvd}
}

// resolve returns the pooled candidates that have their votes but waited
// for their validation data and now have it (the node calls it when it
// imports a new best block), each once, in a stable order.
func (b *backingPool) resolve() []resolved {
	b.mu.Lock()
	defer b.mu.Unlock()
	byHash := func(x, y types.Hash) int { return bytes.Compare(x[:], y[:]) }
	var out []resolved
	for _, rp := range slices.SortedFunc(maps.Keys(b.pools), byHash) {
		pool := b.pools[rp]
		for _, h := range slices.SortedFunc(maps.Keys(pool), byHash) {
			if full := b.merge(pool[h]); full != nil {
				out = append(out, resolved{rp: rp, cand: full})
			}
		}
	}
	return out
}

// pvdFor finds the validation data of a candidate: the collator built on
// the para's tip at some recent leaf (its head on chain or a pending
// candidate's head), advanced once per earlier core of the para (elastic
// scaling: fewer times than the para has cores), at the descriptor's
// relay parent. The heads of the best block and its ancestors back to the
// relay parent are tried.
func (b *backingPool) pvdFor(c *types.BackedCandidate) *provisioner.PersistedValidationData {
	d := &c.Candidate.Descriptor
	rp, _, err := b.chain.HeaderAndState(d.RelayParent)
	if err != nil {
		return nil
	}
	h, st := b.chain.Best()
	for range b.g.Lookahead + 1 {
		pi := slices.IndexFunc(st.Paras, func(p runtime.Para) bool { return p.ID == d.ParaID })
		if pi >= 0 {
			heads := [][]byte{st.Paras[pi].Head}
			for _, pc := range st.Paras[pi].Pending {
				heads = append(heads, pc.Head)
			}
			for _, head := range heads {
				for range max(b.cores[d.ParaID], 1) {
					pvd := b.g.rt.PersistedValidationData(head, rp.Number, rp.StateRoot)
					if pvd.Hash() == d.PersistedValidationDataHash {
						return &provisioner.PersistedValidationData{ParentHead: pvd.ParentHead, RelayParentNumber: pvd.RelayParentNumber,
							RelayParentStorageRoot: pvd.RelayParentStorageRoot, MaxPoVSize: pvd.MaxPoVSize}
					}
					head = nextHead(d.ParaID, head, h.Number+1)
				}
			}
		}
		if h.Number == 0 || h.Number <= rp.Number {
			break
		}
		if h, st, err = b.chain.HeaderAndState(h.ParentHash); err != nil {
			break
		}
	}
	return nil
}
