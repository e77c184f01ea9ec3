package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestParkedDeliveredWhenLeafArrives: a bitfield for a leaf the node does
// not know yet is ignored at once, parked, and delivered when the leaf
// activates.
func TestParkedDeliveredWhenLeafArrives(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := newFakeChain(f)
	sink := newRecSink()
	n := sendEarlyBitfield(t, f, chain, sink, leaf)
	waitUntil(t, 5*time.Second, "the message parked", func() bool {
		msgs, _ := n.park.size()
		return msgs == 1
	})
	chain.activate(leaf)
	n.LeafActivated(leaf)
	waitEarlyBitfield(t, sink, leaf, "parked bitfield not delivered after its leaf arrived")
	if msgs, bytes := n.park.size(); msgs != 0 || bytes != 0 {
		t.Fatalf("parking holds %d messages, %d bytes after the replay, want 0, 0", msgs, bytes)
	}
	// The replay counts itself once its local publish returns, which can be
	// after the sink got the message: wait for the count, then check that
	// it stays at one.
	waitUntil(t, netWait, "the replay counted", func() bool {
		return counterOf(t, n.m.parked.WithLabelValues("replayed")) >= 1
	})
	if got := counterOf(t, n.m.parked.WithLabelValues("replayed")); got != 1 {
		t.Fatalf("replayed = %v, want 1", got)
	}
}

// TestParkedDroppedAfterWindow: a leaf that never comes: the message is
// dropped after the window, never delivered, and counted as junk.
func TestParkedDroppedAfterWindow(t *testing.T) {
	f := testFixture(t)
	sink := newRecSink()
	n := newTestNode(t, newFakeChain(f), sink, func(c *Config) { c.Park.Window = 100 * time.Millisecond })
	raw := newRawPeer(t)
	raw.link(t, n)
	m := f.bitfield(leafHash(9), 3, "10100")
	raw.send(t, KindBitfield, types.Encode(&m))
	waitUntil(t, 10*time.Second, "the parked message expired", func() bool {
		return counterOf(t, n.m.parked.WithLabelValues("expired")) == 1
	})
	if msgs, _ := n.park.size(); msgs != 0 {
		t.Fatalf("%d messages still parked", msgs)
	}
	n.adm.mu.Lock()
	j := n.adm.junk[raw.h.ID()]
	n.adm.mu.Unlock()
	if j == nil || j.n != junkExpired {
		t.Fatalf("junk of the sender = %+v, want %d", j, junkExpired)
	}
	select {
	case d := <-sink.ch:
		t.Fatalf("delivered %+v", d)
	default:
	}
}

func TestParkingLotBounds(t *testing.T) {
	cfg := &ParkConfig{PerPeer: 2, PerPeerBytes: 100, TotalBytes: 150}
	cases := []struct {
		name string
		from string
		size int
		ok   bool
	}{
		{"first", "a", 40, true},
		{"second", "a", 40, true},
		{"third over the per-peer count", "a", 1, false},
		{"over the per-peer bytes", "b", 101, false},
		{"other peer", "b", 60, true},
		{"over the total", "c", 20, false},
	}
	l := newParkingLot(cfg)
	for _, tc := range cases {
		if got := l.park(parkedMsg{from: peer.ID(tc.from), data: make([]byte, tc.size)}) == parked; got != tc.ok {
			t.Fatalf("%s: park = %v, want %v", tc.name, got, tc.ok)
		}
	}
	if msgs, bytes := l.size(); msgs != 3 || bytes != 140 {
		t.Fatalf("size %d msgs %d bytes, want 3, 140", msgs, bytes)
	}
}

// TestParkingShareGrowsWithValidators: a peer's share is the configured
// one for a small set and two messages and 1 KiB per validator for a
// large one (a relay may forward every validator's bitfield and candidate
// for a leaf this node has not imported yet); the total still bounds all.
func TestParkingShareGrowsWithValidators(t *testing.T) {
	cfg := &ParkConfig{PerPeer: 32, PerPeerBytes: 256 << 10, TotalBytes: 1 << 20}
	cases := []struct {
		validators int
		msgs       int
		bytes      int
	}{
		{0, 32, 256 << 10},
		{10, 32, 256 << 10},
		{300, 600, 300 << 10},
		{1000, 2000, 1000 << 10},
	}
	for _, tc := range cases {
		l := newParkingLot(cfg)
		l.setValidators(tc.validators)
		if msgs, bytes := l.peerShare(); msgs != tc.msgs || bytes != tc.bytes {
			t.Fatalf("%d validators: share %d msgs %d bytes, want %d, %d", tc.validators, msgs, bytes, tc.msgs, tc.bytes)
		}
	}
	// 300 validators: one relay parks 600 bitfield-sized messages, not 601.
	l := newParkingLot(cfg)
	l.setValidators(300)
	for i := range 601 {
		if got := l.park(parkedMsg{from: "relay", data: make([]byte, 150)}) == parked; got != (i < 600) {
			t.Fatalf("message %d: park = %v", i, got)
		}
	}
	// The total (1 MiB) bounds the peers together.
	l = newParkingLot(cfg)
	l.setValidators(1000)
	count := 0
	for p := range 8 {
		for range 1000 {
			if l.park(parkedMsg{from: peer.ID(rune('a' + p)), data: make([]byte, 512)}) == parked {
				count++
			}
		}
	}
	if count != (1<<20)/512 {
		t.Fatalf("parked %d messages of 512 bytes under a 1 MiB total, want %d", count, (1<<20)/512)
	}
}

// TestParkingLeavesPerPeer: a peer's parked messages may name at most
// maxParkedLeaves distinct relay parents; more messages for those are
// parked, a message for another is refused as made up, and another peer
// is not affected.
func TestParkingLeavesPerPeer(t *testing.T) {
	l := newParkingLot(&ParkConfig{PerPeer: 32, PerPeerBytes: 256 << 10, TotalBytes: 1 << 20})
	rp := func(i byte) types.Hash { return types.Hash{i} }
	cases := []struct {
		from string
		rp   types.Hash
		want parkResult
	}{
		{"a", rp(1), parked},
		{"a", rp(2), parked},
		{"a", rp(1), parked},
		{"a", rp(3), parked},
		{"a", rp(4), parkLeaves},
		{"a", rp(2), parked},
		{"b", rp(4), parked},
		{"b", rp(5), parked},
		{"b", rp(6), parked},
		{"b", rp(7), parkLeaves},
	}
	for i, tc := range cases {
		if got := l.park(parkedMsg{from: peer.ID(tc.from), rp: tc.rp, data: []byte{1}}); got != tc.want {
			t.Fatalf("case %d (%s, rp %x): %v, want %v", i, tc.from, tc.rp[:1], got, tc.want)
		}
	}
	// Once a's messages for rp 1 are replayed, a may wait for a new leaf.
	l.take(time.Now(), time.Hour, func(h types.Hash) bool { return h == rp(1) })
	if got := l.park(parkedMsg{from: "a", rp: rp(4), data: []byte{1}}); got != parked {
		t.Fatalf("after rp 1 was replayed: %v, want parked", got)
	}
}

// blockingChain is a ChainView whose Leaf never returns for one relay
// parent until released: a broken view. Every other answer is from memory.
type blockingChain struct {
	*fakeChain
	stuck   types.Hash
	release chan struct{}
	mu      sync.Mutex
	blocked int
}

func (c *blockingChain) Leaf(rp types.Hash) (LeafInfo, bool) {
	if rp == c.stuck {
		c.mu.Lock()
		c.blocked++
		c.mu.Unlock()
		<-c.release
		return LeafInfo{}, false
	}
	return c.fakeChain.Leaf(rp)
}

// TestValidationNotStarvedByBlockingView: even with a chain view that
// blocks for one relay parent (a bug the contract forbids), a burst of
// messages for it does not keep other messages from being validated and
// delivered: every honest bitfield arrives.
func TestValidationNotStarvedByBlockingView(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := &blockingChain{fakeChain: newFakeChain(f, leaf), stuck: leafHash(66), release: make(chan struct{})}
	sink := newRecSink()
	n := newTestNode(t, chain, sink, func(c *Config) { c.ValidateTimeout = 200 * time.Millisecond })
	t.Cleanup(func() { close(chain.release) })
	raw := newRawPeer(t)
	raw.link(t, n)
	for i := 0; i < 50; i++ {
		m := f.bitfield(chain.stuck, types.ValidatorIndex(i%10), "10100")
		m.Bitfield.Signature[0] ^= byte(i + 1) // distinct bytes, distinct ids
		raw.send(t, KindBitfield, types.Encode(&m))
	}
	waitUntil(t, 10*time.Second, "the stuck validations", func() bool {
		chain.mu.Lock()
		defer chain.mu.Unlock()
		return chain.blocked == 50
	})
	for v := 0; v < 10; v++ {
		m := f.bitfield(leaf, types.ValidatorIndex(v), "10100")
		raw.send(t, KindBitfield, types.Encode(&m))
	}
	seen := map[types.ValidatorIndex]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 10 {
		select {
		case d := <-sink.ch:
			seen[d.Bitfield.ValidatorIndex] = true
		case <-deadline:
			t.Fatalf("%d of 10 honest bitfields delivered behind 50 stuck validations", len(seen))
		}
	}

}

// raceChain is a fakeChain with KnownBlocks whose leaf activates the
// moment validation first finds it inactive: validation ignores the
// message as not an active leaf, and the leaf is already known and active
// when the node decides whether to park it.
type raceChain struct {
	*fakeChain
	leaf types.Hash
	once sync.Once
}

func (c *raceChain) Leaf(rp types.Hash) (LeafInfo, bool) {
	info, ok := c.fakeChain.Leaf(rp)
	if !ok && rp == c.leaf {
		c.once.Do(func() { c.fakeChain.activate(rp) })
	}
	return info, ok
}

func (c *raceChain) KnownBlock(h types.Hash) bool {
	_, ok := c.fakeChain.Leaf(h)
	return ok
}

// TestParkedWhenLeafActivatesDuringValidation: a message judged while its
// leaf was not yet active, whose leaf activated before the node decided
// to park it, is parked and delivered, not dropped as late.
func TestParkedWhenLeafActivatesDuringValidation(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := &raceChain{fakeChain: newFakeChain(f), leaf: leaf}
	sink := newRecSink()
	sendEarlyBitfield(t, f, chain, sink, leaf)
	// Nobody calls LeafActivated: the park loop's poll finds the leaf.
	waitEarlyBitfield(t, sink, leaf, "a bitfield whose leaf activated during its validation was never delivered")
}

// sendEarlyBitfield starts a node on chain and sink (a minute's parking
// window), has a raw peer send it validator 3's bitfield for leaf, and
// checks that validation ignored it as not an active leaf (it is parked).
func sendEarlyBitfield(t *testing.T, f *fixture, chain ChainView, sink Sink, leaf types.Hash) *Node {
	t.Helper()
	ev := newEvents()
	n := newTestNode(t, chain, sink, func(c *Config) { c.ValidationHook = ev.hook; c.Park.Window = time.Minute })
	raw := newRawPeer(t)
	raw.link(t, n)
	m := f.bitfield(leaf, 3, "10100")
	raw.send(t, KindBitfield, types.Encode(&m))
	got := ev.waitFrom(t, raw.h.ID(), 0, 10*time.Second)
	if got.Result != Ignore || got.Reason != ReasonNotActiveLeaf {
		t.Fatalf("first outcome %v/%s, want ignore/%s", got.Result, got.Reason, ReasonNotActiveLeaf)
	}
	return n
}

// waitEarlyBitfield waits for sendEarlyBitfield's bitfield at the sink,
// failing with what when it does not come.
func waitEarlyBitfield(t *testing.T, sink *recSink, leaf types.Hash, what string) {
	t.Helper()
	select {
	case d := <-sink.ch:
		if d.RelayParent != leaf || d.Bitfield.ValidatorIndex != 3 {
			t.Fatalf("delivered %s/%d, want %s/3", d.RelayParent, d.Bitfield.ValidatorIndex, leaf)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// TestParkedReplaysBatched: a leaf's parked messages come back together,
// so their signatures are checked in the batcher as their sender's, none
// on a validator's own goroutine; an accepted replay reaches the sink and
// goes on to the network when relaysReplay picks it (every one with
// ParkConfig.ReplayRelays negative, none with ParkConfig.ReplayLocally).
func TestParkedReplaysBatched(t *testing.T) {
	for _, tc := range []struct {
		name   string
		relays int  // ParkConfig.ReplayRelays
		local  bool // ParkConfig.ReplayLocally
	}{
		{"not relayed", 0, true},
		{"all relayed", -1, false},
		{"half relayed", 1, false}, // 1 of n's 2 subscribed peers
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testFixture(t)
			leaf := leafHash(1)
			chain := newFakeChain(f)
			sink := newRecSink()
			n := newTestNode(t, chain, sink, func(c *Config) {
				c.Park.Window = time.Minute
				c.Park.ReplayRelays = tc.relays
				c.Park.ReplayLocally = tc.local
			})
			sub := watchReplays(t, n, KindBitfield)
			raw := newRawPeer(t)
			raw.link(t, n)
			want := 0
			for v := range len(f.ids) {
				m := f.bitfield(leaf, types.ValidatorIndex(v), "10100")
				data := types.Encode(&m)
				raw.send(t, KindBitfield, data)
				if !tc.local && relaysReplay(n.host.ID(), data, n.cfg.Park.ReplayRelays, 2) {
					want++
				}
			}
			t.Logf("relaysReplay picks %d of %d", want, len(f.ids))
			if tc.relays < 0 && want != len(f.ids) {
				t.Fatalf("relaysReplay picked %d of %d, want all", want, len(f.ids))
			}
			waitUntil(t, netWait, "every bitfield parked", func() bool {
				msgs, _ := n.park.size()
				return msgs == len(f.ids)
			})
			// want counts on the two peers (raw and the watcher) that n
			// weighs a bitfield's relay against: wait until n sees both.
			bitfieldPeers := func() int { return n.countAdmitted(n.topics[KindBitfield].ListPeers()) }
			waitUntil(t, netWait, "n sees its two bitfield peers", func() bool { return bitfieldPeers() == 2 })
			chain.activate(leaf)
			n.LeafActivated(leaf)
			got := map[types.ValidatorIndex]bool{}
			for range f.ids {
				select {
				case d := <-sink.ch:
					got[d.Bitfield.ValidatorIndex] = true
				case <-time.After(netWait):
					t.Fatalf("%d of %d replayed bitfields delivered", len(got), len(f.ids))
				}
			}
			if len(got) != len(f.ids) {
				t.Fatalf("delivered validators %v, want all %d once", got, len(f.ids))
			}
			waitUntil(t, netWait, "every replay counted", func() bool {
				return counterOf(t, n.m.parked.WithLabelValues("replayed")) == float64(len(f.ids))
			})
			batches, sigs := histogramValue(t, n.m.batchSize)
			if batches == 0 || sigs != float64(len(f.ids)) {
				t.Fatalf("%d batches of %v signatures in all, want every one of the %d in a batch", batches, sigs, len(f.ids))
			}
			for c, name := range inlineCauseNames {
				if got := metricCount(t, n.m.sigInline[c]); got != 0 {
					t.Fatalf("%v signatures verified inline (%s)", got, name)
				}
			}
			if got := counterOf(t, n.m.parked.WithLabelValues("relayed")); got != float64(want) {
				t.Fatalf("%v replays counted as relayed, want %d (n now sees %d bitfield peers; %s)", got, want, bitfieldPeers(), parkedCounts(t, n))
			}
			// Relayed or not, the watcher's count is settled within a few
			// of n's heartbeats (50 ms) of the replays.
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			relayed := 0
			for {
				if _, err := sub.Next(ctx); err != nil {
					break
				}
				relayed++
				if relayed == len(f.ids) {
					break
				}
			}
			if relayed != want {
				t.Fatalf("the watcher got %d replayed bitfields, want %d", relayed, want)
			}
		})
	}
}

// TestParkedForgeryCountsAgainstSender: a parked forgery, replayed, is
// rejected; its sender is charged and becomes a suspect of the batcher,
// the replaying node does not.
func TestParkedForgeryCountsAgainstSender(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := newFakeChain(f)
	sink := newRecSink()
	n := newTestNode(t, chain, sink, func(c *Config) { c.Park.Window = time.Minute })
	raw := newRawPeer(t)
	raw.link(t, n)
	m := forgedBitfield(f, leaf, 4, "10100", 0)
	raw.send(t, KindBitfield, types.Encode(&m))
	waitUntil(t, netWait, "the forgery parked", func() bool {
		msgs, _ := n.park.size()
		return msgs == 1
	})
	chain.activate(leaf)
	n.LeafActivated(leaf)
	waitUntil(t, netWait, "the replay rejected", func() bool {
		return counterOf(t, n.m.parked.WithLabelValues("rejected")) == 1
	})
	n.adm.mu.Lock()
	j := n.adm.junk[raw.h.ID()]
	n.adm.mu.Unlock()
	if j == nil || j.n != junkReplayReject {
		t.Fatalf("junk of the sender = %+v, want %d", j, junkReplayReject)
	}
	if !n.vals.batch.suspect(raw.h.ID()) || n.vals.batch.suspect(n.ID()) {
		t.Fatalf("suspects: sender %v, replaying node %v; want true, false",
			n.vals.batch.suspect(raw.h.ID()), n.vals.batch.suspect(n.ID()))
	}
	select {
	case d := <-sink.ch:
		t.Fatalf("delivered %+v", d)
	default:
	}
}

// watchReplays links two peers subscribed to k's topic to n, and to n
// alone, and waits until they are n's subscribed peers on it, so that
// relaysReplay's peer count is two. It returns the first one's
// subscription: what it gets, n sent.
func watchReplays(t *testing.T, n *Node, k Kind) *pubsub.Subscription {
	t.Helper()
	watcher, second := newRawPeer(t), newRawPeer(t)
	var sub *pubsub.Subscription
	for i, w := range []*rawPeer{watcher, second} {
		s, err := w.topics[k].Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Cancel)
		if i == 0 {
			sub = s
		}
		w.link(t, n)
	}
	waitUntil(t, netWait, "the watchers among n's "+k.String()+" peers", func() bool {
		p := n.topics[k].ListPeers()
		return contains(p, watcher.h.ID()) && contains(p, second.h.ID())
	})
	if p := n.topics[k].ListPeers(); len(p) != 2 {
		t.Fatalf("n's %s peers %v, want the two watchers", k, p)
	}
	return sub
}

// TestRelaysReplay: the share of replays a node relays is relays/peers,
// different nodes draw independently, and the edge cases are exact.
func TestRelaysReplay(t *testing.T) {
	a, b := peer.ID("node-a"), peer.ID("node-b")
	msg := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte("bitfield "), uint32(i)) }
	for _, tc := range []struct {
		relays, peers int
		want          bool
	}{
		{-1, 19, true}, // every node relays
		{3, 3, true},   // no more peers than relays
		{3, 1, true},   //
		{0, 19, false}, // none relays
		{0, 0, false},  //
		{-1, 0, true},  //
		{19, 19, true}, //
	} {
		for i := range 100 {
			if got := relaysReplay(a, msg(i), tc.relays, tc.peers); got != tc.want {
				t.Fatalf("relays %d of %d peers, message %d: %v, want %v", tc.relays, tc.peers, i, got, tc.want)
			}
		}
	}
	// 3 of 19: about 15.8% of 20,000 messages each, and about that share
	// of a's picks for b (independent draws).
	const msgs = 20000
	pickedA, pickedB, both := 0, 0, 0
	for i := range msgs {
		pa, pb := relaysReplay(a, msg(i), 3, 19), relaysReplay(b, msg(i), 3, 19)
		if pa {
			pickedA++
		}
		if pb {
			pickedB++
		}
		if pa && pb {
			both++
		}
	}
	want := msgs * 3 / 19 // 3157
	for _, got := range []int{pickedA, pickedB} {
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("picked %d of %d, want about %d", got, msgs, want)
		}
	}
	if wantBoth := pickedA * 3 / 19; both < wantBoth*7/10 || both > wantBoth*13/10 {
		t.Errorf("both picked %d, want about %d (independent draws)", both, wantBoth)
	}
}

// TestReplayRelaysCountAdmittedPeers: the peers that decide how often a
// node relays its replays are the admitted ones; strangers, who may
// subscribe to any topic, do not count.
func TestReplayRelaysCountAdmittedPeers(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	a := validatorNode(t, newFakeChain(f, leaf), nil, nil, 0)
	b := validatorNode(t, newFakeChain(f, leaf), nil, nil, 1)
	stranger := newRawPeer(t)
	stranger.link(t, a)
	connect(t, b.Host(), a.Host())
	waitUntil(t, 10*time.Second, "b admitted by a", func() bool { return a.Admitted(b.ID()) })
	if got := a.countAdmitted([]peer.ID{b.ID(), stranger.h.ID(), peer.ID("unknown")}); got != 1 {
		t.Fatalf("%d admitted of b, a stranger and an unknown peer; want 1 (b)", got)
	}
}

// TestParkedBackedAlwaysRelayed: every node that parked a backed
// candidate floods it on after the replay, whatever ReplayRelays says for
// bitfields. This node has no admitted peer on the bitfield topic, with
// which a bitfield's replay would be relayed too; TestReplayRelayed holds
// the rule itself, with two.
func TestParkedBackedAlwaysRelayed(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	chain := newFakeChain(f)
	sink := newRecSink()
	n := newTestNode(t, chain, sink, func(c *Config) {
		c.Park.Window = time.Minute
		c.Park.ReplayRelays = 1
	})
	sub := watchReplays(t, n, KindBackedCandidate)
	raw := newRawPeer(t)
	raw.link(t, n)
	for core := range types.CoreIndex(f.cores) {
		raw.send(t, KindBackedCandidate, types.Encode(ptr(f.backed(leaf, core, 2))))
	}
	waitUntil(t, netWait, "every candidate parked", func() bool {
		msgs, _ := n.park.size()
		return msgs == f.cores
	})
	chain.activate(leaf)
	n.LeafActivated(leaf)
	for core := range f.cores {
		select {
		case <-sink.ch:
		case <-time.After(netWait):
			t.Fatalf("%d of %d replayed candidates delivered", core, f.cores)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for got := range f.cores {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("the watcher got %d of %d replayed candidates", got, f.cores)
		}
	}
	// A replay is counted once its publish returns, which may be after
	// the watcher and the sink have it.
	waitUntil(t, netWait, "every replay counted", func() bool {
		return counterOf(t, n.m.parked.WithLabelValues("replayed")) == float64(f.cores)
	})
	if got := counterOf(t, n.m.parked.WithLabelValues("relayed")); got != float64(f.cores) {
		t.Fatalf("%v replays counted as relayed, want %d (%s)", got, f.cores, parkedCounts(t, n))
	}
}

// parkedCounts lists n's parked-message outcomes, for a failure message.
func parkedCounts(t *testing.T, n *Node) string {
	var out []string
	for _, o := range []string{"parked", "full", "unknown_leaves", "replayed", "relayed", "ignored", "rejected", "expired"} {
		out = append(out, fmt.Sprintf("%s %v", o, counterOf(t, n.m.parked.WithLabelValues(o))))
	}
	return strings.Join(out, ", ")
}

// TestReplayRelayed: whether a node floods on its replay of a parked
// message. With ReplayRelays 1 and two admitted peers on the bitfield
// topic, a bitfield's replay is relayed as relaysReplay draws it (over 64
// payloads both outcomes occur, so a rule that ignored the draw would
// show), a backed candidate's always and without asking for the peers,
// and nothing when replays stay local.
func TestReplayRelayed(t *testing.T) {
	self := peer.ID("node")
	relayed := func(cfg ParkConfig, k Kind, data []byte, asked *int) bool {
		return replayRelayed(cfg, self, parkedMsg{kind: k, data: data}, func() int { *asked++; return 2 })
	}
	one := ParkConfig{ReplayRelays: 1}
	drawn := map[bool]int{}
	for i := range 64 {
		data := []byte{byte(i), 0xab}
		var asked int
		if got, want := relayed(one, KindBitfield, data, &asked), relaysReplay(self, data, 1, 2); got != want {
			t.Fatalf("bitfield %d: relayed %v, want %v (the draw)", i, got, want)
		}
		drawn[relaysReplay(self, data, 1, 2)]++
		if asked != 1 {
			t.Fatalf("bitfield %d: peers asked %d times, want 1", i, asked)
		}
		asked = 0
		if !relayed(one, KindBackedCandidate, data, &asked) || asked != 0 {
			t.Fatalf("backed candidate %d: not relayed, or the peers asked (%d)", i, asked)
		}
		local := ParkConfig{ReplayRelays: -1, ReplayLocally: true}
		if relayed(local, KindBitfield, data, &asked) || relayed(local, KindBackedCandidate, data, &asked) {
			t.Fatalf("message %d: relayed though replays stay local", i)
		}
	}
	if drawn[true] == 0 || drawn[false] == 0 {
		t.Fatalf("the draw over 64 payloads: %v; the test needs both outcomes", drawn)
	}
	var asked int
	if !relayed(ParkConfig{ReplayRelays: -1}, KindBitfield, []byte{1}, &asked) || relayed(ParkConfig{}, KindBitfield, []byte{1}, &asked) {
		t.Fatal("ReplayRelays -1 must relay every bitfield, 0 none")
	}
}
