package p2p

import (
	"cmp"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/polkadot-provisioner/provisioner/types"
)

// PeerInfo describes a connected peer for operators (/peers, the status
// line).
type PeerInfo struct {
	ID peer.ID
	// Addrs are the remote addresses of the open connections.
	Addrs []string
	// Score is the gossipsub score as of the last inspection; HasScore is
	// false before the first one.
	Score    float64
	HasScore bool
	// Topics are the kinds (bitfield, backed, ...) the peer subscribes to.
	Topics []string
	// Validator is the peer's verified validator identity, nil when it sent
	// no valid record (yet): the first of Validators.
	Validator *PeerValidator
	// Validators are every validator identity the peer's verified records
	// prove and admission counts for it (a node may host several
	// validators), by index; nil when it has none.
	Validators []PeerValidator
}

// Peers lists the connected peers, sorted by peer id.
func (n *Node) Peers() []PeerInfo {
	topics := make(map[peer.ID][]string)
	for _, k := range Kinds {
		for _, p := range n.topics[k].ListPeers() {
			topics[p] = append(topics[p], k.String())
		}
	}
	ids := n.host.Network().Peers()
	slices.Sort(ids)
	out := make([]PeerInfo, 0, len(ids))
	for _, p := range ids {
		info := PeerInfo{ID: p, Topics: topics[p]}
		if info.Topics == nil {
			info.Topics = []string{}
		}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			info.Addrs = append(info.Addrs, c.RemoteMultiaddr().String())
		}
		info.Score, info.HasScore = n.PeerScore(p)
		if v, ok := n.PeerValidator(p); ok {
			info.Validator = &v
		}
		info.Validators = n.PeerValidators(p)
		slices.SortFunc(info.Validators, func(a, b PeerValidator) int {
			return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Session, b.Session))
		})
		out = append(out, info)
	}
	return out
}

// PeerCounts are the connected peers, and how many of them proved to be
// session validators. Peers in exclude (such as the node's own block
// builder, which connects like any client) are not counted.
func (n *Node) PeerCounts(exclude ...peer.ID) (total, validators int) {
	ids := n.host.Network().Peers()
	n.recMu.Lock()
	defer n.recMu.Unlock()
	for _, p := range ids {
		if slices.Contains(exclude, p) {
			continue
		}
		total++
		if _, ok := n.validatorPeers[p]; ok {
			validators++
		}
	}
	return total, validators
}

// foreignGenesis finds, among a peer's protocols, this project's protocols
// under another genesis: /<genesis hex>/provisioner/.... ok is false when
// the peer speaks them under our genesis too, or not at all.
func foreignGenesis(ours types.Hash, protos []protocol.ID) (theirs types.Hash, ok bool) {
	for _, p := range protos {
		s := string(p)
		if len(s) < 1+64+len("/provisioner/") || s[0] != '/' || !strings.HasPrefix(s[65:], "/provisioner/") {
			continue
		}
		var g types.Hash
		if _, err := hex.Decode(g[:], []byte(s[1:65])); err != nil {
			continue
		}
		if g == ours {
			return types.Hash{}, false
		}
		theirs, ok = g, true
	}
	return theirs, ok
}

// maxForeignPeers bounds the memory of peers already reported as being on
// another network.
const maxForeignPeers = 1024

// watchIdentify reports, once per peer, a peer that identify shows to be
// on another network (the same protocols under another genesis): the
// usual cause is a node started with another chain spec, which otherwise
// looks like a peer that never gossips.
func (n *Node) watchIdentify(sub event.Subscription) {
	defer n.wg.Done()
	defer sub.Close()
	for {
		select {
		case <-n.ctx.Done():
			return
		case ev, ok := <-sub.Out():
			if !ok {
				return
			}
			e, isID := ev.(event.EvtPeerIdentificationCompleted)
			if !isID {
				continue
			}
			theirs, foreign := foreignGenesis(n.cfg.Genesis, e.Protocols)
			if !foreign {
				continue
			}
			n.recMu.Lock()
			_, seen := n.foreign[e.Peer]
			if !seen && len(n.foreign) < maxForeignPeers {
				n.foreign[e.Peer] = theirs
			}
			n.recMu.Unlock()
			n.m.genesisMismatch.Inc()
			if !seen {
				log.Warnw("peer is on another network (genesis mismatch)", "peer", e.Peer,
					"addr", e.Conn.RemoteMultiaddr(), "our_genesis", n.cfg.Genesis, "their_genesis", theirs)
			}
		}
	}
}

// ForeignPeers are the peers seen on another network, with their genesis.
func (n *Node) ForeignPeers() map[peer.ID]types.Hash {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	out := make(map[peer.ID]types.Hash, len(n.foreign))
	for p, g := range n.foreign {
		out[p] = g
	}
	return out
}

// bootnodeWatch remembers when each bootnode was last connected, to warn
// once when one stays unreachable for Config.BootnodeWarnAfter.
type bootnodeWatch struct {
	since  map[peer.ID]time.Time // last seen connected (or start)
	warned map[peer.ID]bool
}

func newBootnodeWatch(bootnodes []peer.AddrInfo, now time.Time) *bootnodeWatch {
	w := &bootnodeWatch{since: make(map[peer.ID]time.Time), warned: make(map[peer.ID]bool)}
	for _, ai := range bootnodes {
		w.since[ai.ID] = now
	}
	return w
}

// observe records a bootnode's state and says whether to warn now.
func (w *bootnodeWatch) observe(p peer.ID, connected bool, now time.Time, after time.Duration) bool {
	if connected {
		w.since[p] = now
		w.warned[p] = false
		return false
	}
	if w.warned[p] || now.Sub(w.since[p]) < after {
		return false
	}
	w.warned[p] = true
	return true
}

// unreachable lists the bootnodes that are down longer than after.
func (w *bootnodeWatch) unreachable(now time.Time, after time.Duration) []peer.ID {
	var out []peer.ID
	for p, t := range w.since {
		if now.Sub(t) >= after {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// UnreachableBootnodes are the bootnodes not connected for
// Config.BootnodeWarnAfter or longer.
func (n *Node) UnreachableBootnodes() []peer.ID {
	n.bootMu.Lock()
	defer n.bootMu.Unlock()
	if n.boot == nil {
		return nil
	}
	return n.boot.unreachable(time.Now(), n.cfg.BootnodeWarnAfter)
}

// checkBootnode updates the watch for one bootnode and logs the warning.
func (n *Node) checkBootnode(ai peer.AddrInfo) {
	connected := n.host.Network().Connectedness(ai.ID) == network.Connected
	n.bootMu.Lock()
	warn := n.boot.observe(ai.ID, connected, time.Now(), n.cfg.BootnodeWarnAfter)
	n.bootMu.Unlock()
	if warn {
		log.Warnw("bootnode unreachable", "peer", ai.ID, "addrs", ai.Addrs, "for", n.cfg.BootnodeWarnAfter)
	}
}
