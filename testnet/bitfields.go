package testnet

import (
	"context"
	"sync"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// PolkadotBitfieldDelay is how long Polkadot's bitfield-signing subsystem
// waits after a leaf's activation before it asks the availability store
// what it holds and signs (SPAWNED_TASK_DELAY in polkadot-sdk's
// node/core/bitfield-signing): time for the chunks of the candidates the
// leaf made pending to arrive.
const PolkadotBitfieldDelay = 1500 * time.Millisecond

// DefaultBitfieldDelay is the bitfield delay for a slot: Polkadot's 1.5 s,
// at most a quarter of the slot (1.5 s is a quarter of Polkadot's 6 s), so
// that short test slots leave the bitfields the same share of the slot to
// reach the next author.
func DefaultBitfieldDelay(slot time.Duration) time.Duration {
	return min(PolkadotBitfieldDelay, slot/4)
}

// resolveBitfieldDelay turns NodeConfig.BitfieldDelay into the delay the
// node signs with: 0 picks DefaultBitfieldDelay, a negative value signs on
// import.
func resolveBitfieldDelay(configured, slot time.Duration) time.Duration {
	switch {
	case configured < 0:
		return 0
	case configured == 0:
		return DefaultBitfieldDelay(slot)
	}
	return configured
}

// bitfieldQueue holds the next leaf whose bitfields are due, and when.
// Only the newest leaf is kept: the node signs for its active leaf, and a
// leaf replaced before its bitfields were due is no longer active, as
// Polkadot aborts the signing job of a deactivated leaf.
type bitfieldQueue struct {
	mu   sync.Mutex
	leaf types.Hash
	due  time.Time
	has  bool
	wake chan struct{} // capacity 1
}

func newBitfieldQueue() *bitfieldQueue { return &bitfieldQueue{wake: make(chan struct{}, 1)} }

// push makes leaf the next leaf to sign for, at due, replacing one not
// yet signed.
func (q *bitfieldQueue) push(leaf types.Hash, due time.Time) {
	q.mu.Lock()
	q.leaf, q.due, q.has = leaf, due, true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *bitfieldQueue) take() (types.Hash, time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	leaf, due, has := q.leaf, q.due, q.has
	q.has = false
	return leaf, due, has
}

// run calls sign for each pushed leaf once its due time has come (on
// now's clock, waiting with after), unless a newer leaf was pushed first;
// it returns when ctx ends. sign runs on run's goroutine, so one leaf's
// bitfields are out before the next leaf's are signed.
func (q *bitfieldQueue) run(ctx context.Context, now func() time.Time, after func(time.Duration) <-chan time.Time,
	sign func(ctx context.Context, leaf types.Hash)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		leaf, due, ok := q.take()
		for ok {
			wait := due.Sub(now())
			if wait <= 0 {
				sign(ctx, leaf)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-after(wait):
				sign(ctx, leaf)
				ok = false
			case <-q.wake:
				// A newer leaf replaced this one before its bitfields
				// were due: wait for the newer one's instead.
				leaf, due, ok = q.take()
			}
		}
	}
}

// signBitfields signs and gossips every hosted validator's availability
// bitfield for leaf, one gossip message each (as Polkadot's validators
// each gossip their own), if leaf is still the node's active leaf. An
// adversary then sends its junk (misbehave): after its honest bitfields,
// so that its equivocating bitfield is the second one peers see, and
// (with a delay) after its backing votes, which its junk's dialling must
// not delay.
func (n *Node) signBitfields(ctx context.Context, leaf types.Hash) {
	if !n.isLeaf(leaf) {
		return
	}
	_, st, err := n.chain.HeaderAndState(leaf)
	if err != nil {
		return
	}
	session := n.g.rt.SessionIndexForChild(st)
	// The duty worker follows the session on import too; with no delay
	// this may run first, and peers take a new session's bitfields only
	// under that session's records.
	n.followSession(session)
	ctxSig := types.SigningContext{SessionIndex: session, ParentHash: leaf}
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.BitfieldsSigned(leaf, time.Now())
	}
	isLeaf := func() bool { return n.isLeaf(leaf) }
	// Every hosted validator holds the same chunks: one payload, signed
	// by each.
	if !publishBitfields(ctx, n.hosted.keys, AvailabilityBitfield(n.g, st), ctxSig, isLeaf, n.net.PublishBitfield) {
		return
	}
	if n.cfg.Adversary {
		n.misbehave(ctx, leaf, st)
	}
}
