package p2p

import (
	"context"
	"sync"

	"github.com/polkadot-provisioner/provisioner/types"
)

// FeedHub is an AuthorFeed built from what a node's gossip delivers: it
// keeps, per relay parent, every accepted bitfield and backed candidate for
// it and every dispute and misbehaviour report that arrived while the relay
// parent was tracked, and streams them to subscribers. A Node uses one when
// Config.AuthorFeed is nil; it is exported so a caller can also feed it
// from elsewhere (Add) and prune it (Prune).
type FeedHub struct {
	chain      ChainView // nil: no leaf check on subscribe
	maxHistory int
	onDrop     func()

	mu     sync.Mutex
	leaves map[types.Hash]*hubLeaf
	closed bool
}

type hubLeaf struct {
	items   []ProvisionableData
	changed chan struct{} // closed and replaced on every change
	ended   bool
}

// NewFeedHub returns a hub that accepts subscriptions for the active leaves
// of chain (any relay parent when chain is nil) and keeps at most
// maxHistory items per relay parent (0: 65,536).
func NewFeedHub(chain ChainView, maxHistory int) *FeedHub {
	if maxHistory <= 0 {
		maxHistory = 1 << 16
	}
	return &FeedHub{chain: chain, maxHistory: maxHistory, leaves: make(map[types.Hash]*hubLeaf)}
}

func (h *FeedHub) leafLocked(rp types.Hash) *hubLeaf {
	l := h.leaves[rp]
	if l == nil {
		l = &hubLeaf{changed: make(chan struct{})}
		h.leaves[rp] = l
	}
	return l
}

func (h *FeedHub) appendLocked(l *hubLeaf, d ProvisionableData) {
	if len(l.items) >= h.maxHistory {
		if h.onDrop != nil {
			h.onDrop()
		}
		return
	}
	l.items = append(l.items, d)
	close(l.changed)
	l.changed = make(chan struct{})
}

// Add records one piece of provisionable data: bitfields and backed
// candidates under their relay parent, disputes and misbehaviour reports
// under every tracked relay parent.
func (h *FeedHub) Add(d ProvisionableData) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	switch d.Kind {
	case KindBitfield, KindBackedCandidate:
		h.appendLocked(h.leafLocked(d.RelayParent), d)
	default:
		for _, l := range h.leaves {
			h.appendLocked(l, d)
		}
	}
}

// Prune drops a relay parent: its subscribers' channels are closed once
// they have received what was recorded.
func (h *FeedHub) Prune(rp types.Hash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.leaves[rp]; l != nil {
		l.ended = true
		close(l.changed)
		l.changed = make(chan struct{})
		delete(h.leaves, rp)
	}
}

// Close ends every subscription.
func (h *FeedHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for rp, l := range h.leaves {
		l.ended = true
		close(l.changed)
		l.changed = make(chan struct{})
		delete(h.leaves, rp)
	}
}

func (h *FeedHub) relayParents() []types.Hash {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]types.Hash, 0, len(h.leaves))
	for rp := range h.leaves {
		out = append(out, rp)
	}
	return out
}

// SubscribeAuthor implements AuthorFeed. One goroutine per subscription
// feeds the channel; it exits when ctx is done or the relay parent is
// pruned (after handing over what was recorded).
func (h *FeedHub) SubscribeAuthor(ctx context.Context, rp types.Hash) (<-chan ProvisionableData, error) {
	if h.chain != nil {
		if _, ok := h.chain.Leaf(rp); !ok {
			return nil, ErrUnknownLeaf
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrShuttingDown
	}
	l := h.leafLocked(rp)
	h.mu.Unlock()

	ch := make(chan ProvisionableData)
	go func() {
		defer close(ch)
		next := 0
		for {
			h.mu.Lock()
			if next < len(l.items) {
				d := l.items[next]
				next++
				h.mu.Unlock()
				select {
				case ch <- d:
					continue
				case <-ctx.Done():
					return
				}
			}
			ended, changed := l.ended, l.changed
			h.mu.Unlock()
			if ended {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
