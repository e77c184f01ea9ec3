package p2p

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"net"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"golang.org/x/crypto/blake2b"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

var log = logging.Logger("p2p")

// maxRecordExchanges bounds the validator-record exchanges in flight: a
// burst of connections (a restart of the whole network) queues instead of
// opening a stream to every peer at once.
const maxRecordExchanges = 16

// Node is a provisioner network node: a libp2p host, its gossip topics and
// the builder protocols. Create it with New and stop it with Close.
type Node struct {
	cfg  Config
	host host.Host
	cm   coreconnmgr.ConnManager // the host's (Config.Host) or one newHost made
	ps   *pubsub.PubSub
	m    *metrics
	vals *validators
	hub  *FeedHub // nil when Config.AuthorFeed is set
	feed AuthorFeed

	tracer *tracer
	adm    *admission
	park   *parkingLot
	// parkKick wakes the park loop (LeafActivated, a new parked message).
	parkKick chan struct{}
	frames   *frameGuard
	rates    *rateLimiter // per-peer request rate of the builder protocols (under hmu)
	topics   [numKinds]*pubsub.Topic
	subs     [numKinds]*pubsub.Subscription

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	// Stream handlers in flight; Close waits for them.
	hmu      sync.Mutex
	hclosed  bool
	handlers sync.WaitGroup
	inflight map[peer.ID]int // inherent requests per peer
	streams  map[peer.ID]int // author streams per peer

	scoreMu sync.RWMutex
	scores  map[peer.ID]float64
	// behaviour and prevBehaviour are the last two snapshots of scores
	// without the stranger floor (see setScoreSnapshots).
	behaviour, prevBehaviour map[peer.ID]float64
	// parts are the last snapshot's score components, so that a ban can
	// say what it was for.
	parts map[peer.ID]*pubsub.PeerScoreSnapshot

	// Validator records (record.go) and peers on other networks (peers.go).
	recMu          sync.Mutex
	ownRecord      ownRecords
	validatorPeers map[peer.ID]PeerValidator
	recPending     map[peer.ID]bool
	foreign        map[peer.ID]types.Hash
	recSem         chan struct{} // bounds concurrent record exchanges
	notifiee       *network.NotifyBundle

	bootMu sync.Mutex
	boot   *bootnodeWatch

	closeOnce sync.Once
	closeErr  error
}

// New starts a node: it listens, joins the topics, registers the protocols
// and starts connecting to the bootnodes in the background. ctx is only
// checked at start-up; the node runs until Close.
func New(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Host != nil {
		// A supplied host is the node's from here on, even when New fails.
		defer func() {
			if err != nil {
				_ = cfg.Host.Close()
			}
		}()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	bootnodes, err := ParsePeerAddrs(cfg.Bootnodes)
	if err != nil {
		return nil, err
	}
	direct, err := ParsePeerAddrs(cfg.DirectPeers)
	if err != nil {
		return nil, err
	}
	key, err := cfg.identity()
	if err != nil {
		return nil, err
	}
	for _, ai := range direct {
		// Direct peers are the operator's choice, as trusted peers are.
		cfg.TrustedPeers = append(cfg.TrustedPeers, ai.ID)
	}
	adm := newAdmission(&cfg, append(append([]peer.AddrInfo(nil), bootnodes...), direct...))
	h, cm, err := openHost(&cfg, key, connGater{adm})
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		host:     h,
		cm:       cm,
		adm:      adm,
		park:     newParkingLot(&cfg.Park),
		parkKick: make(chan struct{}, 1),
		rates:    newRateLimiter(cfg.Inherent.RatePerSecond, cfg.Inherent.RateBurst),
		m:        newMetrics(cfg.Registerer),
		inflight: make(map[peer.ID]int),
		streams:  make(map[peer.ID]int),
		scores:   make(map[peer.ID]float64),

		validatorPeers: make(map[peer.ID]PeerValidator),
		recPending:     make(map[peer.ID]bool),
		foreign:        make(map[peer.ID]types.Hash),
		recSem:         make(chan struct{}, maxRecordExchanges),
		boot:           newBootnodeWatch(bootnodes, time.Now()),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.vals = &validators{
		chain: cfg.Chain, lim: cfg.Limits, m: n.m, hook: cfg.ValidationHook,
		announce: cfg.AnnouncementValidator, self: h.ID(),
	}
	n.vals.outcome = n.maybePark
	if cfg.Gossip.BatchVerify != BatchVerifyOff {
		// Its workers start with the node's other goroutines, below; a
		// request queued before then waits for them (and is dropped
		// unchecked if that takes longer than ValidateTimeout).
		n.vals.batch = newSigBatcher(n.ctx, 0, cfg.Gossip.BatchMax, cfg.Gossip.BatchWait, n.m)
		n.vals.batch.stale = cfg.ValidateTimeout
	}
	for _, k := range Kinds {
		n.vals.maxSize[k] = cfg.Limits.forKind(k).MaxMessageSize
	}
	n.frames = &frameGuard{
		cfg: &n.cfg.Frames, maxFrame: cfg.Limits.maxFrame(), admitted: adm.admitted,
		budget: newFrameBudget(cfg.Frames.PerPeerBytes, cfg.Frames.TotalBytes),
		onDrop: func(reason string) { n.m.frames.WithLabelValues(reason).Inc() },
	}
	n.feed = cfg.AuthorFeed
	if n.feed == nil {
		n.hub = NewFeedHub(cfg.Chain, cfg.Inherent.MaxAuthorHistory)
		n.hub.onDrop = func() { n.m.dropped.WithLabelValues(DropAuthorHistory).Inc() }
		n.feed = n.hub
	}
	if err := n.startPubSub(direct); err != nil {
		n.cancel()
		h.Close()
		cm.Close()
		return nil, err
	}
	for _, ai := range append(append([]peer.AddrInfo(nil), bootnodes...), direct...) {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		cm.Protect(ai.ID, "provisioner-static")
	}
	for _, p := range append(append([]peer.ID(nil), cfg.TrustedPeers...), cfg.BuilderPeers...) {
		cm.Protect(p, "provisioner-static")
	}
	if cfg.Inherents != nil {
		h.SetStreamHandler(InherentProtocol(cfg.Genesis), n.handleInherent)
	}
	h.SetStreamHandler(AuthorProtocol(cfg.Genesis), n.handleAuthor)
	// setDefaults checked the keys, so this cannot fail.
	_ = n.SetSessionKeys(cfg.sessionKeys())
	h.SetStreamHandler(ValidatorRecordProtocol(cfg.Genesis), n.handleRecord)
	idSub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		n.cancel()
		h.Close()
		cm.Close()
		return nil, fmt.Errorf("p2p: identify events: %w", err)
	}
	n.notifiee = &network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c.RemotePeer()) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnected(c.RemotePeer()) },
	}
	h.Network().Notify(n.notifiee)

	n.wg.Add(5)
	go n.watchIdentify(idSub)
	go n.keepConnected(bootnodes)
	go n.sweepLoop()
	go n.parkLoop()
	go n.admissionLoop()
	if n.vals.batch != nil {
		n.vals.batch.start()
	}
	for _, k := range Kinds {
		n.wg.Add(1)
		go n.deliverLoop(k)
	}
	// Peers that connected before the notifiee was in place.
	for _, p := range h.Network().Peers() {
		n.onConnected(p)
	}
	log.Infow("p2p node started", "peer", h.ID(), "addrs", h.Addrs())
	return n, nil
}

// scoreParams builds the peer-score parameters: only invalid deliveries
// (P4) cost, first deliveries (P2) earn a little credit, loopback is
// whitelisted for the IP colocation penalty.
func (n *Node) scoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	th := DefaultThresholds()
	if n.cfg.Gossip.Thresholds != nil {
		th = *n.cfg.Gossip.Thresholds
	}
	topics := make(map[string]*pubsub.TopicScoreParams, numKinds)
	for _, k := range Kinds {
		topics[TopicName(n.cfg.Genesis, k)] = &pubsub.TopicScoreParams{
			SkipAtomicValidation:           true,
			TopicWeight:                    1,
			TimeInMeshQuantum:              time.Second, // P1 off, but the quantum divides
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:      20,
			InvalidMessageDeliveriesWeight: n.cfg.Gossip.InvalidMessageWeight,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	_, lo4, _ := net.ParseCIDR("127.0.0.0/8")
	_, lo6, _ := net.ParseCIDR("::1/128")
	params := &pubsub.PeerScoreParams{
		Topics:                      topics,
		TopicScoreCap:               40,
		AppSpecificScore:            n.adm.appScore,
		AppSpecificWeight:           appSpecificWeight,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 3,
		IPColocationFactorWhitelist: []*net.IPNet{lo4, lo6},
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
	return params, &pubsub.PeerScoreThresholds{
		GossipThreshold: th.Gossip, PublishThreshold: th.Publish, GraylistThreshold: th.Graylist,
		AcceptPXThreshold: th.AcceptPX, OpportunisticGraftThreshold: th.OpportunisticGraft,
	}
}

// MessageID is the gossip message id every node uses (gossipsub's
// WithMessageIdFn): blake2b-160 of the topic, a zero byte and the data.
// The same bytes on the same topic relayed by different peers are one
// message. Peers name ids to each other (IHAVE, IWANT), so anything that
// gossips with the nodes (the testnet's attacker and adversary) must use
// this function.
func MessageID(m *pb.Message) string {
	h := idHashers.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(m.GetTopic()))
	h.Write([]byte{0})
	h.Write(m.Data)
	var sum [20]byte
	id := string(h.Sum(sum[:0]))
	idHashers.Put(h)
	return id
}

// idHashers recycles MessageID's hashers: gossipsub asks for the id of
// every copy of every message it receives (thousands a second at Kusama
// scale), and a fresh blake2b state is a few hundred bytes of garbage.
var idHashers = sync.Pool{New: func() any {
	h, err := blake2b.New(20, nil)
	if err != nil {
		panic("p2p: blake2b-160: " + err.Error()) // only for a bad size or key
	}
	return h
}}

// gossipHistory is how far back lazy gossip names messages: a message
// is named at one or two heartbeats after it arrived, enough for a peer
// that missed it to ask while it is still in the mcache.
const gossipHistory = 1400 * time.Millisecond

// seenTTL is how long gossipsub remembers a message id (default 2 min):
// messages are only judged for relay parents in the view window (a few
// blocks, 6 s apart), and the seen cache, looked up for every message and
// every id a peer names, is four times smaller than with the default.
// A copy that comes back later is judged again and ignored as a
// duplicate or as late.
const seenTTL = 30 * time.Second

func (n *Node) startPubSub(direct []peer.AddrInfo) error {
	gp := pubsub.DefaultGossipSubParams()
	// Every message is flood-published: its origin sends it to every
	// peer of the topic, and the peers of a validator network are (nearly)
	// all its validators. The mesh only repairs what a direct send missed,
	// so it can be thin: each mesh link relays every message once more, and
	// at Kusama scale (1,000 bitfields and a few hundred backed-candidate
	// messages a block, 20 nodes) the default mesh of 6 made relaying most
	// of a node's CPU. Measured there on 2 cores: D 6 -> 3 and lazy gossip
	// 6 -> 3 peers took CPU per block from 4.92 s to 3.59 s and the
	// bitfields' gossip p99 from 2.2 s to 1.5 s; D 3 -> 2 took it a
	// further 5-10% (3.25-3.54 s to 3.10-3.16 s in in-process runs) and p99
	// from 1.43-1.63 s to 1.17-1.36 s. Every message still reaches a node
	// straight from its origin and through up to two mesh relays, and lazy
	// gossip repairs the rest. Dout must stay below Dlo and at most D/2:
	// 0 here, which costs nothing since only proven validators enter the
	// mesh (admission.go), so strangers cannot crowd it.
	gp.D, gp.Dlo, gp.Dhi, gp.Dscore, gp.Dout, gp.Dlazy = 2, 2, 4, 1, 0, 3
	// Lazy gossip (IHAVE) repairs the rare message that neither its
	// origin nor the mesh delivered. By default it names every message of
	// the last ~3 s to a quarter of the non-mesh peers at each heartbeat,
	// and each receiver looks every id up in its seen cache: at Kusama
	// scale that was most of the seen-cache lookups. Now it names those of
	// the last gossipHistory to Dlazy peers; with the shorter seen-cache
	// TTL (seenTTL) and merged frames (coalesce.go) that took CPU per
	// block from 4.1 s to 2.9-3.5 s in in-process runs (the TTL and
	// gossip part alone: about 12%).
	gp.GossipFactor = 0
	gp.HeartbeatInterval = n.cfg.Gossip.HeartbeatInterval
	if gp.HeartbeatInitialDelay > gp.HeartbeatInterval {
		gp.HeartbeatInitialDelay = gp.HeartbeatInterval / 2
	}
	gp.DirectConnectInitialDelay = min(gp.DirectConnectInitialDelay, 2*gp.HeartbeatInterval)
	// Keep the mcache windows at their default duration.
	scale := float64(pubsub.GossipSubHeartbeatInterval) / float64(gp.HeartbeatInterval)
	if scale > 1 {
		gp.HistoryLength = int(float64(gp.HistoryLength) * scale)
		gp.DirectConnectTicks = uint64(float64(gp.DirectConnectTicks) * scale)
		gp.OpportunisticGraftTicks = uint64(float64(gp.OpportunisticGraftTicks) * scale)
	}
	gp.HistoryGossip = min(gp.HistoryLength, max(1, int(gossipHistory/gp.HeartbeatInterval)))
	params, thresholds := n.scoreParams()
	tr := &tracer{m: n.m, topics: make(map[string]Kind, numKinds)}
	n.tracer = tr
	for _, k := range Kinds {
		tr.topics[TopicName(n.cfg.Genesis, k)] = k
	}
	q := n.cfg.Gossip.QueueSize
	opts := []pubsub.Option{
		pubsub.WithGossipSubParams(gp),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(MessageID),
		pubsub.WithSeenMessagesTTL(seenTTL),
		pubsub.WithPeerExchange(n.cfg.Gossip.PeerExchange),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(n.setScoreSnapshots), n.cfg.Gossip.ScoreInspectInterval),
		pubsub.WithValidateQueueSize(q),
		pubsub.WithPeerOutboundQueueSize(q),
		pubsub.WithMaxMessageSize(n.cfg.Limits.maxFrame()),
		pubsub.WithRawTracer(tr),
		pubsub.WithSubscriptionFilter(pubsub.WrapLimitSubscriptionFilter(
			pubsub.NewAllowlistSubscriptionFilter(allTopics(n.cfg.Genesis)...), 64)),
	}
	if len(direct) > 0 {
		opts = append(opts, pubsub.WithDirectPeers(direct))
	}
	ps, err := pubsub.NewGossipSub(n.ctx, guardedHost{Host: n.host, g: n.frames}, opts...)
	if err != nil {
		return fmt.Errorf("p2p: gossipsub: %w", err)
	}
	n.ps = ps
	for _, k := range Kinds {
		name := TopicName(n.cfg.Genesis, k)
		// No pubsub.WithValidatorTimeout: it costs every message a
		// context and a runtime timer (3% of a Kusama-scale node's CPU),
		// and validation answers from memory but for the signature
		// batcher, whose queue keeps the deadline instead (stale).
		if err := ps.RegisterTopicValidator(name, n.vals.topicValidatorFor(k, n.vals.forKind(k))); err != nil {
			return fmt.Errorf("p2p: validator for %s: %w", name, err)
		}
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("p2p: join %s: %w", name, err)
		}
		n.topics[k] = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(q))
		if err != nil {
			return fmt.Errorf("p2p: subscribe %s: %w", name, err)
		}
		n.subs[k] = sub
	}
	return nil
}

func allTopics(genesis types.Hash) []string {
	out := make([]string, 0, numKinds)
	for _, k := range Kinds {
		out = append(out, TopicName(genesis, k))
	}
	return out
}

func (n *Node) setScoreSnapshots(snaps map[peer.ID]*pubsub.PeerScoreSnapshot) {
	m := make(map[peer.ID]float64, len(snaps))
	// The behaviour part of each score is the score without the stranger
	// floor that was in it when gossipsub took the snapshot, read from the
	// snapshot's own application score. Not from the admission state now:
	// gossipsub hands each inspection to a goroutine of its own, so under
	// load a snapshot arrives late (and two may swap), and a peer admitted
	// in between, judged by its old score minus its new (zero) floor, read
	// as graylisted. At Kusama scale one node banned an honest validator
	// that way a second after starting, for BanDuration, and with fewer
	// relays of parked bitfields (ParkConfig.ReplayRelays) the next author
	// missed ten of that validator's node's bitfields.
	behaviour := make(map[peer.ID]float64, len(snaps))
	for p, s := range snaps {
		m[p] = s.Score
		behaviour[p] = s.Score - snapshotFloor(s)
	}
	n.scoreMu.Lock()
	n.prevBehaviour, n.behaviour = n.behaviour, behaviour
	n.scores = m
	n.parts = snaps
	n.scoreMu.Unlock()
}

// snapshotFloor is the stranger floor in the score of snapshot s: there
// when its application score (admission.appScore: the floor plus a junk
// penalty, which a ban stops long before it is a fraction of the floor)
// has it.
func snapshotFloor(s *pubsub.PeerScoreSnapshot) float64 {
	if s.AppSpecificScore <= strangerScore/2 {
		return strangerScore * appSpecificWeight
	}
	return 0
}

// scoreParts describes what makes up p's last score, for the log line of
// a ban: the application part (stranger floor and junk), gossipsub's
// behaviour penalty (broken IWANT promises and the like) and the invalid
// deliveries per topic kind.
func (n *Node) scoreParts(p peer.ID) []any {
	n.scoreMu.RLock()
	s := n.parts[p]
	n.scoreMu.RUnlock()
	if s == nil {
		return nil
	}
	out := []any{"app", s.AppSpecificScore, "behaviour_penalty", s.BehaviourPenalty}
	for topic, t := range s.Topics {
		if t.InvalidMessageDeliveries > 0 {
			out = append(out, "invalid_"+n.tracer.kindName(topic), t.InvalidMessageDeliveries)
		}
	}
	return out
}

// PeerScore is the gossipsub score of p as of the last inspection
// (GossipConfig.ScoreInspectInterval); ok is false for a peer without one.
func (n *Node) PeerScore(p peer.ID) (score float64, ok bool) {
	n.scoreMu.RLock()
	defer n.scoreMu.RUnlock()
	score, ok = n.scores[p]
	return score, ok
}

// Thresholds are the node's peer-score thresholds.
func (n *Node) Thresholds() Thresholds {
	if n.cfg.Gossip.Thresholds != nil {
		return *n.cfg.Gossip.Thresholds
	}
	return DefaultThresholds()
}

// deliverLoop hands one topic's accepted messages to the sink (and the
// built-in author feed), using the value the validator decoded.
func (n *Node) deliverLoop(k Kind) {
	defer n.wg.Done()
	sub := n.subs[k]
	for {
		msg, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		n.deliver(k, msg.ValidatorData)
	}
}

func (n *Node) deliver(k Kind, v any) {
	sink := n.cfg.Sink
	var d ProvisionableData
	switch val := v.(type) {
	case *BitfieldMessage:
		if sink != nil {
			sink.Bitfield(val.RelayParent, &val.Bitfield)
		}
		d = ProvisionableData{Kind: KindBitfield, RelayParent: val.RelayParent, Bitfield: &val.Bitfield}
	case *BackedCandidateMessage:
		if sink != nil {
			sink.BackedCandidate(val.RelayParent, &val.Candidate)
		}
		d = ProvisionableData{Kind: KindBackedCandidate, RelayParent: val.RelayParent, Candidate: &val.Candidate}
	case *types.DisputeStatementSet:
		if sink != nil {
			sink.Dispute(val)
		}
		d = ProvisionableData{Kind: KindDispute, Dispute: val}
	case *types.MisbehaviorReport:
		if sink != nil {
			sink.Misbehavior(val)
		}
		d = ProvisionableData{Kind: KindMisbehavior, Misbehavior: val}
	case *BlockAnnouncement:
		if sink != nil {
			sink.Announcement(val)
		}
		return
	default:
		// Every delivered message went through our validator.
		log.Errorw("delivered message without decoded value", "topic", k, "type", fmt.Sprintf("%T", v))
		return
	}
	if n.hub != nil {
		n.hub.Add(d)
	}
}

// publish validates data locally (the validators run on our own messages
// too) and gossips it.
func (n *Node) publish(ctx context.Context, k Kind, v types.Encoder) error {
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	vd := &verdict{}
	err := n.topics[k].Publish(ctx, types.Encode(v), pubsub.WithValidatorData(vd))
	var ve pubsub.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve) && vd.result == Reject:
		return fmt.Errorf("p2p: publish %s: %w: %s", k, ErrPublishReject, vd.reason)
	case errors.As(err, &ve) && vd.result == Ignore:
		return fmt.Errorf("p2p: publish %s: %w: %s", k, ErrPublishIgnore, vd.reason)
	}
	return fmt.Errorf("p2p: publish %s: %w", k, err)
}

// PublishBitfield gossips a signed bitfield for relayParent.
func (n *Node) PublishBitfield(ctx context.Context, relayParent types.Hash, bf types.UncheckedSignedAvailabilityBitfield) error {
	return n.publish(ctx, KindBitfield, &BitfieldMessage{RelayParent: relayParent, Bitfield: bf})
}

// PublishBackedCandidate gossips a backed candidate (core index injected)
// for relayParent.
func (n *Node) PublishBackedCandidate(ctx context.Context, relayParent types.Hash, c *types.BackedCandidate) error {
	return n.publish(ctx, KindBackedCandidate, &BackedCandidateMessage{RelayParent: relayParent, Candidate: *c})
}

// PublishDispute gossips a dispute statement set.
func (n *Node) PublishDispute(ctx context.Context, set *types.DisputeStatementSet) error {
	return n.publish(ctx, KindDispute, set)
}

// PublishMisbehavior gossips a misbehaviour report.
func (n *Node) PublishMisbehavior(ctx context.Context, r *types.MisbehaviorReport) error {
	return n.publish(ctx, KindMisbehavior, r)
}

// PublishAnnouncement gossips a block announcement.
func (n *Node) PublishAnnouncement(ctx context.Context, a *BlockAnnouncement) error {
	return n.publish(ctx, KindAnnouncement, a)
}

// publishRaw gossips bytes on a topic as they are; local validation still
// runs.
func (n *Node) publishRaw(ctx context.Context, k Kind, data []byte) error {
	return n.publish(ctx, k, rawEncoder(data))
}

type rawEncoder []byte

func (r rawEncoder) Encode(w *codec.Writer) { w.Raw(r) }

// PruneRelayParent drops the per-relay-parent state (bitfield dedupe,
// built-in author feed) of a deactivated leaf. Call it on every leaf
// deactivation; a periodic sweep also drops state of relay parents the
// chain view no longer reports active.
func (n *Node) PruneRelayParent(rp types.Hash) {
	n.vals.dedupe.prune(rp)
	if n.hub != nil {
		n.hub.Prune(rp)
	}
}

func (n *Node) sweep() {
	for _, rp := range n.vals.dedupe.relayParents() {
		if _, ok := n.cfg.Chain.Leaf(rp); !ok {
			n.vals.dedupe.prune(rp)
		}
	}
	if n.hub != nil {
		for _, rp := range n.hub.relayParents() {
			if _, ok := n.cfg.Chain.Leaf(rp); !ok {
				n.hub.Prune(rp)
			}
		}
	}
}

func (n *Node) sweepLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.sweep()
		case <-n.ctx.Done():
			return
		}
	}
}

// keepConnected dials the bootnodes that are not connected, now and then
// every BootnodeRetry.
func (n *Node) keepConnected(bootnodes []peer.AddrInfo) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.BootnodeRetry)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		// Session validators seen with a record are redialled like
		// bootnodes: they are who the node needs to gossip with.
		targets := append(append([]peer.AddrInfo(nil), bootnodes...), n.adm.knownPeers()...)
		for _, ai := range targets {
			if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected || n.adm.banned(ai.ID) {
				continue
			}
			wg.Add(1)
			go func(ai peer.AddrInfo) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
				defer cancel()
				if err := n.host.Connect(ctx, ai); err != nil && n.ctx.Err() == nil {
					log.Debugw("bootnode dial failed", "peer", ai.ID, "err", err)
				}
			}(ai)
		}
		wg.Wait()
		for _, ai := range bootnodes {
			if ai.ID != n.host.ID() {
				n.checkBootnode(ai)
			}
		}
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// Connect dials a peer and keeps it in the peerstore.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	return n.host.Connect(ctx, ai)
}

// Host is the libp2p host (for builder clients and tests).
func (n *Node) Host() host.Host { return n.host }

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// AddrInfo is the node's peer ID and listen addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// P2PAddrs are the node's listen addresses ending in /p2p/<id>, as other
// nodes take them in Bootnodes or DirectPeers.
func (n *Node) P2PAddrs() []string {
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// TopicPeers are the peers known to be subscribed to a topic.
func (n *Node) TopicPeers(k Kind) []peer.ID { return n.topics[k].ListPeers() }

// MeshPeers are the peers in this node's gossipsub mesh for a topic: the
// ones it forwards every message to. A message relayed before a peer is
// grafted does not reach it through this node, so a network is ready to
// carry gossip once the meshes have formed (a heartbeat or two after
// connecting).
func (n *Node) MeshPeers(k Kind) []peer.ID { return n.tracer.meshPeers(k) }

// beginHandler registers a stream handler in flight; false once closing.
func (n *Node) beginHandler() bool {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if n.hclosed {
		return false
	}
	n.handlers.Add(1)
	return true
}

// Close stops the node: stream handlers answer "shutting down" and are
// waited for, as are Sink calls in progress; subscriptions and topics are
// closed and the host is shut down. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.host.RemoveStreamHandler(InherentProtocol(n.cfg.Genesis))
		n.host.RemoveStreamHandler(AuthorProtocol(n.cfg.Genesis))
		n.host.RemoveStreamHandler(ValidatorRecordProtocol(n.cfg.Genesis))
		n.host.Network().StopNotify(n.notifiee)
		n.hmu.Lock()
		n.hclosed = true
		n.hmu.Unlock()
		n.cancel()
		if n.hub != nil {
			n.hub.Close()
		}
		n.handlers.Wait()
		for _, s := range n.subs {
			if s != nil {
				s.Cancel()
			}
		}
		n.wg.Wait()
		if n.vals.batch != nil {
			n.vals.batch.stop()
		}
		for _, t := range n.topics {
			if t != nil {
				_ = t.Close()
			}
		}
		var errs []error
		if err := n.host.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := n.cm.Close(); err != nil {
			errs = append(errs, err)
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// kindName names the kind of a topic of this network, or "other".
func (t *tracer) kindName(topic string) string {
	if k, ok := t.topics[topic]; ok {
		return k.String()
	}
	return "other"
}
