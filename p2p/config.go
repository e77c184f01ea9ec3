package p2p

import (
	"errors"
	"fmt"
	libp2pmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Limits are the decode limits of each topic. A message over its topic's
// MaxMessageSize is rejected before decoding.
type Limits struct {
	Bitfield     codec.Limits
	Backed       codec.Limits
	Dispute      codec.Limits
	Misbehavior  codec.Limits
	Announcement codec.Limits
	// AnnouncementBody caps the opaque body of a block announcement.
	AnnouncementBody int
}

// DefaultLimits: bitfields of a few KiB (a relay parent, one bit per core
// for up to 16,384 cores, an index and a signature: 2,150 bytes at most, so
// 4 KiB leaves room), backed candidates large enough for head data and a
// code upgrade (a few MiB), dispute sets large enough for every validator
// of a big session.
func DefaultLimits() Limits {
	return Limits{
		Bitfield: codec.Limits{MaxMessageSize: 4 << 10, MaxBitfieldBits: 1 << 14, MaxItems: 1},
		Backed: codec.Limits{MaxMessageSize: 4 << 20, MaxBitfieldBits: 1024, MaxVotes: 1024,
			MaxItems: 1 << 14},
		Dispute:      codec.Limits{MaxMessageSize: 2 << 20, MaxStatements: 20_000, MaxItems: 1024},
		Misbehavior:  codec.Limits{MaxMessageSize: 64 << 10, MaxItems: 1024},
		Announcement: codec.Limits{MaxMessageSize: 1<<20 + 64<<10, MaxDigestItems: 256, MaxItems: 1024},
		// The header's digest fits in the 64 KiB of slack above.
		AnnouncementBody: 1 << 20,
	}
}

func (l *Limits) forKind(k Kind) codec.Limits {
	switch k {
	case KindBitfield:
		return l.Bitfield
	case KindBackedCandidate:
		return l.Backed
	case KindDispute:
		return l.Dispute
	case KindMisbehavior:
		return l.Misbehavior
	}
	return l.Announcement
}

func (l *Limits) maxMessage() int {
	m := 0
	for _, k := range Kinds {
		m = max(m, l.forKind(k).MaxMessageSize)
	}
	return m
}

// frameSlack is the room a gossip RPC frame needs around its largest
// message: the protobuf envelope (topic name, message id fields, control
// entries that gossipsub piggybacks). A max-size message is sent alone.
const frameSlack = 4 << 10

// maxFrame is the largest gossip frame the node reads: the largest
// topic's need, not more (every byte of it can be claimed by a frame
// header before the body arrives).
func (l *Limits) maxFrame() int { return l.maxMessage() + frameSlack }

// GossipConfig tunes gossipsub. Zero fields take the defaults.
type GossipConfig struct {
	// HeartbeatInterval of the gossipsub router (default 700 ms; tests use
	// ~50-100 ms so meshes form quickly).
	HeartbeatInterval time.Duration
	// PeerExchange enables gossipsub peer exchange on prune. Off by default:
	// a network is named by its bootnodes and direct peers.
	PeerExchange bool
	// QueueSize is the validation queue, per-peer outbound queue and
	// subscription buffer size (default 4096, enough for a burst of
	// bitfields from 1,000 validators, where the library default is 32).
	QueueSize int
	// ScoreInspectInterval is how often PeerScore's snapshot is refreshed
	// (default 100 ms: a misbehaving peer is banned after two snapshots
	// below the graylist, so this bounds how fast junk is cut off; at 250
	// ms a bad validator's garbage took up to 1.1 s from its first message
	// to its ban on a loaded machine).
	ScoreInspectInterval time.Duration
	// Thresholds overrides the score thresholds (default DefaultThresholds).
	Thresholds *Thresholds
	// InvalidMessageWeight is the per-topic weight of invalid (rejected)
	// message deliveries, a negative number; the penalty grows with the
	// square of the count (default -10: a peer with no credit is graylisted
	// after 3 rejected messages, one with full credit after 4).
	InvalidMessageWeight float64
	// BatchVerify checks the signatures of gossiped bitfields and backed
	// candidates in batches (batcher.go): 1.3 to 1.5 times the
	// throughput of single checks under a burst, for a wait of at most
	// BatchWait. On by default.
	BatchVerify BatchVerifyMode
	// BatchMax caps the signatures of one batch (default 512: the batch
	// equation costs 10-15% less per signature than at 256, and a burst's
	// last batch is shared out among the workers anyway); BatchWait is
	// how long a batch may wait for more after its first request when
	// others are queued or on their way (default 3 ms). A lone request is
	// verified at once.
	BatchMax  int
	BatchWait time.Duration
}

// Defaults of GossipConfig.BatchMax and BatchWait, tuned with
// BenchmarkBitfieldBurstVsRaw.
const (
	defaultBatchMax  = 512
	defaultBatchWait = 3 * time.Millisecond
)

// BatchVerifyMode turns batched signature verification on or off; the
// zero value is the default, on.
type BatchVerifyMode int8

const (
	BatchVerifyDefault BatchVerifyMode = iota // on
	BatchVerifyOn
	BatchVerifyOff
)

// Thresholds are the gossipsub peer-score thresholds.
type Thresholds struct {
	Gossip, Publish, Graylist, AcceptPX, OpportunisticGraft float64
}

// DefaultThresholds: a peer below Graylist has all its RPCs ignored.
func DefaultThresholds() Thresholds {
	return Thresholds{Gossip: -20, Publish: -40, Graylist: -80, AcceptPX: 20, OpportunisticGraft: 5}
}

// InherentServerConfig tunes the inherent and author protocols.
type InherentServerConfig struct {
	// MaxPerPeer caps concurrent inherent requests (and, separately,
	// author streams) per peer (default 4).
	MaxPerPeer int
	// DefaultHold is how long a request without a timeout is held
	// (default 2 s, Polkadot's PRE_PROPOSE).
	DefaultHold time.Duration
	// MaxHold caps the timeout a client may ask for (default 10 s).
	MaxHold time.Duration
	// ReadTimeout bounds reading a request (default 5 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response or frame (default 10 s).
	WriteTimeout time.Duration
	// MaxAuthorHistory caps the items the built-in author feed keeps per
	// relay parent (default 65,536); later ones are dropped and counted.
	MaxAuthorHistory int
	// MaxConcurrent caps inherent requests (and, separately, author
	// streams) in flight over all peers (default 64): the provisioner
	// holds each request until PRE_PROPOSE, so without a global cap a few
	// allowed peers could still pile up held requests.
	MaxConcurrent int
	// RatePerSecond and RateBurst bound how often one peer may start a
	// request or stream (defaults 10/s and 20): a block builder asks once
	// or twice a slot, so more is a bug or an attack; the excess is
	// answered busy.
	RatePerSecond float64
	RateBurst     int
}

// AdmissionConfig tunes who may use the node (admission.go).
type AdmissionConfig struct {
	// RequireRecords closes gossip to everyone but session validators
	// with a verified record and TrustedPeers/DirectPeers, and puts every
	// other inbound peer under the stranger quotas. Off, the network is
	// open (tests, development networks); bans and junk costs apply either
	// way. The node command and the testnet turn it on.
	RequireRecords bool
	// MaxStrangers caps connected peers that are neither session
	// validators (by a verified record), trusted, builders, bootnodes nor
	// direct peers (default 8). A stranger gets no gossip and no inherent.
	MaxStrangers int
	// MaxPending caps inbound peers whose record exchange is still running
	// (default 64, more than a burst of validators connecting at once).
	MaxPending int
	// BanDuration is how long a peer graylisted for its behaviour stays
	// disconnected and refused (default 10 min).
	BanDuration time.Duration
	// JunkGrace is how many junk messages (see junk.go) a peer may send
	// within a half-life before they cost score (default 16): honest
	// peers produce a few at leaf changes.
	JunkGrace float64
	// JunkWeight is the score cost of each junk message past the grace
	// (default -2, so 40 junk messages past the grace reach the default
	// graylist threshold of -80).
	JunkWeight float64
	// JunkHalfLife is the half-life of a peer's junk count (default 1 min).
	JunkHalfLife time.Duration
	// MaxPeersPerValidator caps the connected peer ids one validator
	// record may admit (default 4): a validator key is not a sybil factory.
	MaxPeersPerValidator int
}

// ParkConfig tunes the buffer of messages whose leaf is not known yet
// (parking.go).
type ParkConfig struct {
	// Window is how long a message waits for its leaf before it is
	// dropped (and counted as junk against its sender); default 2 s.
	Window time.Duration
	// PerPeer and PerPeerBytes bound one peer's parked messages (defaults
	// 32 and 256 KiB, or two messages and 1 KiB per validator of the
	// current set when that is more: a relay may forward every validator's
	// messages); Total bounds everyone's bytes (default 16 MiB).
	PerPeer      int
	PerPeerBytes int
	TotalBytes   int
	// ReplayRelays is about how many of the nodes that park a bitfield
	// flood it on once they have replayed and accepted it (default 3;
	// negative: every one of them). gossipsub can only send a replay on as
	// this node's own, flooded to every peer, and some relaying is what
	// keeps a leaf's earliest messages moving: the block author imports
	// its block first, so where validators sign on import every other
	// node parks its bitfields, and if none relays them they reach a peer
	// only straight from the author. In the attack suite (10 nodes, 1 s
	// slots) no relaying lost the previous author's bitfield at the next
	// author in 4 of 30 runs (one failed its inclusion check), against
	// none in 20 with every node relaying. But every node relaying costs:
	// at Kusama scale (20 nodes, 1,000 validators, in one process) a node
	// parked 167 of a leaf's 1,100 messages on average, and relaying them
	// all tripled the flooded copies and cost a sixth of the CPU (a tenth
	// with a process per node). So each node relays a bitfield's replay
	// with probability ReplayRelays divided by its admitted peers on the
	// topic, drawn from a hash of its own id and the message: the nodes
	// draw independently, and a node's relays spread over the messages
	// (relaysReplay).
	//
	// A backed candidate's replay is flooded on by every node that parked
	// it: there are a tenth as many, and a lost one costs its para a
	// block (with three relays, an early block's author in the attack
	// suite's sybil-join runs missed three of five).
	ReplayRelays int
	// ReplayLocally delivers an accepted replayed message without sending
	// it on (ReplayRelays 0 in effect): for a network where every node is
	// sure to hear every origin directly.
	ReplayLocally bool
}

// defaultReplayRelays is ParkConfig.ReplayRelays's default.
const defaultReplayRelays = 3

// FrameConfig bounds inbound gossip frames (framestream.go).
type FrameConfig struct {
	// Timeout is how long one frame may take to arrive once its first
	// byte is in, plus one second per MinRate bytes (defaults 2 s and
	// 1 MiB/s): a peer that starts a frame and stalls holds its buffer
	// no longer than that.
	Timeout time.Duration
	MinRate int
	// StrangerMax caps a frame from a peer that is not admitted (default
	// 64 KiB: enough for subscriptions, which is all a stranger may send).
	StrangerMax int
	// PerPeerBytes and TotalBytes bound frame bytes in flight per peer
	// and over all peers (defaults: the largest frame plus 1 MiB, and
	// 64 MiB).
	PerPeerBytes int
	TotalBytes   int
}

// Config configures a Node. Genesis and Chain are required.
type Config struct {
	// Genesis names the network: topics and protocols carry its hex.
	Genesis types.Hash

	// BasePath is the node's base directory; the network identity key is
	// created once and kept in <BasePath>/network/secret_ed25519. Empty
	// means an ephemeral key (unless PrivateKey is set).
	BasePath string
	// PrivateKey overrides the identity key of BasePath.
	PrivateKey crypto.PrivKey

	// ListenAddrs are multiaddrs to listen on (default TCP and QUIC on
	// port 30333 of every interface). Use /ip4/127.0.0.1/tcp/0 and
	// /ip4/127.0.0.1/udp/0/quic-v1 for tests.
	ListenAddrs []string
	// Host, when set, is the libp2p host the node runs on instead of one
	// it builds: a mocknet host of an emulated network (the testnet's
	// --latency and --bandwidth), whose links carry the delays. The node
	// takes it over: Close closes it, and so does New when it fails. The
	// host's identity is the node's; PrivateKey, BasePath's key and
	// ListenAddrs are not used for it, and LibP2PMetrics is not wired.
	//
	// The node's own host has a connection gater, a resource manager and
	// a connection manager sized by this Config; a supplied host keeps
	// its own (a mocknet host has none of the three: no gater hook, an
	// unlimited resource manager, a connection manager that never trims),
	// and the node protects peers in whatever manager it has. Admission
	// still holds at the gossip layer: strangers get the application
	// score floor (no gossip, no mesh, no IHAVE), builder protocols check
	// BuilderPeers per stream, and graylisted peers are banned and
	// disconnected. What is lost is refusal at connection time: banned
	// peers may reconnect (and are disconnected again at the next score
	// inspection), the stranger quotas (MaxStrangers, MaxPending) do not
	// bound connections, and the per-peer memory and stream limits are
	// gone. Streams of a mocknet host also ignore deadlines, so the read
	// timeouts of records, requests and frames do not bound a peer that
	// stalls: emulate honest networks with it, not hostile ones.
	Host host.Host
	// Bootnodes are multiaddrs ending in /p2p/<peer id>; the node keeps
	// trying to stay connected to them.
	Bootnodes []string
	// DirectPeers are multiaddrs ending in /p2p/<peer id>: gossipsub
	// always forwards to them and keeps them connected.
	DirectPeers []string
	// Connection manager watermarks (default 64/128) and grace period
	// (default 20 s).
	ConnLow, ConnHigh int
	ConnGrace         time.Duration
	// BootnodeRetry is the interval of reconnection attempts (default 5 s).
	BootnodeRetry time.Duration
	// SweepInterval is how often per-relay-parent state of leaves that are
	// no longer active is dropped, in case PruneRelayParent is not called
	// (default 6 s).
	SweepInterval time.Duration

	// Chain is the relay-chain view of topic validation. Required.
	Chain ChainView
	// Sink receives validated gossip; nil discards it.
	Sink Sink
	// Inherents answers inherent requests; nil leaves the inherent
	// protocol unregistered.
	Inherents InherentProvider
	// AuthorFeed serves the author stream; nil uses a built-in feed of
	// what this node's gossip delivers, pruned with PruneRelayParent.
	AuthorFeed AuthorFeed
	// AnnouncementValidator judges the body (and header) of a block
	// announcement: nil accepts, an error wrapping ErrIgnore ignores, any
	// other error rejects. nil accepts every well-formed announcement.
	AnnouncementValidator func(*BlockAnnouncement) error
	// ValidationHook, when set, observes every validation outcome.
	// It runs on the validation path: keep it cheap.
	ValidationHook func(ValidationEvent)

	// Registerer receives the node's Prometheus metrics; nil registers them
	// nowhere. Several nodes on one Registerer share the counters (wrap it
	// with prometheus.WrapRegistererWith to tell them apart).
	Registerer prometheus.Registerer
	// LibP2PMetrics, when set, turns libp2p's own metrics on (resource
	// manager, identify, swarm, gossip transports) and registers them
	// there. libp2p keeps these collectors in package variables, so they
	// count every host of the process: set it for one node per process
	// only (the provisioner node command), never for in-process testnets.
	LibP2PMetrics prometheus.Registerer
	// BandwidthReporter, when set, hears the bytes of every libp2p stream
	// (libp2p.BandwidthReporter); testnet.ByteCounter exports them.
	BandwidthReporter libp2pmetrics.Reporter

	// SessionKey is this node's validator identity: when set, the node
	// answers the validator-record protocol with a record signed by it.
	// Every node asks each new peer for its record and checks it against
	// Chain.SessionValidators; see record.go.
	SessionKey *SessionKey
	// SessionKeys are further validator identities of a node that hosts
	// several validators (all of one session, at most MaxRecordIndices
	// with SessionKey): the node proves each of them in a record set, and
	// a peer counts it as a validator if any verifies.
	SessionKeys []*SessionKey
	// RecordTimeout bounds one validator-record exchange (default 5 s).
	RecordTimeout time.Duration
	// BootnodeWarnAfter is how long a bootnode may stay unreachable before
	// a warning is logged (default 30 s).
	BootnodeWarnAfter time.Duration

	// TrustedPeers are admitted to gossip as validators are, without a
	// record (an observer that follows the chain, a sentry).
	TrustedPeers []peer.ID
	// BuilderPeers alone may use the inherent and author protocols (the
	// node's own block builders). nil serves any peer, for tests and
	// closed networks; the node command always sets it.
	BuilderPeers []peer.ID
	// ValidatorSetSize sizes the resource manager's limits (default 1000,
	// Polkadot's order of magnitude).
	ValidatorSetSize int
	// ValidateTimeout is how long a signature check may wait in the
	// batcher's queue: one that waited longer is dropped unchecked and
	// its message ignored (verify_timeout). It also bounds a parked
	// message's replay (default 2 s). Validation otherwise answers from
	// memory, with no timer per message.
	ValidateTimeout time.Duration

	Limits    Limits // zero value: DefaultLimits
	Gossip    GossipConfig
	Inherent  InherentServerConfig
	Admission AdmissionConfig
	Park      ParkConfig
	Frames    FrameConfig
}

func (c *Config) setDefaults() error {
	if c.Chain == nil {
		return errors.New("p2p: Config.Chain is required")
	}
	if c.Genesis.IsZero() {
		return errors.New("p2p: Config.Genesis is required")
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/30333", "/ip4/0.0.0.0/udp/30333/quic-v1"}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.ConnLow, 64)
	def(&c.ConnHigh, 128)
	if c.ConnHigh < c.ConnLow {
		return fmt.Errorf("p2p: ConnHigh %d below ConnLow %d", c.ConnHigh, c.ConnLow)
	}
	defD(&c.ConnGrace, 20*time.Second)
	defD(&c.BootnodeRetry, 5*time.Second)
	defD(&c.SweepInterval, 6*time.Second)
	defD(&c.RecordTimeout, 5*time.Second)
	defD(&c.BootnodeWarnAfter, 30*time.Second)
	defD(&c.Gossip.HeartbeatInterval, 700*time.Millisecond)
	def(&c.Gossip.QueueSize, 4096)
	defD(&c.Gossip.ScoreInspectInterval, 100*time.Millisecond)
	if c.Gossip.InvalidMessageWeight >= 0 {
		c.Gossip.InvalidMessageWeight = -10
	}
	def(&c.Gossip.BatchMax, defaultBatchMax)
	defD(&c.Gossip.BatchWait, defaultBatchWait)
	def(&c.Inherent.MaxPerPeer, 4)
	defD(&c.Inherent.DefaultHold, 2*time.Second)
	defD(&c.Inherent.MaxHold, 10*time.Second)
	// A request is at most 64 bytes: a peer that takes longer than this
	// to send it is stalling, not slow.
	defD(&c.Inherent.ReadTimeout, 1500*time.Millisecond)
	defD(&c.Inherent.WriteTimeout, 10*time.Second)
	def(&c.Inherent.MaxAuthorHistory, 1<<16)
	def(&c.Inherent.MaxConcurrent, 64)
	if c.Inherent.RatePerSecond <= 0 {
		c.Inherent.RatePerSecond = 10
	}
	def(&c.Inherent.RateBurst, 20)
	def(&c.ValidatorSetSize, 1000)
	if err := checkSessionKeys(c.sessionKeys()); err != nil {
		return fmt.Errorf("p2p: %w", err)
	}
	defD(&c.ValidateTimeout, 2*time.Second)
	def(&c.Admission.MaxStrangers, 8)
	def(&c.Admission.MaxPending, 64)
	defD(&c.Admission.BanDuration, 10*time.Minute)
	if c.Admission.JunkGrace <= 0 {
		c.Admission.JunkGrace = 16
	}
	if c.Admission.JunkWeight >= 0 {
		c.Admission.JunkWeight = -2
	}
	defD(&c.Admission.JunkHalfLife, time.Minute)
	def(&c.Admission.MaxPeersPerValidator, 4)
	defD(&c.Park.Window, 2*time.Second)
	def(&c.Park.PerPeer, 32)
	def(&c.Park.PerPeerBytes, 256<<10)
	def(&c.Park.TotalBytes, 16<<20)
	if c.Park.ReplayRelays == 0 {
		c.Park.ReplayRelays = defaultReplayRelays
	}
	defD(&c.Frames.Timeout, 2*time.Second)
	def(&c.Frames.MinRate, 1<<20)
	def(&c.Frames.StrangerMax, 64<<10)
	def(&c.Frames.PerPeerBytes, c.Limits.maxFrame()+1<<20)
	def(&c.Frames.TotalBytes, 64<<20)
	return nil
}
