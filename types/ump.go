package types

import (
	"errors"
	"fmt"
	"slices"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// Errors of the UMP-signal checks, named after the runtime's
// CommittedCandidateReceiptError variants (its CoreIndexMismatch is
// ErrCoreIndexMismatch, shared with the injected-core check of signing.go). A candidate that fails any of
// them is dropped by the runtime's sanitize_backed_candidates, so a
// provisioner must not offer it.
var (
	// ErrUMPSignalWithV1Descriptor: a V1 descriptor cannot carry signals
	// (a para that sends signals must use V2 or later).
	ErrUMPSignalWithV1Descriptor = errors.New("UMP signal with a v1 descriptor")
	// ErrNoUMPSignalWithV3Descriptor: V3 requires signals, so that a V3
	// candidate an old node mistakes for V1 is refused rather than backed.
	ErrNoUMPSignalWithV3Descriptor = errors.New("no UMP signal with a v3 descriptor")
	// ErrTooManyUMPSignals: more than two signals after the separator.
	ErrTooManyUMPSignals = errors.New("too many UMP signals")
	// ErrDuplicateUMPSignal: a signal variant appears twice.
	ErrDuplicateUMPSignal = errors.New("duplicate UMP signal")
	// ErrUMPSignalDecode: a message after the separator is not a UMPSignal.
	ErrUMPSignalDecode = errors.New("UMP signal does not decode")
	// ErrNoAssignment: the claim queue assigns the para no core at the
	// selected depth.
	ErrNoAssignment = errors.New("para not assigned to any core at the claim queue offset")
	// ErrInvalidCoreIndex: with several assigned cores and no selector, the
	// descriptor's core is not one of them.
	ErrInvalidCoreIndex = errors.New("descriptor core index not assigned to the para")
	// ErrUnknownDescriptorVersion: the runtime drops a candidate whose
	// descriptor version it does not know.
	ErrUnknownDescriptorVersion = errors.New("unknown descriptor version")
)

// MaxApprovedPeerLen bounds ApprovedPeer's id (BoundedVec<u8, ConstU32<64>>:
// a multihash peer id is at most 64 bytes).
const MaxApprovedPeerLen = 64

// SelectCore is UMPSignal::SelectCore(CoreSelector, ClaimQueueOffset).
type SelectCore struct {
	Selector uint8
	Offset   uint8
}

// CandidateUMPSignals are a candidate's parsed UMP signals; nil means the
// signal is absent.
type CandidateUMPSignals struct {
	SelectCore   *SelectCore
	ApprovedPeer []byte
}

// Empty reports whether no signal is present.
func (s *CandidateUMPSignals) Empty() bool { return s.SelectCore == nil && s.ApprovedPeer == nil }

// ApprovedPeerSignal encodes UMPSignal::ApprovedPeer(peer).
func ApprovedPeerSignal(peer []byte) []byte {
	w := codec.NewWriter(2 + len(peer))
	w.U8(UMPSignalApprovedPeer)
	w.VecU8(peer)
	return w.Bytes()
}

// ParseUMPSignals is the runtime's CandidateCommitments::ump_signals: the
// messages after the first empty upward message (the separator) are
// signals; at most two, each variant at most once. Errors are checked in
// the runtime's order — the first two signals are decoded before a third is
// refused — so the same input gives the same error. As the runtime decodes
// with Decode::decode on the message, bytes after a signal's encoding are
// ignored, not refused.
func (c *CandidateCommitments) ParseUMPSignals() (CandidateUMPSignals, error) {
	var out CandidateUMPSignals
	_, signals := c.UMPSignals()
	for i, m := range signals {
		if i == 2 {
			return CandidateUMPSignals{}, fmt.Errorf("%d signals after the separator: %w", len(signals), ErrTooManyUMPSignals)
		}
		if err := out.add(m); err != nil {
			return CandidateUMPSignals{}, fmt.Errorf("UMP signal %d: %w", i, err)
		}
	}
	return out, nil
}

func (s *CandidateUMPSignals) add(m []byte) error {
	r := codec.NewReader(m, codec.Limits{})
	kind := r.Variant("UMP signal", func(k uint8) bool { return k == UMPSignalSelectCore || k == UMPSignalApprovedPeer })
	switch {
	case r.Err() != nil:
	case kind == UMPSignalSelectCore:
		sc := SelectCore{Selector: r.U8("core selector"), Offset: r.U8("claim queue offset")}
		if r.Err() == nil {
			if s.SelectCore != nil {
				return fmt.Errorf("SelectCore: %w", ErrDuplicateUMPSignal)
			}
			s.SelectCore = &sc
		}
	default:
		peer := r.Bytes("approved peer", MaxApprovedPeerLen)
		if r.Err() == nil {
			if s.ApprovedPeer != nil {
				return fmt.Errorf("ApprovedPeer: %w", ErrDuplicateUMPSignal)
			}
			s.ApprovedPeer = append([]byte{}, peer...)
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUMPSignalDecode, err)
	}
	return nil
}

// ParseUMPSignalsFor is the part of the runtime's parse_ump_signals that
// needs no claim queue: the signals must parse (ParseUMPSignals), a V1
// descriptor must carry none, a V3 one at least one, and an unknown
// version is refused. A checker that cannot tell the claim queue (a
// replayed block, a gossip view without it) still applies these, since they
// hold whatever the queue says; CheckUMPSignals adds the core check.
func (c *CandidateCommitments) ParseUMPSignalsFor(version DescriptorVersion) (CandidateUMPSignals, error) {
	signals, err := c.ParseUMPSignals()
	if err != nil {
		return CandidateUMPSignals{}, err
	}
	switch version {
	case DescriptorV1:
		if !signals.Empty() {
			return CandidateUMPSignals{}, ErrUMPSignalWithV1Descriptor
		}
	case DescriptorV2:
	case DescriptorV3:
		if signals.Empty() {
			return CandidateUMPSignals{}, ErrNoUMPSignalWithV3Descriptor
		}
	default:
		return CandidateUMPSignals{}, ErrUnknownDescriptorVersion
	}
	return signals, nil
}

// ClaimQueueCores is the lookup of a claim_queue() answer (per core the
// paras that will occupy it, the front first) as the runtime transposes it
// (transpose_claim_queue: para -> depth -> cores). A nil queue gives a nil
// lookup, which CheckUMPSignals reads as no assignment: callers that cannot
// tell the queue use ParseUMPSignalsFor instead.
func ClaimQueueCores(cq map[CoreIndex][]ParaID) ClaimQueueLookup {
	if cq == nil {
		return nil
	}
	return func(para ParaID, depth uint8) []CoreIndex {
		var out []CoreIndex
		for core, q := range cq {
			if int(depth) < len(q) && q[depth] == para {
				out = append(out, core)
			}
		}
		return out
	}
}

// ClaimQueueLookup returns the cores the claim queue (the transposed
// queue, para -> depth -> cores) assigns to para at depth, in any order;
// nil or empty when none.
type ClaimQueueLookup func(para ParaID, depth uint8) []CoreIndex

// CheckUMPSignals is the runtime's parse_ump_signals for a candidate of
// para whose descriptor has the given version and (for V2 and V3) core:
// it parses the signals and checks them against the claim queue the caller
// looked up — at the relay parent for V2, at the scheduling parent for V3
// (SchedulingParent gives the right one). V1 must carry no signal and has
// nothing else to check; V3 must carry one. The core check takes the
// para's cores at the SelectCore offset (0 without one); with a selector
// the core is the sorted cores' [selector mod count]; without one a single
// core must be the descriptor's, and of several the descriptor's must be
// among them.
func CheckUMPSignals(c *CandidateCommitments, version DescriptorVersion, para ParaID, core CoreIndex,
	lookup ClaimQueueLookup) (CandidateUMPSignals, error) {
	signals, err := c.ParseUMPSignalsFor(version)
	if err != nil || version == DescriptorV1 {
		return signals, err
	}
	var offset uint8
	if signals.SelectCore != nil {
		offset = signals.SelectCore.Offset
	}
	var assigned []CoreIndex
	if lookup != nil {
		assigned = slices.Clone(lookup(para, offset))
	}
	// The runtime holds the cores in a BTreeSet: sorted, no duplicates.
	slices.Sort(assigned)
	assigned = slices.Compact(assigned)
	if len(assigned) == 0 {
		return CandidateUMPSignals{}, fmt.Errorf("para %d at claim queue offset %d: %w", para, offset, ErrNoAssignment)
	}
	var selector int
	switch {
	case signals.SelectCore != nil:
		selector = int(signals.SelectCore.Selector)
	case len(assigned) > 1:
		if !slices.Contains(assigned, core) {
			return CandidateUMPSignals{}, fmt.Errorf("core %d, assigned %v: %w", core, assigned, ErrInvalidCoreIndex)
		}
		return signals, nil
	}
	if got := assigned[selector%len(assigned)]; got != core {
		return CandidateUMPSignals{}, fmt.Errorf("descriptor core %d, commitments select core %d: %w", core, got, ErrCoreIndexMismatch)
	}
	return signals, nil
}

// ClaimQueueAt looks up the transposed claim queue as of a relay-chain
// block: the cores assigned to para at depth.
type ClaimQueueAt func(block Hash, para ParaID, depth uint8) []CoreIndex

// CheckUMPSignals checks the receipt's signals as the runtime does with the
// V3 node feature as given: the version and core come from the
// descriptor, and the claim queue is the one at its scheduling parent (the
// relay parent, except for V3).
func (c *CommittedCandidateReceipt) CheckUMPSignals(v3Enabled bool, cq ClaimQueueAt) (CandidateUMPSignals, error) {
	d := &c.Descriptor
	core, _ := d.CoreIndexWith(v3Enabled)
	parent := d.SchedulingParent(v3Enabled)
	var lookup ClaimQueueLookup
	if cq != nil {
		lookup = func(para ParaID, depth uint8) []CoreIndex { return cq(parent, para, depth) }
	}
	return CheckUMPSignals(&c.Commitments, d.VersionWith(v3Enabled), d.ParaID, core, lookup)
}
