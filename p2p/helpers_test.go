package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/polkadot-provisioner/provisioner/types"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testGenesis = types.Blake2_256([]byte("p2p test genesis"))

// fixture is a validator set and a relay chain of one leaf.
type fixture struct {
	keys    []*types.Keypair
	ids     []types.ValidatorID
	session types.SessionIndex
	cores   int
}

var (
	fixOnce sync.Once
	fix     *fixture
)

// testFixture: 10 validators (seeded keys, fast to make), 5 cores, groups of
// two (core c: validators 2c and 2c+1).
func testFixture(t testing.TB) *fixture {
	fixOnce.Do(func() {
		f := &fixture{session: 7, cores: 5}
		for i := 0; i < 10; i++ {
			var seed [32]byte
			copy(seed[:], fmt.Sprintf("validator-%d", i))
			kp, err := types.KeypairFromSeed(seed)
			if err != nil {
				panic(err)
			}
			f.keys = append(f.keys, kp)
			f.ids = append(f.ids, types.ValidatorID(kp.Public()))
		}
		fix = f
	})
	return fix
}

func leafHash(n int) types.Hash { return types.Blake2_256([]byte(fmt.Sprintf("leaf-%d", n))) }

// fakeChain is a ChainView whose leaves tests switch on and off.
type fakeChain struct {
	f        *fixture
	mu       sync.RWMutex
	leaves   map[types.Hash]bool
	minVotes int
}

func newFakeChain(f *fixture, leaves ...types.Hash) *fakeChain {
	c := &fakeChain{f: f, leaves: make(map[types.Hash]bool), minVotes: 2}
	for _, l := range leaves {
		c.leaves[l] = true
	}
	return c
}

func (c *fakeChain) activate(h types.Hash) {
	c.mu.Lock()
	c.leaves[h] = true
	c.mu.Unlock()
}

func (c *fakeChain) deactivate(h types.Hash) {
	c.mu.Lock()
	delete(c.leaves, h)
	c.mu.Unlock()
}

func (c *fakeChain) Leaf(rp types.Hash) (LeafInfo, bool) {
	c.mu.RLock()
	ok := c.leaves[rp]
	c.mu.RUnlock()
	if !ok {
		return LeafInfo{}, false
	}
	return LeafInfo{Session: c.f.session, Validators: c.f.ids, NumCores: c.f.cores}, true
}

func (c *fakeChain) BackingGroup(rp types.Hash, core types.CoreIndex) ([]types.ValidatorIndex, int, error) {
	if int(core) >= c.f.cores {
		return nil, 0, errors.New("no such core")
	}
	return []types.ValidatorIndex{2 * core, 2*core + 1}, c.minVotes, nil
}

func (c *fakeChain) SessionValidators(s types.SessionIndex) ([]types.ValidatorID, bool) {
	if s != c.f.session {
		return nil, false
	}
	return c.f.ids, true
}

// Builders of valid messages.

func (f *fixture) bitfield(rp types.Hash, v types.ValidatorIndex, bits string) BitfieldMessage {
	bv, err := types.BitVecFromString(bits)
	if err != nil {
		panic(err)
	}
	ctx := types.SigningContext{SessionIndex: f.session, ParentHash: rp}
	return BitfieldMessage{RelayParent: rp, Bitfield: types.SignBitfield(f.keys[v], bv, v, ctx)}
}

func (f *fixture) backed(rp types.Hash, core types.CoreIndex, votes int) BackedCandidateMessage {
	desc := types.NewCandidateDescriptorV2(1000+core, rp, uint16(core), f.session,
		types.Hash{1}, types.Hash{2}, types.Hash{3}, types.Hash{4}, types.Hash{5})
	c := types.BackedCandidate{Candidate: types.CommittedCandidateReceipt{
		Descriptor:  desc,
		Commitments: types.CandidateCommitments{HeadData: []byte("head"), HrmpWatermark: 1},
	}}
	hash := c.Hash()
	ctx := types.SigningContext{SessionIndex: f.session, ParentHash: rp}
	bits := make([]bool, 2)
	for i := 0; i < votes; i++ {
		bits[i] = true
		c.ValidityVotes = append(c.ValidityVotes, types.SignBackingVote(f.keys[2*core+types.CoreIndex(i)], i == 0, hash, ctx))
	}
	idx, err := types.InjectCoreIndex(types.BitVecFromBools(bits), core)
	if err != nil {
		panic(err)
	}
	c.ValidatorIndices = idx
	return BackedCandidateMessage{RelayParent: rp, Candidate: c}
}

func (f *fixture) dispute(cand types.Hash, voters ...types.ValidatorIndex) types.DisputeStatementSet {
	set := types.DisputeStatementSet{CandidateHash: cand, Session: f.session}
	for i, v := range voters {
		st := types.DisputeStatement{Valid: i%2 == 0, Kind: types.ValidExplicit}
		if !st.Valid {
			st.Kind = types.InvalidExplicit
		}
		set.Statements = append(set.Statements, types.SignDisputeStatement(f.keys[v], st, cand, f.session, v))
	}
	return set
}

func (f *fixture) misbehavior(cand types.Hash, v types.ValidatorIndex) types.MisbehaviorReport {
	valid := types.DisputeStatement{Valid: true, Kind: types.ValidExplicit}
	invalid := types.DisputeStatement{Valid: false, Kind: types.InvalidExplicit}
	a := types.SignDisputeStatement(f.keys[v], valid, cand, f.session, v)
	b := types.SignDisputeStatement(f.keys[v], invalid, cand, f.session, v)
	return types.MisbehaviorReport{Session: f.session, CandidateHash: cand, ValidatorIndex: v,
		First:  types.SignedDisputeStatement{Statement: a.Statement, Signature: a.Signature},
		Second: types.SignedDisputeStatement{Statement: b.Statement, Signature: b.Signature}}
}

// recSink records what a node delivers.
type recSink struct {
	ch chan ProvisionableData
	an chan *BlockAnnouncement
}

func newRecSink() *recSink {
	return &recSink{ch: make(chan ProvisionableData, 1024), an: make(chan *BlockAnnouncement, 64)}
}

func (s *recSink) Bitfield(rp types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) {
	s.ch <- ProvisionableData{Kind: KindBitfield, RelayParent: rp, Bitfield: bf}
}
func (s *recSink) BackedCandidate(rp types.Hash, c *types.BackedCandidate) {
	s.ch <- ProvisionableData{Kind: KindBackedCandidate, RelayParent: rp, Candidate: c}
}
func (s *recSink) Dispute(set *types.DisputeStatementSet) {
	s.ch <- ProvisionableData{Kind: KindDispute, Dispute: set}
}
func (s *recSink) Misbehavior(r *types.MisbehaviorReport) {
	s.ch <- ProvisionableData{Kind: KindMisbehavior, Misbehavior: r}
}
func (s *recSink) Announcement(a *BlockAnnouncement) { s.an <- a }

// events collects validation events.
type events struct {
	mu  sync.Mutex
	evs []ValidationEvent
	c   chan struct{}
}

func newEvents() *events { return &events{c: make(chan struct{}, 1)} }

func (e *events) hook(ev ValidationEvent) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	select {
	case e.c <- struct{}{}:
	default:
	}
}

// waitFrom waits for the next event from p (after the first skip ones).
func (e *events) waitFrom(t testing.TB, p peer.ID, skip int, d time.Duration) ValidationEvent {
	t.Helper()
	deadline := time.After(d)
	for {
		e.mu.Lock()
		n := 0
		for _, ev := range e.evs {
			if ev.From == p {
				if n == skip {
					e.mu.Unlock()
					return ev
				}
				n++
			}
		}
		e.mu.Unlock()
		select {
		case <-e.c:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no validation event #%d from %s within %v", skip, p, d)
		}
	}
}

func (e *events) countFrom(p peer.ID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.From == p {
			n++
		}
	}
	return n
}

type nodeOpt func(*Config)

// newTestNode starts a node on loopback with fast gossip timers.
func newTestNode(t testing.TB, chain ChainView, sink Sink, opts ...nodeOpt) *Node {
	t.Helper()
	cfg := Config{
		Genesis:     testGenesis,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Chain:       chain,
		Sink:        sink,
		Registerer:  prometheus.NewRegistry(),
		Gossip: GossipConfig{
			HeartbeatInterval:    50 * time.Millisecond,
			ScoreInspectInterval: 50 * time.Millisecond,
		},
		SweepInterval: time.Hour,
		BootnodeRetry: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

func connect(t testing.TB, a host.Host, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), netWait)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// netWait bounds every wait for a network event. It is only an upper
// bound (the waits poll for their condition and return as soon as it
// holds), generous so that a loaded machine makes the tests slower, not
// failed.
const netWait = 15 * time.Second

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// rawPeer is a gossipsub peer without validators: it sends whatever bytes a
// test wants (the "bad peer").
type rawPeer struct {
	h      host.Host
	ps     *pubsub.PubSub
	topics map[Kind]*pubsub.Topic
	cancel context.CancelFunc
}

func newRawPeer(t testing.TB) *rawPeer {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gp := pubsub.DefaultGossipSubParams()
	gp.HeartbeatInterval = 50 * time.Millisecond
	gp.HeartbeatInitialDelay = 10 * time.Millisecond
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithGossipSubParams(gp),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(MessageID),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		// A test sends bursts (50 messages at once): the library's queue of
		// 32 RPCs per peer dropped the overflow at this sender.
		pubsub.WithPeerOutboundQueueSize(1024),
	)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawPeer{h: h, ps: ps, topics: make(map[Kind]*pubsub.Topic), cancel: cancel}
	for _, k := range Kinds {
		tp, err := ps.Join(TopicName(testGenesis, k))
		if err != nil {
			t.Fatal(err)
		}
		r.topics[k] = tp
	}
	t.Cleanup(func() {
		cancel()
		_ = h.Close()
	})
	return r
}

// send publishes raw bytes; the raw peer validates nothing.
func (r *rawPeer) send(t testing.TB, k Kind, data []byte) {
	t.Helper()
	if err := r.topics[k].Publish(context.Background(), data); err != nil {
		t.Fatalf("raw publish: %v", err)
	}
}

// link connects the raw peer to n and waits until each side sees the other
// on every topic.
func (r *rawPeer) link(t testing.TB, n *Node) {
	t.Helper()
	connect(t, r.h, n.Host())
	waitUntil(t, netWait, "topic peers", func() bool {
		for _, k := range Kinds {
			if !contains(r.topics[k].ListPeers(), n.ID()) {
				return false
			}
		}
		return true
	})
}

func randomHash() types.Hash {
	var h types.Hash
	_, _ = rand.Read(h[:])
	return h
}
