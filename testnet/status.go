package testnet

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// BlockRef is a block's number and hash, as operators see it.
type BlockRef struct {
	Number types.BlockNumber
	Hash   types.Hash
}

// Held counts what this node fed its provisioner: bitfields and backed
// candidates (merged, once each) for the best leaf, and disputes and
// misbehaviour reports since start. These are counted on the way in, so
// they cost nothing to read; the provisioner's own bookkeeping (what it
// dropped as invalid or duplicate) is in its metrics.
type Held struct {
	Bitfields   int
	Candidates  int
	Disputes    int
	Misbehavior int
}

// Status is a snapshot for the status line and /health.
type Status struct {
	Best BlockRef
	// Leaves are the active leaves, best first.
	Leaves []BlockRef
	Held   Held
}

const (
	kindBitfield = iota
	kindCandidate
)

// held is Held plus the leaf its per-leaf counts belong to.
type held struct {
	leaf types.Hash
	Held
}

func (h *held) newLeaf(leaf types.Hash) {
	if h.leaf != leaf {
		h.leaf, h.Bitfields, h.Candidates = leaf, 0, 0
	}
}

// countHeld counts one bitfield or candidate fed for relay parent rp
// (only those of the best leaf are shown).
func (n *Node) countHeld(rp types.Hash, kind int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if rp != n.held.leaf {
		return
	}
	switch kind {
	case kindBitfield:
		n.held.Bitfields++
	case kindCandidate:
		n.held.Candidates++
	}
}

// Status reports the best block, the active leaves and the held counts.
func (n *Node) Status() Status {
	best, _ := n.chain.Best()
	st := Status{Best: BlockRef{Number: best.Number, Hash: best.Hash()}}
	n.mu.Lock()
	st.Held = n.held.Held
	n.mu.Unlock()
	n.view.mu.Lock()
	leaves := make([]types.Hash, 0, len(n.view.active))
	for h := range n.view.active {
		leaves = append(leaves, h)
	}
	n.view.mu.Unlock()
	for _, h := range leaves {
		hdr, _, err := n.chain.HeaderAndState(h)
		if err != nil {
			continue // pruned since
		}
		st.Leaves = append(st.Leaves, BlockRef{Number: hdr.Number, Hash: h})
	}
	// Best first, then by number (higher first), then by hash for a stable
	// order.
	slices.SortFunc(st.Leaves, func(a, b BlockRef) int {
		switch {
		case a.Hash == st.Best.Hash:
			return -1
		case b.Hash == st.Best.Hash:
			return 1
		case a.Number != b.Number:
			return int(b.Number) - int(a.Number)
		}
		return slices.Compare(a.Hash[:], b.Hash[:])
	})
	return st
}

// Validator is the node's validator index, -1 for an observer.
func (n *Node) Validator() int { return n.cfg.Validator }

// BuilderID is the peer id of the node's own block-builder client (empty
// for an observer): it connects to the node like a peer, but is none.
func (n *Node) BuilderID() peer.ID {
	if n.builder == nil {
		return ""
	}
	return n.builder.ID()
}

// Genesis is the node's genesis.
func (n *Node) Genesis() *Genesis { return n.g }
