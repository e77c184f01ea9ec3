// Package p2p puts the provisioner on a libp2p network.
//
// A Node is a libp2p host (TCP and QUIC, Noise, yamux) with a gossipsub
// router carrying one topic per kind of provisionable data (signed
// availability bitfields, backed candidates, dispute statement sets,
// misbehaviour reports) plus relay-chain block announcements, and two stream
// protocols for block builders: the inherent request-response protocol and
// the author stream.
//
// The package talks to the rest of the node only through the narrow
// interfaces of this file, which the caller implements:
//
//   - ChainView answers what validation needs to know about the relay chain
//     (active leaves, session validators, availability cores, backing groups).
//   - Sink receives every gossip message that passed validation, already
//     decoded (each message is decoded exactly once, by its topic validator).
//   - InherentProvider answers block builders' inherent requests.
//   - AuthorFeed (optional) streams provisionable data for one relay parent;
//     without one the node serves the author stream from what it gossips.
//
// p2p imports types and codec only; the provisioner and the testnet adapt to
// these interfaces.
package p2p

import (
	"context"
	"errors"

	"github.com/polkadot-provisioner/provisioner/types"
)

// LeafInfo is what topic validation needs to know about an active leaf.
// Validators is indexed by ValidatorIndex and is only read, never modified:
// an implementation may hand out the same slice to every call.
type LeafInfo struct {
	// Session is the session index of the signing context at this relay
	// parent: the session of the relay parent's child block.
	Session types.SessionIndex
	// Validators are the validator keys of that session.
	Validators []types.ValidatorID
	// NumCores is the number of availability cores at the relay parent,
	// which is the required bitfield length.
	NumCores int
}

// ChainView is the node's view of the relay chain, as topic validation needs
// it. Implementations must be safe for concurrent use and fast: they are
// called for every gossip message (from up to a thousand validations at
// once), so they should answer from memory.
type ChainView interface {
	// Leaf reports whether relayParent is an active leaf and, if it is,
	// what validation needs to know about it. A leaf should be reported
	// active only once the Sink accepts data for it (the provisioner has
	// activated it): a message accepted earlier is delivered to a Sink
	// that refuses it, and gossipsub never delivers it again.
	Leaf(relayParent types.Hash) (LeafInfo, bool)
	// BackingGroup returns the validator indices (in group order) of the
	// backing group assigned to core at relayParent, and the number of
	// backing votes the runtime requires (minimum_backing_votes; it is
	// capped at the group size). An error means the view cannot tell, and
	// the candidate is ignored, not penalised.
	BackingGroup(relayParent types.Hash, core types.CoreIndex) (group []types.ValidatorIndex, minVotes int, err error)
	// SessionValidators returns the validator keys of a session, for dispute
	// statements and misbehaviour reports; ok is false for a session the
	// view does not know (too old or in the future).
	SessionValidators(session types.SessionIndex) (validators []types.ValidatorID, ok bool)
}

// AncestryView is optional for a ChainView: a view that implements it lets
// backed candidates anchor to any allowed relay parent of an active leaf
// (async backing: the leaf or up to lookahead-1 of its ancestors in the
// same session), not only to the leaf. Without it a candidate must name an
// active leaf as its relay parent and its votes are checked with
// BackingGroup, as before. Both methods must answer from memory without
// waiting: they run inside gossip validation.
type AncestryView interface {
	// AllowedRelayParent reports whether rp is an allowed relay parent of
	// at least one active leaf (a leaf counts as its own) and, if so, what
	// checking a candidate anchored to it needs. Validation also asks it
	// about a V3 candidate's scheduling parent, which the runtime requires
	// to be an allowed relay parent too.
	AllowedRelayParent(rp types.Hash) (RelayParentInfo, bool)
	// BackingGroupAt returns the validator indices (in group order) of the
	// group assigned to core at block number at in session (the runtime's
	// group_assigned_to_core with group rotation; validation asks for
	// relay_parent_number + 1), and the number of backing votes the network
	// layer requires (minimum_backing_votes; it is capped at the group
	// size). An error (ErrUnknownBackingGroup) means the view cannot tell:
	// the candidate is ignored, not penalised.
	BackingGroupAt(session types.SessionIndex, core types.CoreIndex, at types.BlockNumber) (group []types.ValidatorIndex, minVotes int, err error)
}

// RelayParentInfo is what validating a backed candidate needs to know about
// its relay parent. Validators is only read, never modified.
type RelayParentInfo struct {
	// Number is the relay parent's block number.
	Number types.BlockNumber
	// Session is the session of the signing context: the session of the
	// active leaves' child blocks, which allowed relay parents share (the
	// runtime never allows one across a session change).
	Session types.SessionIndex
	// Validators are that session's validator keys.
	Validators []types.ValidatorID
	// NumCores is the number of availability cores at the leaves.
	NumCores int
	// Leaves are the active leaves whose allowed relay parents hold it.
	Leaves []types.Hash
	// NodeFeatures are the session's node features (node_features(), a
	// BitVec<u8, Lsb0>; empty: none set). Bit
	// types.NodeFeatureCandidateReceiptV3 changes which descriptor bytes
	// say V1 and gives V3 its layout (types.CandidateDescriptor.VersionWith),
	// so validation reads a descriptor with the features of its relay
	// parent's session.
	NodeFeatures types.BitVec
	// ClaimQueue is claim_queue() at this relay parent: the snapshot
	// against which the runtime checks the UMP signals (core selector and
	// claim-queue offset) of a candidate whose relay parent (V2) or
	// scheduling parent (V3) this block is. Nil means the view cannot
	// tell: the signals' core is then not judged (their form, count and
	// version rules still are); a known empty queue is an empty map.
	ClaimQueue map[types.CoreIndex][]types.ParaID
}

// ErrUnknownBackingGroup is what an AncestryView answers when it cannot name
// a backing group.
var ErrUnknownBackingGroup = errors.New("backing group unknown to the chain view")

// Sink receives validated, decoded gossip. Values are freshly allocated for
// each message and become the sink's; they must be treated as read-only when
// the node also serves the author stream from them (the default). Each topic
// is delivered from its own goroutine, in order; different topics may be
// delivered concurrently. Methods must not block for long: a slow sink
// delays its topic, and once 4096 messages queue up pubsub drops messages
// (counted in provisioner_p2p_dropped_total{queue="subscriber"}).
//
// Messages this node publishes itself are delivered too (as Polkadot's
// bitfield distribution hands a validator's own bitfield to its provisioner).
type Sink interface {
	Bitfield(relayParent types.Hash, bf *types.UncheckedSignedAvailabilityBitfield)
	BackedCandidate(relayParent types.Hash, c *types.BackedCandidate)
	Dispute(set *types.DisputeStatementSet)
	Misbehavior(report *types.MisbehaviorReport)
	Announcement(a *BlockAnnouncement)
}

// InherentProvider answers a block builder's request for the parachains
// inherent at relayParent. It may hold the request until the data is ready
// (Polkadot answers at PRE_PROPOSE) but must return when ctx is done.
// Errors that map to wire error codes: ErrUnknownLeaf, ErrNotReady,
// ErrShuttingDown (wrapped is fine); anything else is an internal error.
type InherentProvider interface {
	RequestInherentData(ctx context.Context, relayParent types.Hash) (*types.InherentData, error)
}

// LeafResolver is optional for an InherentProvider: one that implements it
// serves best-leaf requests (an all-zero relay parent) and sends the relay
// parent's header with errors to requests that ask for it
// (FlagParentHeader). A provider without it answers best-leaf requests
// with unknown_leaf and errors without a header, as before. It is a
// separate interface, checked with a type assertion, so that providers
// written against the first protocol keep compiling.
type LeafResolver interface {
	// BestLeaf returns the node's best active leaf (the one its own block
	// author would build on); false when it has none yet.
	BestLeaf() (types.Hash, bool)
	// Header returns the header of a block the node knows (an active leaf
	// or an earlier block); false when it does not know it.
	Header(hash types.Hash) (types.Header, bool)
}

// AuthorFeed streams provisionable data for one relay parent to a block
// author: every piece it knows at subscription time, then each new one as it
// arrives. The channel is closed when the leaf is deactivated; the feed stops
// (and closes the channel) when ctx is done. An unknown leaf is
// ErrUnknownLeaf.
type AuthorFeed interface {
	SubscribeAuthor(ctx context.Context, relayParent types.Hash) (<-chan ProvisionableData, error)
}

// Errors shared by the provider interfaces and the wire protocols. A
// *RemoteError received from a peer matches them with errors.Is.
var (
	ErrUnknownLeaf   = errors.New("relay parent is not an active leaf")
	ErrNotReady      = errors.New("inherent data not ready before the deadline")
	ErrShuttingDown  = errors.New("node is shutting down")
	ErrBusy          = errors.New("too many concurrent requests from this peer")
	ErrMalformed     = errors.New("malformed request")
	ErrInternal      = errors.New("internal error")
	ErrLeafEnded     = errors.New("leaf deactivated, stream ended")
	ErrClosed        = errors.New("node closed")
	ErrIgnore        = errors.New("ignore message")
	ErrPublishIgnore = errors.New("message ignored by local validation")
	ErrPublishReject = errors.New("message rejected by local validation")
)
