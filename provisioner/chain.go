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
	// BackingState is what prospective-parachains checks chains of
	// candidates against at the leaf: per para its backing constraints,
	// the claim queue, the disabled validators, the session's
	// minimum_backing_votes and the group rotation. A view that cannot tell
	// the per-para constraints must say so with ParasUnknown (see there);
	// a zero BackingState is a chain with no para to back.
	BackingState(ctx context.Context, leaf types.Hash) (BackingState, error)
	// NodeFeatures is the runtime's node_features() for a session (a
	// BitVec<u8, Lsb0> of the HostConfiguration's feature flags): bit
	// types.NodeFeatureCandidateReceiptV3 (4) decides how descriptor bytes
	// read (types.CandidateDescriptor.VersionWith); bit
	// types.NodeFeatureCandidateReceiptV2 (3) no longer changes anything.
	// An empty vector is a session with no feature set.
	NodeFeatures(ctx context.Context, session types.SessionIndex) (types.BitVec, error)
	// IncludedAt is, for each given dispute whose candidate the runtime
	// recorded as included on the leaf's chain (its disputes pallet's
	// Included(session, candidate): a "local" dispute), the block number
	// it was included at; a dispute missing from the answer is remote. The
	// runtime's dispute_ordering_compare puts local disputes first, so the
	// provisioner must know which they are to order a block's disputes as
	// the runtime keeps them.
	IncludedAt(ctx context.Context, leaf types.Hash, disputes []DisputeKey) (map[DisputeKey]types.BlockNumber, error)
}

// BackingState is the runtime's backing view at a leaf (Polkadot's
// backing_constraints, claim_queue, disabled_validators,
// minimum_backing_votes and validator_groups' rotation info).
type BackingState struct {
	// ParasUnknown says that the view cannot tell Paras and ClaimQueue: a
	// replay of a recorded block carries neither. The provisioner then lets
	// a chain start at any held candidate whose parent head no other held
	// candidate produces (or that carries no validation data), bounds a
	// para's chain by its usable cores only and applies no per-para
	// constraint. Every assembly made so is counted
	// (polkadot_parachain_provisioner_unknown_constraints_total). A view of
	// a live chain never sets it: with it false, a para missing from Paras
	// gets no candidate.
	ParasUnknown bool
	// Paras are the backing constraints of every para that may be backed on
	// the leaf.
	Paras map[types.ParaID]ParaConstraints
	// ClaimQueue is claim_queue() at the leaf: per core the paras that may
	// occupy it in the next blocks, the front first. It is also the leaf's
	// claim-queue snapshot as a relay parent: the UMP signals of a
	// candidate whose relay parent (V2) or scheduling parent (V3) is the
	// leaf are checked against it (a RelayParent carries the snapshot of
	// every other allowed relay parent).
	ClaimQueue map[types.CoreIndex][]types.ParaID
	// Disabled are the validators whose backing votes the runtime strips
	// (disabled_validators() at the leaf).
	Disabled []types.ValidatorIndex
	// MinimumBackingVotes is the session's minimum_backing_votes; a backed
	// candidate needs min(group size, MinimumBackingVotes) votes that are
	// not disabled. Zero means the runtime's default,
	// DefaultMinimumBackingVotes.
	MinimumBackingVotes int
	// Rotation says which group backs which core at a block number.
	Rotation GroupRotation
	// BackedInLeaf is how many candidates the leaf block itself backed (its
	// CandidateBacked events), for the backable_vs_in_block metric.
	BackedInLeaf int
}

// DefaultMinimumBackingVotes is the runtime's default minimum_backing_votes
// (LEGACY_MIN_BACKING_VOTES).
const DefaultMinimumBackingVotes = 2

// ParaConstraints is Polkadot's backing_constraints(para) at a leaf,
// reduced to what decides which chains of candidates the runtime accepts.
type ParaConstraints struct {
	// RequiredParent is the para's head on chain (paras::Heads): the head
	// the first pending candidate builds on, or a new chain when nothing is
	// pending.
	RequiredParent []byte
	// PendingAvailability is the para's chain of candidates backed but not
	// yet included, in chain order: a new chain starts on the head of the
	// last of them that neither times out nor follows one that does.
	PendingAvailability []PendingCandidate
	// MinRelayParentNumber is the lowest relay-parent number a new
	// candidate may have (relay parents never move backwards).
	MinRelayParentNumber types.BlockNumber
	// MaxHeadDataSize and MaxCodeSize bound a candidate's head data and new
	// validation code (the runtime's HostConfiguration).
	MaxHeadDataSize uint32
	MaxCodeSize     uint32
	// ValidationCodeHash is the para's current validation code hash, which
	// every candidate's descriptor must name.
	ValidationCodeHash types.Hash
}

// PendingCandidate is a candidate of the para still pending availability.
type PendingCandidate struct {
	CandidateHash types.Hash
	// HeadHash is the hash of the head data it produces (its para_head).
	HeadHash          types.Hash
	RelayParentNumber types.BlockNumber
}

// GroupRotation is the runtime's GroupRotationInfo: the group assigned to
// core c at block b is (c + (b - SessionStart) / Frequency) mod groups.
// Frequency 0 means no rotation.
type GroupRotation struct {
	SessionStart types.BlockNumber
	Frequency    types.BlockNumber
}

// GroupForCore is group_assigned_to_core(core, at) for a session of
// groups groups; false when the runtime would name none (no groups, or a
// block before the session).
func (r GroupRotation) GroupForCore(core types.CoreIndex, at types.BlockNumber, groups int) (int, bool) {
	if groups <= 0 || at < r.SessionStart {
		return 0, false
	}
	rotations := 0
	if r.Frequency > 0 {
		rotations = int(uint64((at-r.SessionStart)/r.Frequency) % uint64(groups))
	}
	return int((uint64(core) + uint64(rotations)) % uint64(groups)), true
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
	// ClaimQueue is claim_queue() at this block: the snapshot the
	// runtime's allowed-relay-parents tracker keeps with it, against which
	// it checks the UMP signals (core selector and claim-queue offset) of
	// a candidate whose relay parent (V2) or scheduling parent (V3) this
	// block is. Nil means the view cannot tell: the provisioner then
	// applies the signal checks that need no claim queue (form, count,
	// V1 without and V3 with signals) and not the core check.
	ClaimQueue map[types.CoreIndex][]types.ParaID
}

// DisputeKey names a dispute: a candidate in a session.
type DisputeKey struct {
	Session       types.SessionIndex
	CandidateHash types.Hash
}

// OnChainDispute is the runtime's DisputeState: one bit per validator of the
// session on each side. (Whether the candidate was included on chain, which
// orders the block's disputes, is ChainView.IncludedAt: a dispute may be
// local before the chain has a DisputeState for it.)
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
