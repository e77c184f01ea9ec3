package testnet

import (
	"sync"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// sigCache is a node's memory of signatures already verified: by its
// gossip validation (the node's Sink adds every bitfield and backing vote
// it is handed) and by its runtime. On import the runtime asks it before
// verifying (runtime.SignatureCache), so a block whose bitfields and votes
// the node gossiped costs no signature checks. An entry is the exact
// (key, payload, signature) triple: a signature valid for another payload,
// or under another key, is not known.
//
// It holds at most capacity entries; past it the oldest goes (FIFO).
// Safe for concurrent use.
type sigCache struct {
	mu      sync.Mutex
	entries map[string]struct{}
	ring    []string // insertion order; next is the slot to fill
	next    int
	full    bool
	// hits and misses count Known's answers.
	hits, misses int
}

var _ runtime.SignatureCache = (*sigCache)(nil)

func newSigCache(capacity int) *sigCache {
	capacity = max(capacity, 1)
	return &sigCache{entries: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// sigCacheSize is room for the bitfields and backing votes of about four
// blocks: one per validator and up to a group per core each.
func sigCacheSize(g *Genesis) int {
	return max(1024, 4*(len(g.Validators)+g.Cores*max(g.GroupSize, 1)))
}

// Known reports whether the triple was added (and not evicted since).
func (c *sigCache) Known(key *types.PublicKey, payload []byte, sig [64]byte) bool {
	if key == nil {
		return false
	}
	k := types.SignatureID(key, payload, sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[k]
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	return ok
}

// Add records a triple whose signature was verified. The caller vouches
// for it: Known will answer true.
func (c *sigCache) Add(key *types.PublicKey, payload []byte, sig [64]byte) {
	if key == nil {
		return
	}
	k := types.SignatureID(key, payload, sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	if c.full {
		delete(c.entries, c.ring[c.next])
	}
	c.ring[c.next] = k
	c.entries[k] = struct{}{}
	if c.next++; c.next == len(c.ring) {
		c.next, c.full = 0, true
	}
}

// stats are the number of entries and Known's answers so far.
func (c *sigCache) stats() (entries, hits, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.hits, c.misses
}

// The Sink's side: what gossip validation verified is added, rebuilt from
// the same chain data the node's view (netView) answered the validation
// with, so the triples are exactly the ones checked. Those answers are
// fixed by the relay parent's own state (a block's state never changes;
// allowed relay parents never cross a session, so the session of every
// leaf holding rp is that of rp's child; a group is a function of the
// session, the core and the block number). When the chain cannot answer
// any more (a pruned block, a session change since), nothing is added and
// the runtime verifies as without a cache.

// rememberBitfield adds a bitfield gossip validated for the leaf rp: it
// was verified under the key of its validator index in the signing
// context {session of rp's child, rp} (netView.Leaf).
func (c *Chain) rememberBitfield(rp types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) {
	if c.sigs == nil {
		return
	}
	session, ok := c.childSession(rp)
	if !ok || int(bf.ValidatorIndex) >= len(c.keys) {
		return
	}
	ctx := types.SigningContext{SessionIndex: session, ParentHash: rp}
	c.sigs.Add(c.keys[bf.ValidatorIndex], types.BitfieldSigningPayload(bf.Payload, ctx), bf.Signature)
}

// rememberBacked adds the backing votes of a candidate gossip validated:
// each was verified under the key of its group member in the context
// {session of the relay parent's child, relay parent}, the group being
// the one assigned to the candidate's core at the relay parent's number
// + 1 (netView.AllowedRelayParent and BackingGroupAt, or Leaf and
// BackingGroup, which answer the same).
func (c *Chain) rememberBacked(bc *types.BackedCandidate) {
	if c.sigs == nil {
		return
	}
	rp := bc.Candidate.Descriptor.RelayParent
	h, st, err := c.HeaderAndState(rp)
	if err != nil {
		return
	}
	session := c.rt.SessionIndexForChild(st)
	_, core, ok := types.ExtractCoreIndex(bc.ValidatorIndices)
	if !ok {
		return
	}
	group, ok := c.backingGroupAt(session, core, h.Number+1)
	if !ok {
		return
	}
	var items []types.SignedPayload
	keys := func(vi types.ValidatorIndex) types.Verifier {
		if int(vi) >= len(c.keys) {
			return nil
		}
		return types.PayloadRecorder{Key: c.keys[vi], Items: &items}
	}
	ctx := types.SigningContext{SessionIndex: session, ParentHash: rp}
	if _, err := bc.VerifyBacking(group, keys, ctx, true, core, 1); err != nil {
		return // not what the validation accepted
	}
	for _, it := range items {
		c.sigs.Add(it.Key, it.Payload, it.Signature)
	}
}

// childSession is the session of the child of a block the chain holds.
func (c *Chain) childSession(h types.Hash) (types.SessionIndex, bool) {
	_, st, err := c.HeaderAndState(h)
	if err != nil {
		return 0, false
	}
	return c.rt.SessionIndexForChild(st), true
}
