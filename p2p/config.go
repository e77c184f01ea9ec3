package p2p

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
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

// DefaultLimits: bitfields near Polkadot's 100 KiB notification cap, backed
// candidates large enough for head data and a code upgrade (a few MiB),
// dispute sets large enough for every validator of a big session.
func DefaultLimits() Limits {
	return Limits{
		Bitfield: codec.Limits{MaxMessageSize: 100 << 10, MaxBitfieldBits: 1 << 16, MaxItems: 1},
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
	// (default 1 s).
	ScoreInspectInterval time.Duration
	// Thresholds overrides the score thresholds (default DefaultThresholds).
	Thresholds *Thresholds
	// InvalidMessageWeight is the per-topic weight of invalid (rejected)
	// message deliveries, a negative number; the penalty grows with the
	// square of the count (default -10: a peer with no credit is graylisted
	// after 3 rejected messages, one with full credit after 4).
	InvalidMessageWeight float64
}

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

	// SessionKey is this node's validator identity: when set, the node
	// answers the validator-record protocol with a record signed by it.
	// Every node asks each new peer for its record and checks it against
	// Chain.SessionValidators; see record.go.
	SessionKey *SessionKey
	// RecordTimeout bounds one validator-record exchange (default 5 s).
	RecordTimeout time.Duration
	// BootnodeWarnAfter is how long a bootnode may stay unreachable before
	// a warning is logged (default 30 s).
	BootnodeWarnAfter time.Duration

	Limits   Limits // zero value: DefaultLimits
	Gossip   GossipConfig
	Inherent InherentServerConfig
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
	defD(&c.Gossip.ScoreInspectInterval, time.Second)
	if c.Gossip.InvalidMessageWeight >= 0 {
		c.Gossip.InvalidMessageWeight = -10
	}
	def(&c.Inherent.MaxPerPeer, 4)
	defD(&c.Inherent.DefaultHold, 2*time.Second)
	defD(&c.Inherent.MaxHold, 10*time.Second)
	defD(&c.Inherent.ReadTimeout, 5*time.Second)
	defD(&c.Inherent.WriteTimeout, 10*time.Second)
	def(&c.Inherent.MaxAuthorHistory, 1<<16)
	return nil
}
