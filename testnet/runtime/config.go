package runtime

import (
	"errors"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Sentinel errors, testable with errors.Is.
var (
	// ErrBadConfig: the configuration cannot describe a chain.
	ErrBadConfig = errors.New("bad runtime configuration")
	// ErrInvalidParentHeader: the inherent's parent header is not the
	// block's parent (the runtime's InvalidParentHeader).
	ErrInvalidParentHeader = errors.New("inherent parent header is not the parent block")
	// ErrStateMismatch: the parent state given is not the parent header's.
	ErrStateMismatch = errors.New("parent state does not belong to the parent header")
	// ErrInherentDataFiltered: enter was given an inherent that
	// create_inherent would have changed (InherentDataFilteredDuringExecution).
	ErrInherentDataFiltered = errors.New("inherent data filtered during execution")
	// ErrInvalidBacking: a candidate that passed sanitizing carries a bad
	// backing signature (the runtime's InvalidBacking from
	// process_candidates: it fails create_inherent as well as enter).
	ErrInvalidBacking = errors.New("invalid backing")
	// ErrInsufficientBacking: fewer backing votes than the minimum reached
	// process_candidates.
	ErrInsufficientBacking = errors.New("insufficient backing")
	// ErrUnscheduledCandidate: more candidates than eligible cores.
	ErrUnscheduledCandidate = errors.New("unscheduled candidate")
	// ErrUnknownPara: a query named a para the chain does not have.
	ErrUnknownPara = errors.New("unknown para")
	// ErrUnknownSession: a query named a session the chain does not keep.
	ErrUnknownSession = errors.New("unknown session")
	// ErrUnknownRelayParent: a relay parent outside the allowed window.
	ErrUnknownRelayParent = errors.New("relay parent not allowed")
)

// Polkadot's values (facts sheet sections 2 to 5; HostConfiguration
// defaults where Polkadot's own value is not known).
const (
	// DefaultLookahead is scheduler_params.lookahead on Polkadot.
	DefaultLookahead = 3
	// DefaultGroupRotationFrequency is the HostConfiguration default.
	DefaultGroupRotationFrequency = 10
	// DefaultParasAvailabilityPeriod is the HostConfiguration default.
	DefaultParasAvailabilityPeriod = 4
	// DefaultMinimumBackingVotes is LEGACY_MIN_BACKING_VOTES.
	DefaultMinimumBackingVotes = 2
	// DefaultDisputePeriod is how many past sessions disputes are kept for.
	DefaultDisputePeriod = 6
	// DefaultDisputePostConclusionAcceptancePeriod is in blocks.
	DefaultDisputePostConclusionAcceptancePeriod = 100
	// DefaultMaxHeadDataSize and DefaultMaxCodeSize are Polkadot's.
	DefaultMaxHeadDataSize = 20 * 1024
	DefaultMaxCodeSize     = 3 << 20
	// DefaultMaxPoVSize is the max_pov_size of every persisted
	// validation data (the testnet's historical value).
	DefaultMaxPoVSize = 5 << 20
)

// ParaGenesis is a para registered at genesis.
type ParaGenesis struct {
	ID       types.ParaID
	Head     []byte
	CodeHash types.Hash
}

// Config is the chain's HostConfiguration plus what genesis fixes. It is
// read-only once New has checked it.
type Config struct {
	// Validators are the session keys, by validator index. Every session
	// has the same validators (the testnet has no staking); only the
	// backing groups are reshuffled.
	Validators []types.ValidatorID
	// Paras are the registered parachains.
	Paras []ParaGenesis
	// Cores is the number of availability cores.
	Cores int
	// Schedule is the coretime assignment: per core, a cycle of paras, the
	// para assigned to core c at block b being Schedule[c][b mod len]. A
	// core may appear for one para only (bulk coretime), several cores may
	// serve one para (elastic scaling), and a cycle may interlace paras.
	// Nil assigns core i to Paras[i mod len(Paras)] every block.
	Schedule [][]types.ParaID
	// GroupSize is the backing-group size; the validators form
	// len(Validators)/GroupSize groups, the remainder joining the last.
	GroupSize int
	// Lookahead is scheduler_params.lookahead: the claim queue's depth and
	// the number of allowed relay parents. 0 means DefaultLookahead.
	Lookahead uint32
	// GroupRotationFrequency in blocks; 0 means the default (Polkadot
	// requires a rotation).
	GroupRotationFrequency uint32
	// ParasAvailabilityPeriod is how long a candidate may wait for
	// availability at the start of a rotation; at least 1.
	ParasAvailabilityPeriod uint32
	// SessionLength in blocks; 0 means a single session for ever. Block
	// k*SessionLength is the first block of session FirstSession+k.
	SessionLength uint32
	// FirstSession is the session of block 1.
	FirstSession types.SessionIndex
	// MinimumBackingVotes is capped by the group size; 0 means the default.
	MinimumBackingVotes int
	MaxHeadDataSize     uint32
	MaxCodeSize         uint32
	MaxPoVSize          uint32
	// DisputePeriod: disputes and session data are kept for this many
	// sessions before the current one.
	DisputePeriod types.SessionIndex
	// DisputePostConclusionAcceptancePeriod: votes on a dispute that
	// concluded longer ago than this many blocks are refused.
	DisputePostConclusionAcceptancePeriod types.BlockNumber
	// MaxApprovalCoalesceCount: approval votes on several candidates count
	// only when it is above 1.
	MaxApprovalCoalesceCount uint32
	// NodeFeatures is the runtime's node_features (bit 4: V3 descriptors).
	NodeFeatures types.BitVec
	// MaxBlockWeight is the block's budget; zero means Polkadot's 2 s of
	// ref time and 5 MiB of proof size.
	MaxBlockWeight Weight
	// Seed seeds the group reshuffle at session changes.
	Seed uint64
}

// withDefaults fills zero values with Polkadot's.
func (c Config) withDefaults() Config {
	if c.Lookahead == 0 {
		c.Lookahead = DefaultLookahead
	}
	if c.GroupRotationFrequency == 0 {
		c.GroupRotationFrequency = DefaultGroupRotationFrequency
	}
	if c.ParasAvailabilityPeriod == 0 {
		c.ParasAvailabilityPeriod = DefaultParasAvailabilityPeriod
	}
	if c.MinimumBackingVotes == 0 {
		c.MinimumBackingVotes = DefaultMinimumBackingVotes
	}
	if c.MaxHeadDataSize == 0 {
		c.MaxHeadDataSize = DefaultMaxHeadDataSize
	}
	if c.MaxCodeSize == 0 {
		c.MaxCodeSize = DefaultMaxCodeSize
	}
	if c.MaxPoVSize == 0 {
		c.MaxPoVSize = DefaultMaxPoVSize
	}
	if c.DisputePeriod == 0 {
		c.DisputePeriod = DefaultDisputePeriod
	}
	if c.DisputePostConclusionAcceptancePeriod == 0 {
		c.DisputePostConclusionAcceptancePeriod = DefaultDisputePostConclusionAcceptancePeriod
	}
	if c.MaxBlockWeight == (Weight{}) {
		c.MaxBlockWeight = MaxBlockWeight
	}
	if c.Schedule == nil && len(c.Paras) > 0 {
		c.Schedule = make([][]types.ParaID, c.Cores)
		for i := range c.Schedule {
			c.Schedule[i] = []types.ParaID{c.Paras[i%len(c.Paras)].ID}
		}
	}
	return c
}

func (c *Config) validate() error {
	n := len(c.Validators)
	switch {
	case n == 0:
		return fmt.Errorf("%w: no validators", ErrBadConfig)
	case c.GroupSize < 1 || c.GroupSize > n:
		return fmt.Errorf("%w: group size %d for %d validators", ErrBadConfig, c.GroupSize, n)
	case c.Cores < 1 || c.Cores > 255:
		return fmt.Errorf("%w: %d cores (1..255: V1 candidates inject the core as 8 bits)", ErrBadConfig, c.Cores)
	case len(c.Paras) == 0:
		return fmt.Errorf("%w: no paras", ErrBadConfig)
	case len(c.Schedule) != c.Cores:
		return fmt.Errorf("%w: schedule for %d cores, chain has %d", ErrBadConfig, len(c.Schedule), c.Cores)
	case c.Lookahead > 64:
		return fmt.Errorf("%w: lookahead %d above 64", ErrBadConfig, c.Lookahead)
	case c.SessionLength != 0 && c.SessionLength <= c.Lookahead:
		// A session must hold at least one block besides the one that
		// waits for the change, or nothing could ever be backed.
		return fmt.Errorf("%w: session length %d not above lookahead %d", ErrBadConfig, c.SessionLength, c.Lookahead)
	}
	seen := map[types.ParaID]bool{}
	for _, p := range c.Paras {
		if seen[p.ID] {
			return fmt.Errorf("%w: para %d registered twice", ErrBadConfig, p.ID)
		}
		seen[p.ID] = true
	}
	for core, cycle := range c.Schedule {
		if len(cycle) == 0 {
			return fmt.Errorf("%w: core %d has an empty schedule", ErrBadConfig, core)
		}
		for _, p := range cycle {
			if !seen[p] {
				return fmt.Errorf("%w: core %d scheduled for unregistered para %d", ErrBadConfig, core, p)
			}
		}
	}
	return nil
}

// Runtime is a configured runtime: immutable, safe for concurrent use.
type Runtime struct {
	cfg  Config
	keys []*types.PublicKey
	// sigs, when set, knows signatures verified before (sigs.go).
	sigs SignatureCache
	// groups memoizes Groups, a pure function of the session (shared by
	// the copies WithSignatureCache makes).
	groups *groupCache
}

// New checks the configuration and parses the validator keys once.
func New(cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, keys: make([]*types.PublicKey, len(cfg.Validators)), groups: newGroupCache()}
	for i, v := range cfg.Validators {
		k, err := types.ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("%w: validator %d: %w", ErrBadConfig, i, err)
		}
		rt.keys[i] = k
	}
	return rt, nil
}

// Config is the configuration with defaults filled in.
func (rt *Runtime) Config() Config { return rt.cfg }

func (rt *Runtime) v3Enabled() bool { return types.CandidateReceiptV3Enabled(rt.cfg.NodeFeatures) }

// supermajority is n - (n-1)/3, the availability and dispute threshold.
func supermajority(n int) int { return n - byzantineThreshold(n) }

// byzantineThreshold is (n-1)/3.
func byzantineThreshold(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 3
}
