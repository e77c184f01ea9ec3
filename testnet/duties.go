package testnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// hostedKey is one validator a node hosts.
type hostedKey struct {
	index types.ValidatorIndex
	kp    *types.Keypair
}

// hostedKeys are the validators a node hosts, ascending by index, with a
// lookup by index: every per-validator duty is a walk over keys or a map
// hit, never a search of the validator set, so a node's work per block is
// linear in what it hosts.
type hostedKeys struct {
	keys  []hostedKey
	index map[types.ValidatorIndex]*types.Keypair
}

// get is the key of validator v when the node hosts it, else nil.
func (h *hostedKeys) get(v types.ValidatorIndex) *types.Keypair { return h.index[v] }

// indices are the hosted validator indices, ascending.
func (h *hostedKeys) indices() []int {
	out := make([]int, len(h.keys))
	for i, k := range h.keys {
		out[i] = int(k.index)
	}
	return out
}

// sessionKeys are the keys the network layer proves to peers for session.
func (h *hostedKeys) sessionKeys(session types.SessionIndex) []*p2p.SessionKey {
	if len(h.keys) == 0 {
		return nil
	}
	out := make([]*p2p.SessionKey, len(h.keys))
	for i, k := range h.keys {
		out[i] = &p2p.SessionKey{Session: session, Index: k.index, Signer: k.kp}
	}
	return out
}

// loadHostedKeys derives the keys of the validators cfg names (Validators,
// else Validator; none for an observer), checks them against the genesis
// and sets cfg.Validator to the first hosted index.
func loadHostedKeys(g *Genesis, cfg *NodeConfig) (hostedKeys, error) {
	hk := hostedKeys{index: map[types.ValidatorIndex]*types.Keypair{}}
	indices := slices.Clone(cfg.Validators)
	if len(indices) == 0 && cfg.Validator >= 0 {
		indices = []int{cfg.Validator}
	}
	if len(indices) == 0 {
		return hk, nil
	}
	if len(indices) > MaxHostedValidators {
		return hk, fmt.Errorf("%w: %d validators on one node, at most %d", ErrBadGenesis, len(indices), MaxHostedValidators)
	}
	if cfg.KeyURI != "" && len(indices) > 1 {
		return hk, fmt.Errorf("%w: a key URI names one validator, not %d", ErrBadGenesis, len(indices))
	}
	slices.Sort(indices)
	for i, v := range indices {
		switch {
		case v < 0 || v >= len(g.Validators):
			return hk, fmt.Errorf("%w: validator %d of %d", ErrBadGenesis, v, len(g.Validators))
		case i > 0 && indices[i-1] == v:
			return hk, fmt.Errorf("%w: validator %d hosted twice", ErrBadGenesis, v)
		}
		uri := cfg.KeyURI
		if uri == "" {
			uri = DevURI(v)
		}
		kp, err := keypairFromURI(uri)
		if err != nil {
			return hk, fmt.Errorf("validator key: %w", err)
		}
		if kp.Public() != g.Validators[v] {
			return hk, fmt.Errorf("%w: key %s is not validator %d's", ErrBadGenesis, uri, v)
		}
		hk.keys = append(hk.keys, hostedKey{index: types.ValidatorIndex(v), kp: kp})
		hk.index[types.ValidatorIndex(v)] = kp
	}
	cfg.Validator = indices[0]
	return hk, nil
}

// Validators are the indices of the validators the node hosts, ascending
// (none for an observer).
func (n *Node) Validators() []int { return n.hosted.indices() }

// dutyQueue hands the import loop's validator work to the node's duty
// worker (dutyLoop). At 1,000 validators on 20 nodes a node builds the
// candidates of half the cores every block and signs backing votes for
// some: done inline, that would hold the next import, and the leaf
// activation the provisioner's timers start from, behind it. Only the
// newest leaf's duties are kept: once the worker is behind, votes for a
// leaf that already has a child are late. (Bitfields have their own
// queue and goroutine, bitfieldQueue.) Approvals (rare: only blocks
// backing an invalid candidate) are all kept, in order, up to a bound.
type dutyQueue struct {
	mu        sync.Mutex
	leaf      types.Hash
	hasLeaf   bool
	approvals []approvalJob
	wake      chan struct{} // capacity 1: one wake-up covers everything queued
}

type approvalJob struct {
	b   *Block
	imp *Imported
}

// maxPendingApprovals bounds the queued approval jobs; a worker that far
// behind drops the oldest (its disputes come from other validators too).
const maxPendingApprovals = 64

func newDutyQueue() *dutyQueue { return &dutyQueue{wake: make(chan struct{}, 1)} }

func (q *dutyQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pushLeaf makes leaf the next leaf to do duties for, replacing one not
// yet started.
func (q *dutyQueue) pushLeaf(leaf types.Hash) {
	q.mu.Lock()
	q.leaf, q.hasLeaf = leaf, true
	q.mu.Unlock()
	q.signal()
}

// pushApproval queues the approval checks of an imported block.
func (q *dutyQueue) pushApproval(b *Block, imp *Imported) {
	q.mu.Lock()
	if len(q.approvals) == maxPendingApprovals {
		log.Warnw("approval queue full: dropping the oldest block's checks", "number", q.approvals[0].imp.Header.Number)
		q.approvals = q.approvals[1:]
	}
	q.approvals = append(q.approvals, approvalJob{b, imp})
	q.mu.Unlock()
	q.signal()
}

// take empties the queue.
func (q *dutyQueue) take() (leaf types.Hash, hasLeaf bool, approvals []approvalJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	leaf, hasLeaf, approvals = q.leaf, q.hasLeaf, q.approvals
	q.hasLeaf, q.approvals = false, nil
	return leaf, hasLeaf, approvals
}

// dutyLoop is the duty worker: Run owns it, and it ends with ctx.
// Approvals of a block go before the duties of the leaf it became.
func (n *Node) dutyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.duty.wake:
		}
		leaf, hasLeaf, approvals := n.duty.take()
		for _, a := range approvals {
			n.approve(ctx, a.b, a.imp)
		}
		if hasLeaf {
			n.duties(ctx, leaf)
		}
	}
}

// hasInvalid reports whether a block backs a candidate the approval
// checkers find invalid: only those need the duty worker.
func hasInvalid(b *Block) bool {
	return slices.ContainsFunc(b.Body.Extrinsic.Data.BackedCandidates, func(bc types.BackedCandidate) bool {
		return !CandidateValid(&bc.Candidate.Descriptor)
	})
}

// duties: follow the leaf's session and back the candidates of the cores
// whose groups hold hosted validators, one message per core with the
// votes of every hosted member (the backing pool merges them with the
// other nodes'). The bitfields come later (bitfieldQueue), as Polkadot's
// do: backing does not wait for them, and their burst of a message per
// validator does not meet the block import's and the backing votes'.
func (n *Node) duties(ctx context.Context, leaf types.Hash) {
	h, st, err := n.chain.HeaderAndState(leaf)
	if err != nil {
		return
	}
	n.followSession(n.g.rt.SessionIndexForChild(st))
	// Only the candidates of groups with a hosted member are built.
	collation := newCollation(n.g, &h, st)
	hosted := func(group []types.ValidatorIndex) bool {
		return slices.ContainsFunc(group, func(v types.ValidatorIndex) bool { return n.hosted.get(v) != nil })
	}
	for core := types.CoreIndex(0); int(core) < n.g.Cores; core++ {
		if ctx.Err() != nil || !n.isLeaf(leaf) {
			return
		}
		cand, err := collation.build(core, hosted)
		if err != nil {
			log.Debugw("collator", "core", core, "err", err)
			continue
		}
		if cand == nil {
			continue
		}
		// The group is the one assigned to the core at the candidate's
		// relay parent number + 1 (async backing).
		if !publishesBacking(n.g, cand, n.hosted.get) {
			continue
		}
		votes := map[int]types.ValidityAttestation{}
		for pos, v := range cand.Group {
			if kp := n.hosted.get(v); kp != nil && backs(n.g, cand, pos) {
				votes[pos] = BackingVote(kp, cand, pos == 0)
			}
		}
		if len(votes) == 0 {
			continue
		}
		bc, err := Backed(cand, len(cand.Group), votes)
		if err != nil {
			continue
		}
		// Gossiped for its own relay parent: a peer takes it for every
		// leaf whose window holds that, and one that has not imported the
		// leaf yet parks it until it does, where a message for a leaf it
		// had not seen with an older relay parent would be ignored.
		// One at a time, unlike the bitfields: publishing these together
		// too showed no gain in two Kusama-scale runs (p99 1.39 and 1.44
		// s), and they would meet the bitfields' burst at every node.
		if err := n.net.PublishBackedCandidate(ctx, cand.RelayParent.Hash, &bc); err != nil && ctx.Err() == nil {
			log.Warnw("publish backed candidate", "core", core, "err", err)
		}
	}
}

// maxPublishers bounds the goroutines publishEach gossips from.
const maxPublishers = 32

// publishEach calls publish(i) for every i in [0, n), from up to
// maxPublishers goroutines at once, until stale says to stop (no call
// starts after it did); it returns once every call has returned.
//
// A gossipsub publish waits for two turns of the router's event loop and
// validates the message on the caller's goroutine. One at a time, a
// node's 50 bitfields at Kusama scale went out over 0.7 s (median; 1.4 s
// at the 90th percentile), so its last trailed its first by most of the
// gossip latency. Publishing them together lets the waits overlap, as a
// thousand separate validators' would: 0.3 s (median). The network's gossip
// p99 hardly moved (three runs each way, alternated: 1.30-1.57 s against
// 1.47-1.55 s): at that scale it is bound by the CPU every node spends on
// the burst, not by when the bitfields leave.
func publishEach(n int, stale func() bool, publish func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, maxPublishers) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && !stale(); i = next.Add(1) - 1 {
				publish(int(i))
			}
		})
	}
	wg.Wait()
}

// publishBitfields signs the bitfield of every key in keys (payload in
// ctxSig, whose ParentHash is the leaf) and gossips them with publish, one
// message each (publishEach); a publish error is logged. It returns once
// every publish has returned: true when every bitfield was handed to
// publish and the leaf is still the node's, false when ctx ended or
// isLeaf stopped saying the leaf is the node's active leaf (bitfields not
// handed over by then are not published).
func publishBitfields(ctx context.Context, keys []hostedKey, payload types.BitVec, ctxSig types.SigningContext,
	isLeaf func() bool, publish func(context.Context, types.Hash, types.UncheckedSignedAvailabilityBitfield) error) bool {
	// A leaf replaced meanwhile is no longer active here, nor soon at
	// peers, which would park its bitfields until they expire and count
	// them as junk against whoever relayed them: stop.
	stale := func() bool { return ctx.Err() != nil || !isLeaf() }
	signed := make([]types.UncheckedSignedAvailabilityBitfield, 0, len(keys))
	for _, k := range keys {
		if stale() {
			return false
		}
		signed = append(signed, types.SignBitfield(k.kp, payload, k.index, ctxSig))
	}
	leaf := ctxSig.ParentHash
	publishEach(len(signed), stale, func(i int) {
		if err := publish(ctx, leaf, signed[i]); err != nil && ctx.Err() == nil {
			log.Warnw("publish bitfield", "leaf", leaf, "validator", signed[i].ValidatorIndex, "err", err)
		}
	})
	return !stale()
}

// publishesBacking says whether a node that hosts the validators hosted
// answers for gossips its votes for cand. Every node hosting a backer
// could, but each such message is a distinct gossip message (the votes
// differ) that the whole network relays and the backing pool merges: at
// Kusama scale (groups of 10 spread over 20 nodes) that is about eight
// messages per candidate where the runtime needs two votes. So only the
// nodes hosting one of the group's first backingPublishers backers
// publish: the minimum backing votes and one spare, so that one node
// missing (killed, paused, slow) still leaves a backable candidate. Each
// node decides alone, from the group and its own keys.
func publishesBacking(g *Genesis, cand *Candidate, hosted func(types.ValidatorIndex) *types.Keypair) bool {
	need := g.rt.MinimumBackingVotes() + 1
	for pos, v := range cand.Group {
		if !backs(g, cand, pos) {
			continue
		}
		if hosted(v) != nil {
			return true
		}
		if need--; need == 0 {
			return false
		}
	}
	return false
}

// isLeaf reports whether leaf is still the node's active leaf.
func (n *Node) isLeaf(leaf types.Hash) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaf == leaf
}

// parkFor sizes the network layer's buffer of early gossip (messages for a
// leaf a node has not imported yet) to the validator set. Every validator
// gossips a bitfield per leaf, and a node that imports a block a moment
// after its peers gets them all from each mesh peer before it can judge
// them: p2p's default of 32 messages a peer fits a few dozen validators,
// and at 1,000 the overflow is counted as junk against honest relays until
// they are graylisted and banned. Room for two leaves' bitfields and
// candidates a peer; zero fields keep p2p's defaults for small sets.
func parkFor(g *Genesis) p2p.ParkConfig {
	perPeer := 2 * (len(g.Validators) + g.Cores)
	if perPeer <= 32 {
		return p2p.ParkConfig{}
	}
	// About 150 bytes a bitfield message; candidates are larger but few.
	// A node that lags its peers' imports by more than p2p's 2 s window
	// (a loaded machine at this scale) would expire what it parked, and
	// count that as junk too: wait up to half a slot.
	window := max(2*time.Second, time.Duration(g.SlotMillis)*time.Millisecond/2)
	return p2p.ParkConfig{Window: window, PerPeer: perPeer, PerPeerBytes: max(256<<10, perPeer*512)}
}
