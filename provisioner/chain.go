package provisioner

import (
	"context"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ChainView is the provisioner's read-only window on the relay chain. All
// state it reports is the state at (or after) a given leaf, which never
// changes once the block exists, so the provisioner fetches each answer once
// per leaf and caches it. Implementations must be safe for concurrent use and
// should return promptly when ctx ends: the provisioner bounds every call
// with a deadline and abandons calls that overrun it.
type ChainView interface {
	// Header is the leaf's header: it becomes the inherent's parent_header.
	Header(ctx context.Context, leaf types.Hash) (types.Header, error)
	// AvailabilityCores is the runtime's availability_cores() at the leaf.
	AvailabilityCores(ctx context.Context, leaf types.Hash) ([]types.CoreState, error)
	// SessionIndexForChild is the session of the block built on the leaf;
	// bitfields and backing votes for the leaf are signed in it.
	SessionIndexForChild(ctx context.Context, leaf types.Hash) (types.SessionIndex, error)
	// SessionInfo returns the validators and backing groups of a session.
	SessionInfo(ctx context.Context, session types.SessionIndex) (SessionInfo, error)
	// OnChainDisputes is the runtime's disputes() at the leaf: every dispute
	// the chain knows, with the validators it has recorded on each side.
	OnChainDisputes(ctx context.Context, leaf types.Hash) (map[DisputeKey]OnChainDispute, error)
	// AllowedRelayParents lists the ancestors of the leaf that a candidate
	// backed into a block on the leaf may use as its relay parent (the
	// async-backing allowed ancestry), with their numbers. The leaf itself is
	// always allowed and need not be listed.
	AllowedRelayParents(ctx context.Context, leaf types.Hash) ([]RelayParent, error)
}

// SessionInfo is the part of a session's info the provisioner needs.
type SessionInfo struct {
	// Validators are the session's validator keys, by validator index.
	Validators []types.ValidatorID
	// Groups are the backing groups, each a list of validator indices.
	Groups [][]types.ValidatorIndex
}

// RelayParent is a relay-chain block a candidate may be anchored to.
type RelayParent struct {
	Hash   types.Hash
	Number types.BlockNumber
}

// DisputeKey names a dispute: a candidate in a session.
type DisputeKey struct {
	Session       types.SessionIndex
	CandidateHash types.Hash
}

// OnChainDispute is the runtime's DisputeState: one bit per validator of the
// session on each side.
type OnChainDispute struct {
	ValidatorsFor     types.BitVec
	ValidatorsAgainst types.BitVec
	Start             types.BlockNumber
	ConcludedAt       *types.BlockNumber
}

// concluded reports whether one side has the supermajority of the session
// (measured, as Polkadot does, against the length of the bit vectors), or
// the runtime has recorded a conclusion.
func (d *OnChainDispute) concluded() bool {
	if d.ConcludedAt != nil {
		return true
	}
	n := d.ValidatorsFor.Len
	if n == 0 {
		return false
	}
	sm := supermajority(n)
	return d.ValidatorsFor.CountOnes() >= sm || d.ValidatorsAgainst.CountOnes() >= sm
}

// byzantineThreshold is the most validators that may be faulty: (n-1)/3.
func byzantineThreshold(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 3
}

// supermajority is the runtime's threshold n - (n-1)/3, used for
// availability (availability_threshold) and for dispute conclusions. The Rust
// node's availability check, 3*ones >= 2*n, asks one vote fewer when
// n % 3 == 0; we follow the runtime, which is what decides.
func supermajority(n int) int {
	return n - byzantineThreshold(n)
}
