package p2p

import (
	"errors"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// Drop places counted in provisioner_p2p_dropped_total{queue}.
const (
	DropOutboundRPC     = "outbound_rpc"     // a peer's outbound queue was full
	DropValidationQueue = "validation_queue" // the validation queue was full
	DropValidationLimit = "validation_throttled"
	DropSubscriber      = "subscriber"     // the sink fell behind
	DropAuthorHistory   = "author_history" // built-in author feed full
)

type metrics struct {
	results  *prometheus.CounterVec // topic, result
	rejected *prometheus.CounterVec // topic, reason
	ignored  *prometheus.CounterVec // topic, reason
	dropped  *prometheus.CounterVec // queue
	inherent *prometheus.CounterVec // code
	author   *prometheus.CounterVec // code (end of stream)
	records  *prometheus.CounterVec // result
	// genesisMismatch counts identified peers on another network.
	genesisMismatch prometheus.Counter
	parked          *prometheus.CounterVec // result
	frames          *prometheus.CounterVec // reason
	admission       *prometheus.CounterVec // event
	unauthorized    prometheus.Counter

	// Batched signature verification (batcher.go).
	batchSize   prometheus.Histogram // signatures per batch a worker verified
	batchFailed prometheus.Counter   // batches whose equation failed
	queueWait   prometheus.Histogram // enqueue to pick-up by a worker
	sigTimeouts prometheus.Counter   // checks dropped as stale, or validators that stopped waiting
	sigInline   [numInlineCauses]prometheus.Counter

	// Pre-resolved children for the hot path.
	accepted [numKinds]prometheus.Counter
}

// Causes of verifying a gossip message's signatures on its validator's
// own goroutine instead of in a batch
// (provisioner_p2p_sig_inline_total{cause}).
const (
	inlineFull     = iota // the batch queue was full
	inlineSuspect         // the sender recently sent a bad signature
	inlineStopped         // the batcher has stopped (node closing)
	inlineDisabled        // GossipConfig.BatchVerify is off
	numInlineCauses
)

var inlineCauseNames = [numInlineCauses]string{"full", "suspect", "stopped", "disabled"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_gossip_messages_total",
			Help: "Gossip messages validated, by topic and result (accept, reject, ignore).",
		}, []string{"topic", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_gossip_rejected_total",
			Help: "Gossip messages rejected (the sender is penalised), by topic and reason.",
		}, []string{"topic", "reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_gossip_ignored_total",
			Help: "Gossip messages ignored (no penalty), by topic and reason.",
		}, []string{"topic", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_dropped_total",
			Help: "Messages dropped because a queue was full, by queue.",
		}, []string{"queue"}),
		inherent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_inherent_requests_total",
			Help: "Inherent requests served, by response code.",
		}, []string{"code"}),
		author: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_author_streams_total",
			Help: "Author streams ended, by code.",
		}, []string{"code"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_p2p_validator_records_total",
			Help: "Validator-record exchanges with new peers, by result (verified, none, malformed, peer_id, unknown_session, unknown_validator, bad_signature, failed).",
		}, []string{"result"}),
	}
	m.parked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_parked_total",
		Help: "Gossip messages for a leaf not known yet, by fate (parked, full, unknown_leaves, replayed, rejected, ignored, expired; and relayed: of the replayed, those this node flooded on).",
	}, []string{"result"})
	m.frames = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_frames_refused_total",
		Help: "Inbound gossip streams reset for a frame, by reason (oversize, budget, stalled, prefix).",
	}, []string{"reason"})
	m.admission = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_admission_total",
		Help: "Admission events, by event (banned, evicted, validator_quota).",
	}, []string{"event"})
	unauthorized := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_builder_unauthorized_total",
		Help: "Inherent requests and author streams refused to peers that are not the node's builders.",
	}, nil)
	genesisMismatch := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_genesis_mismatch_total",
		Help: "Peers identified as running this protocol on another network (another genesis).",
	}, nil)
	batchSize := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "provisioner_p2p_sig_batch_size",
		Help: "Signatures verified together by a batch worker (1: a lone request, verified at once).",
		// Powers of two up to twice the default GossipConfig.BatchMax (a
		// backed candidate with many votes is never split).
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	batchFailed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "provisioner_p2p_sig_batch_failed_total",
		Help: "Signature batches with a bad signature, whose items were then checked one by one.",
	})
	queueWait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "provisioner_p2p_sig_queue_wait_seconds",
		Help: "Time a signature request waited in the batch queue before a worker took it.",
		// 10 us to about 80 ms: the batch wait is a few ms.
		Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14),
	})
	sigTimeouts := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "provisioner_p2p_sig_verify_timeouts_total",
		Help: "Gossip messages ignored because their batched signature check waited in the queue past the validation timeout (dropped unchecked) or their validation ended first.",
	})
	sigInline := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_p2p_sig_inline_total",
		Help: "Gossip signature checks done by the validator itself instead of a batch, by cause (full, suspect, stopped, disabled).",
	}, []string{"cause"})
	if reg != nil {
		m.results = register(reg, m.results)
		m.rejected = register(reg, m.rejected)
		m.ignored = register(reg, m.ignored)
		m.dropped = register(reg, m.dropped)
		m.inherent = register(reg, m.inherent)
		m.author = register(reg, m.author)
		m.records = register(reg, m.records)
		genesisMismatch = register(reg, genesisMismatch)
		m.parked = register(reg, m.parked)
		m.frames = register(reg, m.frames)
		m.admission = register(reg, m.admission)
		unauthorized = register(reg, unauthorized)
		batchSize = registerAs(reg, batchSize)
		batchFailed = registerAs(reg, batchFailed)
		queueWait = registerAs(reg, queueWait)
		sigTimeouts = registerAs(reg, sigTimeouts)
		sigInline = register(reg, sigInline)
	}
	m.batchSize, m.batchFailed, m.queueWait, m.sigTimeouts = batchSize, batchFailed, queueWait, sigTimeouts
	for c, name := range inlineCauseNames {
		m.sigInline[c] = sigInline.WithLabelValues(name)
	}
	m.genesisMismatch = genesisMismatch.WithLabelValues()
	m.unauthorized = unauthorized.WithLabelValues()
	for _, k := range Kinds {
		m.accepted[k] = m.results.WithLabelValues(k.String(), "accept")
	}
	m.precreate()
	return m
}

// decodeReasons can reject a message of any topic.
var decodeReasons = []string{ReasonDecode, ReasonOversize, ReasonLimit, ReasonNonCanonical, ReasonTrailingBytes}

// topicReasons are the reasons each topic's validator rejects and ignores
// with (validate.go), besides decodeReasons. Series for all of them exist
// from the start at 0, so dashboards and rate() see a rejection's first
// occurrence instead of a series appearing out of nothing.
var topicReasons = [numKinds]struct{ reject, ignore []string }{
	KindBitfield: {
		reject: []string{ReasonValidatorIndex, ReasonBitfieldLength, ReasonBadSignature},
		ignore: []string{ReasonNotActiveLeaf, ReasonDuplicate, ReasonSecondBitfield, ReasonVerifyTimeout},
	},
	KindBackedCandidate: {
		reject: []string{ReasonCoreIndex, ReasonSession, ReasonDescriptorVersion, ReasonNotEnoughVotes,
			ReasonValidatorIndex, ReasonBadSignature, ReasonVotesMismatch},
		ignore: []string{ReasonNotActiveLeaf, ReasonRelayParent, ReasonUnknownGroup, ReasonVerifyTimeout},
	},
	KindDispute: {
		reject: []string{ReasonEmpty, ReasonValidatorIndex, ReasonBadSignature},
		ignore: []string{ReasonUnknownSession},
	},
	KindMisbehavior: {
		reject: []string{ReasonNotContradictory, ReasonValidatorIndex, ReasonBadSignature},
		ignore: []string{ReasonUnknownSession},
	},
	KindAnnouncement: {
		reject: []string{ReasonAnnouncement},
		ignore: []string{ReasonAnnouncementIgnore},
	},
}

// inherentCodes are the codes an inherent request or author stream ends
// with.
var inherentCodes = []ErrorCode{CodeOK, CodeUnknownLeaf, CodeNotReady, CodeShuttingDown, CodeMalformed,
	CodeBusy, CodeInternal, CodeLeafEnded}

// precreate makes every known label combination exist at 0.
func (m *metrics) precreate() {
	for _, k := range Kinds {
		for _, r := range []string{"accept", "reject", "ignore"} {
			m.results.WithLabelValues(k.String(), r)
		}
		for _, r := range decodeReasons {
			m.rejected.WithLabelValues(k.String(), r)
		}
		for _, r := range topicReasons[k].reject {
			m.rejected.WithLabelValues(k.String(), r)
		}
		for _, r := range topicReasons[k].ignore {
			m.ignored.WithLabelValues(k.String(), r)
		}
	}
	for _, q := range []string{DropOutboundRPC, DropValidationQueue, DropValidationLimit, DropSubscriber, DropAuthorHistory} {
		m.dropped.WithLabelValues(q)
	}
	for _, c := range inherentCodes {
		m.inherent.WithLabelValues(c.String())
		m.author.WithLabelValues(c.String())
	}
	for _, r := range RecordResults {
		m.records.WithLabelValues(r)
	}
	for _, r := range []string{"parked", "full", "replayed", "relayed", "rejected", "ignored", "expired", "unknown_leaves"} {
		m.parked.WithLabelValues(r)
	}
	for _, r := range []string{"oversize", "budget", "stalled", "prefix"} {
		m.frames.WithLabelValues(r)
	}
	for _, e := range []string{"banned", "evicted", "validator_quota"} {
		m.admission.WithLabelValues(e)
	}
}

// register registers c, or reuses the collector already registered under
// the same description (several nodes on one Registerer).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	return registerAs(reg, c)
}

// registerAs is register for any kind of collector.
func registerAs[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// tracer is the pubsub RawTracer that counts drops and rejects made by
// pubsub itself (not by our validators, which count their own).
// It also follows this node's mesh (GRAFT/PRUNE) per topic.
type tracer struct {
	m      *metrics
	topics map[string]Kind

	meshMu sync.Mutex
	mesh   [numKinds]map[peer.ID]struct{}

	drops dropLog
}

// dropLogEvery is how often a peer's dropped outbound RPCs are reported
// again while they go on.
const dropLogEvery = 10 * time.Second

// dropLog says at Warn whose outbound gossip queue overflowed: at a
// peer's first drop, then every dropLogEvery with the count since, and
// once more when its stream closes. A drop per line (Debug) floods the log
// under a peer that does not read; none at all left a node that dropped
// 15,000 RPCs to one peer of a Kusama-scale run saying nothing of which.
// Entries live as long as the peer's outbound stream, which the
// connection limits bound.
type dropLog struct {
	mu    sync.Mutex
	peers map[peer.ID]*dropCount
}

type dropCount struct {
	n     int       // drops not reported yet
	since time.Time // when the last report was made
}

// note counts one drop for p at now and says whether to report, and how
// many drops the report covers.
func (d *dropLog) note(p peer.ID, now time.Time) (report bool, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.peers[p]
	if c == nil {
		if d.peers == nil {
			d.peers = make(map[peer.ID]*dropCount)
		}
		d.peers[p] = &dropCount{since: now}
		return true, 1
	}
	c.n++
	if now.Sub(c.since) < dropLogEvery {
		return false, 0
	}
	n, c.n, c.since = c.n, 0, now
	return true, n
}

// closed forgets p and returns its unreported drops.
func (d *dropLog) closed(p peer.ID) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.peers[p]
	if c == nil {
		return 0
	}
	delete(d.peers, p)
	return c.n
}

func (t *tracer) meshPeers(k Kind) []peer.ID {
	t.meshMu.Lock()
	defer t.meshMu.Unlock()
	out := make([]peer.ID, 0, len(t.mesh[k]))
	for p := range t.mesh[k] {
		out = append(out, p)
	}
	return out
}

func (t *tracer) Graft(p peer.ID, topic string) {
	k, ok := t.topics[topic]
	if !ok {
		return
	}
	t.meshMu.Lock()
	if t.mesh[k] == nil {
		t.mesh[k] = make(map[peer.ID]struct{})
	}
	t.mesh[k][p] = struct{}{}
	t.meshMu.Unlock()
}

func (t *tracer) Prune(p peer.ID, topic string) {
	if k, ok := t.topics[topic]; ok {
		t.meshMu.Lock()
		delete(t.mesh[k], p)
		t.meshMu.Unlock()
	}
}

// OnClosedOutboundStream: the peer is gone, and with it from every mesh.
func (t *tracer) OnClosedOutboundStream(p peer.ID) {
	t.meshMu.Lock()
	for _, m := range t.mesh {
		delete(m, p)
	}
	t.meshMu.Unlock()
	if n := t.drops.closed(p); n > 0 {
		log.Warnw("outbound gossip RPCs dropped before the peer's stream closed: its queue was full", "peer", p, "dropped", n)
	}
}

var _ pubsub.RawTracer = (*tracer)(nil)

func (t *tracer) topicLabel(topic string) string {
	if k, ok := t.topics[topic]; ok {
		return k.String()
	}
	// Never a label from the wire: peers choose topic names.
	return "other"
}

func (t *tracer) RejectMessage(msg *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationFailed, pubsub.RejectValidationIgnored:
		// Counted by our validators with the precise reason.
	case pubsub.RejectValidationQueueFull:
		t.m.dropped.WithLabelValues(DropValidationQueue).Inc()
	case pubsub.RejectValidationThrottled:
		t.m.dropped.WithLabelValues(DropValidationLimit).Inc()
	default:
		// Signature policy, blacklists, self-origin.
		t.m.rejected.WithLabelValues(t.topicLabel(msg.GetTopic()), "pubsub: "+reason).Inc()
	}
}

func (t *tracer) DropRPC(_ *pubsub.RPC, p peer.ID) {
	t.m.dropped.WithLabelValues(DropOutboundRPC).Inc()
	if report, n := t.drops.note(p, time.Now()); report {
		log.Warnw("outbound gossip RPCs dropped: the peer's queue is full", "peer", p, "dropped", n)
	}
}

func (t *tracer) UndeliverableMessage(*pubsub.Message) {
	t.m.dropped.WithLabelValues(DropSubscriber).Inc()
}

func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *tracer) Join(string)                                          {}
func (t *tracer) Leave(string)                                         {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) DeliverMessage(*pubsub.Message)                       {}
func (t *tracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
