package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Parking: gossip for a leaf can outrun the leaf's announcement. Topic
// validation must not wait for the leaf (a waiting validator holds one of
// the topic's validation slots, and a burst of messages for leaves that
// never come starves everyone's bitfields), so the validator ignores the
// message at once and hands its bytes here, outside the pipeline. When the
// leaf arrives (Node.LeafActivated, or the park loop's poll of the chain
// view) the bytes are published again locally: they go through this
// node's own validation and, if accepted, reach the sink (and a few of
// the nodes that parked a message relay it: ParkConfig.ReplayRelays).
// What waits longer than ParkConfig.Window is dropped and counted as junk
// against its sender.

// KnownBlocks is optional for a ChainView: one that implements it tells
// blocks it has seen (a past leaf, an ancestor) from blocks it has not.
// A message for a known block that is not an active leaf is late, not
// early: it is ignored without parking.
type KnownBlocks interface {
	KnownBlock(hash types.Hash) bool
}

// parkedMsg is one parked message.
type parkedMsg struct {
	kind Kind
	rp   types.Hash
	from peer.ID
	data []byte
	at   time.Time
}

// parkingLot is the bounded per-peer buffer.
//
// A peer's share grows with the validator set: with flood publishing each
// validator's messages for a leaf come straight from it, but every mesh
// peer relays the others', so an honest peer may send this node a copy of
// every bitfield and backed candidate of a leaf this node has not
// imported yet. gossipsub marks a message seen before validation, so a
// copy refused here is lost (the originator's copy then reads as a
// duplicate) and counted as junk against an honest relay: with the fixed
// share of 32, a node of a 300-validator network that imported a leaf
// late lost a whole node's bitfields for it. TotalBytes still bounds
// everyone together.
type parkingLot struct {
	cfg *ParkConfig
	// validators is the size of the validator set of the last leaf seen.
	validators atomic.Int64

	mu    sync.Mutex
	peers map[peer.ID][]parkedMsg
	bytes map[peer.ID]int
	// leaves counts each peer's parked messages per relay parent, so that
	// park judges maxParkedLeaves without scanning the peer's messages.
	leaves map[peer.ID]map[types.Hash]int
	total  int
}

func newParkingLot(cfg *ParkConfig) *parkingLot {
	return &parkingLot{cfg: cfg, peers: make(map[peer.ID][]parkedMsg), bytes: make(map[peer.ID]int),
		leaves: make(map[peer.ID]map[types.Hash]int)}
}

// parkResult is what park did with a message.
type parkResult int8

const (
	parked     parkResult = iota
	parkFull              // the peer's share or the total is full
	parkLeaves            // the peer already waits for maxParkedLeaves leaves
)

// maxParkedLeaves bounds the distinct unknown relay parents one peer's
// parked messages may name. An honest peer only gossips for leaves it has
// imported, so it can be ahead of this node by a block or two (and a fork
// of them); messages for a fourth relay parent nobody has announced are
// made up, and each is junk that costs as much as a provably bad message.
const maxParkedLeaves = 3

// park keeps a copy of data, or says why not.
func (l *parkingLot) park(m parkedMsg) parkResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(m.data)
	leaves := l.leaves[m.from]
	if _, ok := leaves[m.rp]; !ok && len(leaves) >= maxParkedLeaves {
		return parkLeaves
	}
	msgs, bytes := l.peerShare()
	if len(l.peers[m.from]) >= msgs || l.bytes[m.from]+n > bytes || l.total+n > l.cfg.TotalBytes {
		return parkFull
	}
	// pubsub owns the message's buffer; keep our own.
	m.data = append([]byte(nil), m.data...)
	l.peers[m.from] = append(l.peers[m.from], m)
	l.bytes[m.from] += n
	l.total += n
	if leaves == nil {
		leaves = make(map[types.Hash]int, maxParkedLeaves)
		l.leaves[m.from] = leaves
	}
	leaves[m.rp]++
	return parked
}

// parkedPerValidator is what a peer may park per validator of the set:
// two messages (its bitfield and a backed-candidate message) of up to
// parkedBytesPerValidator bytes on average.
const (
	parkedPerValidator      = 2
	parkedBytesPerValidator = 1 << 10
)

// peerShare is one peer's share: the configured one, or more for a large
// validator set.
func (l *parkingLot) peerShare() (msgs, bytes int) {
	v := int(l.validators.Load())
	return max(l.cfg.PerPeer, parkedPerValidator*v), max(l.cfg.PerPeerBytes, parkedBytesPerValidator*v)
}

// setValidators records the size of the current validator set.
func (l *parkingLot) setValidators(n int) { l.validators.Store(int64(n)) }

// take removes and returns the messages that ready reports ready, and the
// ones older than window (expired).
func (l *parkingLot) take(now time.Time, window time.Duration, ready func(types.Hash) bool) (replay, expired []parkedMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Ask the view once per relay parent.
	answers := make(map[types.Hash]bool)
	for p, msgs := range l.peers {
		keep := msgs[:0]
		for _, m := range msgs {
			ok, asked := answers[m.rp]
			if !asked {
				ok = ready(m.rp)
				answers[m.rp] = ok
			}
			switch {
			case ok:
				replay = append(replay, m)
			case now.Sub(m.at) >= window:
				expired = append(expired, m)
			default:
				keep = append(keep, m)
				continue
			}
			l.bytes[p] -= len(m.data)
			l.total -= len(m.data)
			if l.leaves[p][m.rp]--; l.leaves[p][m.rp] == 0 {
				delete(l.leaves[p], m.rp)
			}
		}
		if len(keep) == 0 {
			delete(l.peers, p)
			delete(l.bytes, p)
			delete(l.leaves, p)
		} else {
			l.peers[p] = keep
		}
	}
	return replay, expired
}

// size reports the parked messages and bytes.
func (l *parkingLot) size() (msgs, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ms := range l.peers {
		msgs += len(ms)
	}
	return msgs, l.total
}

// relayParentOf reads the relay parent that leads the bitfield and
// backed-candidate messages (wire.go), without decoding the rest.
func relayParentOf(data []byte) (types.Hash, bool) {
	var rp types.Hash
	if len(data) < len(rp) {
		return rp, false
	}
	copy(rp[:], data)
	return rp, true
}

// Junk weights: how much each kind of junk counts (junk.go's grace and
// weight turn counts into score).
const (
	junkExpired      = 1  // parked for a leaf that never came
	junkParkFull     = 1  // more early messages than the buffer holds
	junkIgnored      = 1  // unknown session, duplicate, second bitfield
	junkReplayReject = 10 // parked, then provably bad once judged
	junkRejected     = 10 // provably bad (a reject)
	// A relay parent past maxParkedLeaves: made up, as provable as a
	// bad signature.
	junkUnknownLeaves = 10
)

// maybePark is called by topic validation for each outcome: it parks
// early messages of admitted peers and counts junk. It never blocks.
func (n *Node) maybePark(k Kind, from peer.ID, res Result, reason string, data []byte) {
	if from == n.host.ID() {
		return
	}
	if res == Reject {
		// Provably bad. gossipsub's own score counts it too (P4), but
		// only its inspection, which can lag under a flood, bans on that;
		// as junk it bans from here (Node.junk).
		n.junk(from, junkRejected, "reject_"+reason)
		return
	}
	switch reason {
	case ReasonNotActiveLeaf:
		if k != KindBitfield && k != KindBackedCandidate {
			return
		}
		rp, ok := relayParentOf(data)
		if !ok {
			return
		}
		if kb, ok := n.cfg.Chain.(KnownBlocks); ok && kb.KnownBlock(rp) {
			// Known: late, not early (free: honest peers race leaf
			// changes), unless rp became an active leaf after validation
			// asked. Validation's Leaf and this KnownBlock are two looks at a
			// view that moves: a leaf activated in between reads as known,
			// and its message, seen by gossipsub and so never delivered
			// again, was lost. One node of a Kusama-scale run lost 234 of a
			// leaf's 1,000 bitfields that way. Asked in this order (known,
			// then active), a block that is known and not active is below
			// the active leaf, so not about to become one.
			if _, active := n.cfg.Chain.Leaf(rp); !active {
				return
			}
		}
		if !n.adm.admitted(from) {
			return
		}
		switch n.park.park(parkedMsg{kind: k, rp: rp, from: from, data: data, at: time.Now()}) {
		case parkFull:
			n.m.parked.WithLabelValues("full").Inc()
			n.junk(from, junkParkFull, "park_full")
			return
		case parkLeaves:
			n.m.parked.WithLabelValues("unknown_leaves").Inc()
			n.junk(from, junkUnknownLeaves, "unknown_leaves")
			return
		}
		n.m.parked.WithLabelValues("parked").Inc()
		select {
		case n.parkKick <- struct{}{}:
		default:
		}
	case ReasonUnknownSession, ReasonDuplicate, ReasonSecondBitfield:
		n.junk(from, junkIgnored, reason)
	}
}

// LeafActivated tells the node that rp became an active leaf of its chain
// view, so that messages parked for it are replayed now rather than at
// the next poll. Call it once the Sink accepts data for rp (see
// ChainView.Leaf). It never blocks.
func (n *Node) LeafActivated(rp types.Hash) {
	if info, ok := n.cfg.Chain.Leaf(rp); ok {
		n.park.setValidators(len(info.Validators))
	}
	select {
	case n.parkKick <- struct{}{}:
	default:
	}
}

// parkPoll is how often the park loop asks the chain view about parked
// relay parents when nobody calls LeafActivated.
const parkPoll = 100 * time.Millisecond

// parkLoop replays and expires parked messages.
func (n *Node) parkLoop() {
	defer n.wg.Done()
	t := time.NewTicker(parkPoll)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.parkKick:
		}
		n.processParked()
	}
}

func (n *Node) processParked() {
	replay, expired := n.park.take(time.Now(), n.cfg.Park.Window, func(rp types.Hash) bool {
		info, ok := n.cfg.Chain.Leaf(rp)
		if ok {
			n.park.setValidators(len(info.Validators))
		}
		return ok
	})
	for _, m := range expired {
		n.m.parked.WithLabelValues("expired").Inc()
		n.junk(m.from, junkExpired, "park_expired")
	}
	// Whether to relay a bitfield's replay depends on how many peers might
	// have parked it too: the admitted ones on the topic (strangers, who
	// may join any topic, count for nothing: a sybil swarm would otherwise
	// thin out the relaying; in the attack suite's sybil-join runs it took
	// the share of replays relayed from 3 in 10 to 1 in 8). Asked once,
	// and only when a bitfield is replayed: the list comes through
	// gossipsub's event loop.
	bitfieldPeers := -1
	peers := func() int {
		if bitfieldPeers < 0 {
			bitfieldPeers = n.countAdmitted(n.topics[KindBitfield].ListPeers())
		}
		return bitfieldPeers
	}
	// Concurrently, so that the signatures of a leaf's parked burst meet
	// in the batcher (one at a time, each would be verified alone).
	var wg sync.WaitGroup
	sem := make(chan struct{}, replayConcurrency)
	for _, m := range replay {
		select {
		case sem <- struct{}{}:
		case <-n.ctx.Done():
		}
		if n.ctx.Err() != nil {
			break
		}
		relayed := replayRelayed(n.cfg.Park, n.host.ID(), m, peers)
		wg.Go(func() {
			defer func() { <-sem }()
			n.replayParked(m, relayed)
		})
	}
	wg.Wait()
}

// replayConcurrency bounds the replays in flight. A node that imports a
// leaf late parks hundreds of its messages (at Kusama scale, 167 of 1,100
// per node per block on average in one process, 7-100 with a process per
// node), and a batch is worth having from a few dozen signatures on.
const replayConcurrency = 64

// replayParked publishes a parked message locally: our own validators
// judge it (now that the leaf is known), checking its signatures as its
// sender's, and an accepted one is delivered and, if relay, flooded on as
// if this node had made it (see ParkConfig.ReplayRelays).
func (n *Node) replayParked(m parkedMsg, relay bool) {
	vd := &verdict{replayOf: m.from}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ValidateTimeout)
	defer cancel()
	err := n.topics[m.kind].Publish(ctx, m.data, pubsub.WithValidatorData(vd),
		pubsub.WithLocalPublication(!relay))
	var ve pubsub.ValidationError
	switch {
	case err == nil:
		// Relayed first: whoever sees a replay counted sees its relay
		// counted too.
		if relay {
			n.m.parked.WithLabelValues("relayed").Inc()
		}
		n.m.parked.WithLabelValues("replayed").Inc()
	case errors.As(err, &ve) && vd.result == Reject:
		n.m.parked.WithLabelValues("rejected").Inc()
		n.junk(m.from, junkReplayReject, "replay_"+vd.reason)
	default:
		// Ignored (a duplicate of a copy that came meanwhile) or closing.
		n.m.parked.WithLabelValues("ignored").Inc()
	}
}

// countAdmitted counts the admitted peers of ps.
func (n *Node) countAdmitted(ps []peer.ID) int {
	c := 0
	for _, p := range ps {
		if n.adm.admitted(p) {
			c++
		}
	}
	return c
}

// replayRelayed says whether node self floods on its replay of m: never
// when replays stay local, always for a backed candidate (see
// ParkConfig.ReplayRelays), and for a bitfield as relaysReplay draws it
// among the admitted peers on its topic (peers, asked only then).
func replayRelayed(cfg ParkConfig, self peer.ID, m parkedMsg, peers func() int) bool {
	switch {
	case cfg.ReplayLocally:
		return false
	case m.kind != KindBitfield:
		return true
	}
	return relaysReplay(self, m.data, cfg.ReplayRelays, peers())
}

// relaysReplay says whether node self floods on a replay of data when
// about relays of the nodes that parked it should (negative: all), out
// of peers (its admitted peers on the topic, which bounds how many parked
// it): with probability relays/peers, drawn from a hash of self and data.
// The draws of different nodes are independent, so about relays nodes
// relay the message whoever parked it, and none does with probability
// about e^-relays when all peers parked it (5% for the default 3). The
// origin has flooded it to every peer it knew of in any case: relays are
// for the peers its own sends missed.
func relaysReplay(self peer.ID, data []byte, relays, peers int) bool {
	switch {
	case relays < 0:
		return true
	case relays == 0:
		return false
	case peers <= relays:
		return true
	}
	h := sha256.New()
	h.Write([]byte(self))
	h.Write(data)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))%uint64(peers) < uint64(relays)
}
