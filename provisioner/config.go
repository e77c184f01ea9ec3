package provisioner

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Defaults, Polkadot's where it has one.
const (
	// DefaultPrePropose is how long after a leaf's activation a request for
	// it is held so that bitfields can arrive (Polkadot's PRE_PROPOSE_TIMEOUT).
	DefaultPrePropose = 2 * time.Second
	// DefaultAssemblyTimeout bounds one assembly (Polkadot's
	// SEND_INHERENT_DATA_TIMEOUT).
	DefaultAssemblyTimeout = 500 * time.Millisecond
	// DefaultChainTimeout bounds the chain-view calls made when a leaf is
	// activated.
	DefaultChainTimeout = 500 * time.Millisecond
	// DefaultConcludeGrace is how long Conclude waits for outstanding work.
	DefaultConcludeGrace = time.Second
	// DefaultMaxDisputeVotes caps the dispute votes in one inherent
	// (Polkadot's MAX_DISPUTE_VOTES_FORWARDED_TO_RUNTIME).
	DefaultMaxDisputeVotes = 200_000
	// DefaultActiveDisputeDuration is how long a concluded dispute stays
	// active (Polkadot's ACTIVE_DURATION_SECS).
	DefaultActiveDisputeDuration = 180 * time.Second
	// DefaultMaxCandidatesPerDepth bounds the competing candidates (forks)
	// a job keeps per para at each depth of the para's chain, and so its
	// candidates at depth-cap times this (see Config.MaxCandidatesPerDepth).
	DefaultMaxCandidatesPerDepth = 4
	// DefaultDisputePostConclusionPeriod is the runtime's default
	// dispute_post_conclusion_acceptance_period (HostConfiguration): a
	// dispute concluded on chain longer ago than this many blocks is
	// refused.
	DefaultDisputePostConclusionPeriod types.BlockNumber = 100
	// DefaultMaxDisputes bounds the disputes the provisioner tracks.
	DefaultMaxDisputes = 1024
	// DefaultDisputeWindow is how many sessions back a dispute is still
	// accepted by the runtime (Polkadot's dispute period).
	DefaultDisputeWindow = 6
	// DefaultMaxHeldRequests bounds the requests held per leaf before
	// PRE_PROPOSE.
	DefaultMaxHeldRequests = 64
	// DefaultSubscriberBuffer is a subscription's buffer when the caller
	// asks for none.
	DefaultSubscriberBuffer = 1024
	// DefaultInputQueue is the Subsystem's input channel capacity.
	DefaultInputQueue = 4096
	// DefaultMaxCachedSessions bounds the cached session infos.
	DefaultMaxCachedSessions = 16
)

// Config configures a Provisioner or Subsystem. Only Chain is required;
// zero values take the defaults above.
type Config struct {
	Chain ChainView
	Clock Clock
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// VerifierFor turns a validator key into a signature verifier for
	// misbehaviour reports (and dispute statements when
	// VerifyDisputeStatements is set). Nil means sr25519 (types.ParsePublicKey).
	VerifierFor func(types.ValidatorID) (types.Verifier, error)
	// VerifyDisputeStatements makes the provisioner check the signature of
	// every dispute statement it is fed. Off by default: the network layer
	// verifies before feeding, and checking twice costs ~60 µs a vote.
	VerifyDisputeStatements bool

	// Timings and bounds; each Default constant above says what it is.
	PrePropose            time.Duration
	AssemblyTimeout       time.Duration
	ChainTimeout          time.Duration
	ConcludeGrace         time.Duration
	ActiveDisputeDuration time.Duration
	MaxDisputeVotes       int
	// MaxCandidatesPerDepth bounds, per para, the candidates kept at each
	// depth of its tree (forks), evicting the highest candidate hash, the
	// one fork choice drops first; as many not yet connected are kept.
	MaxCandidatesPerDepth int
	// DisputePostConclusionPeriod is the chain's
	// dispute_post_conclusion_acceptance_period, in blocks.
	DisputePostConclusionPeriod types.BlockNumber
	MaxDisputes                 int
	DisputeWindow               int
	MaxHeldRequests             int
	SubscriberBuffer            int
	InputQueue                  int
	MaxCachedSessions           int
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Chain == nil {
		return c, fmt.Errorf("%w: Chain is required", ErrInvalidConfig)
	}
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	if c.VerifierFor == nil {
		c.VerifierFor = sr25519Verifier
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PrePropose", &c.PrePropose, DefaultPrePropose},
		{"AssemblyTimeout", &c.AssemblyTimeout, DefaultAssemblyTimeout},
		{"ChainTimeout", &c.ChainTimeout, DefaultChainTimeout},
		{"ConcludeGrace", &c.ConcludeGrace, DefaultConcludeGrace},
		{"ActiveDisputeDuration", &c.ActiveDisputeDuration, DefaultActiveDisputeDuration},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("%w: %s is negative (%v)", ErrInvalidConfig, d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxDisputeVotes", &c.MaxDisputeVotes, DefaultMaxDisputeVotes},
		{"MaxCandidatesPerDepth", &c.MaxCandidatesPerDepth, DefaultMaxCandidatesPerDepth},
		{"MaxDisputes", &c.MaxDisputes, DefaultMaxDisputes},
		{"DisputeWindow", &c.DisputeWindow, DefaultDisputeWindow},
		{"MaxHeldRequests", &c.MaxHeldRequests, DefaultMaxHeldRequests},
		{"SubscriberBuffer", &c.SubscriberBuffer, DefaultSubscriberBuffer},
		{"InputQueue", &c.InputQueue, DefaultInputQueue},
		{"MaxCachedSessions", &c.MaxCachedSessions, DefaultMaxCachedSessions},
	}
	for _, n := range ints {
		switch {
		case *n.v < 0:
			return c, fmt.Errorf("%w: %s is negative (%d)", ErrInvalidConfig, n.name, *n.v)
		case *n.v == 0:
			*n.v = n.def
		}
	}
	if c.DisputePostConclusionPeriod == 0 {
		c.DisputePostConclusionPeriod = DefaultDisputePostConclusionPeriod
	}
	return c, nil
}

func sr25519Verifier(id types.ValidatorID) (types.Verifier, error) {
	return types.ParsePublicKey(id)
}
