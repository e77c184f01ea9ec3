package p2p

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Result is the outcome of validating one gossip message.
type Result = pubsub.ValidationResult

const (
	Accept = pubsub.ValidationAccept
	Reject = pubsub.ValidationReject
	Ignore = pubsub.ValidationIgnore
)

// Reasons of Reject and Ignore outcomes (metric labels and ValidationEvent).
const (
	// Reject: provably bad.
	ReasonDecode            = "decode"             // undecodable bytes
	ReasonOversize          = "oversize"           // over the topic's size limit
	ReasonLimit             = "limit"              // a sequence over its limit
	ReasonNonCanonical      = "non_canonical"      // a non-canonical encoding
	ReasonTrailingBytes     = "trailing_bytes"     // bytes after the value
	ReasonValidatorIndex    = "validator_index"    // index out of range for the session
	ReasonBitfieldLength    = "bitfield_length"    // not one bit per availability core
	ReasonBadSignature      = "bad_signature"      // an sr25519 signature does not verify
	ReasonVotesMismatch     = "votes_mismatch"     // votes do not follow validator_indices
	ReasonNotEnoughVotes    = "not_enough_votes"   // fewer backing votes than required
	ReasonCoreIndex         = "core_index"         // missing, out of range or inconsistent core index
	ReasonSession           = "session"            // v2 descriptor for another session
	ReasonDescriptorVersion = "descriptor_version" // unknown candidate descriptor version
	ReasonEmpty             = "empty"              // a dispute set without statements
	ReasonNotContradictory  = "not_contradictory"  // a misbehaviour report proving nothing
	ReasonAnnouncement      = "announcement"       // refused by the announcement validator
	// Ignore: cannot be judged yet, or redundant.
	ReasonNotActiveLeaf      = "not_active_leaf"      // relay parent not an active leaf
	ReasonUnknownSession     = "unknown_session"      // session unknown to the chain view
	ReasonUnknownGroup       = "unknown_group"        // chain view cannot name the backing group
	ReasonRelayParent        = "relay_parent"         // descriptor relay parent is not an allowed relay parent of the message's leaf
	ReasonDuplicate          = "duplicate"            // same bitfield from that validator, or same backed candidate and votes, again
	ReasonSecondBitfield     = "second_bitfield"      // a different bitfield from that validator
	ReasonAnnouncementIgnore = "announcement_ignored" // ignored by the announcement validator
	ReasonVerifyTimeout      = "verify_timeout"       // the batched signature check waited past ValidateTimeout, or validation ended
)

// ValidationEvent describes one validation outcome (Config.ValidationHook).
type ValidationEvent struct {
	Kind   Kind
	From   peer.ID // the peer that sent it; this node for local publishes
	Local  bool
	Result Result
	Reason string // empty for Accept
}

// validators holds the per-topic validation state of a node.
type validators struct {
	chain    ChainView
	lim      Limits
	m        *metrics
	hook     func(ValidationEvent)
	announce func(*BlockAnnouncement) error
	self     peer.ID
	// outcome, when set, hears every outcome with the message's bytes
	// (parking.go: park early messages, count junk). It must not block.
	outcome func(k Kind, from peer.ID, res Result, reason string, data []byte)
	// maxSize is each topic's size limit, checked before decoding: the
	// frame limit is the largest topic's, so a smaller topic enforces
	// its own here.
	maxSize [numKinds]int

	keys   keyCache
	dedupe dedupe
	// batch verifies gossiped bitfields' and backed candidates'
	// signatures in batches (batcher.go); nil verifies them inline.
	batch *sigBatcher
}

// validateFn judges one message's bytes. ctx bounds any wait (the
// validation timeout); from is the peer that sent it, this node for a
// local publish.
type validateFn func(ctx context.Context, from peer.ID, data []byte) (any, Result, string)

// verdict carries the reason of a local publish's validation back to the
// publisher (passed in as ValidatorData).
type verdict struct {
	result Result
	reason string
	// replayOf is the peer a replayed parked message came from (empty for
	// our own publishes): its signatures are checked as that peer's, in a
	// batch, and a forgery makes that peer suspect, not us.
	replayOf peer.ID
}

// decodeReason names the decode error class.
func decodeReason(err error) string {
	switch {
	case errors.Is(err, codec.ErrOversize):
		return ReasonOversize
	case errors.Is(err, codec.ErrLimitExceeded):
		return ReasonLimit
	case errors.Is(err, codec.ErrNonCanonical), errors.Is(err, codec.ErrNonCanonicalCompact):
		return ReasonNonCanonical
	case errors.Is(err, codec.ErrTrailingBytes):
		return ReasonTrailingBytes
	}
	return ReasonDecode
}

// topicValidator is topicValidatorFor of a function that judges bytes
// alone, without waiting and whoever sent them.
func (v *validators) topicValidator(k Kind, fn func(data []byte) (any, Result, string)) pubsub.ValidatorEx {
	return v.topicValidatorFor(k, func(_ context.Context, _ peer.ID, data []byte) (any, Result, string) {
		return fn(data)
	})
}

// topicValidatorFor adapts a validation function to pubsub: it decodes
// nothing itself, records the outcome and hands the decoded value on in
// ValidatorData.
func (v *validators) topicValidatorFor(k Kind, fn validateFn) pubsub.ValidatorEx {
	return func(ctx context.Context, from peer.ID, msg *pubsub.Message) Result {
		local := from == v.self
		vd, _ := msg.ValidatorData.(*verdict)
		if !local {
			vd = nil // only a local publish passes ValidatorData in
		}
		// sender is whom the message's bytes came from: a peer, us, or
		// for a replayed parked message the peer that sent it.
		sender := from
		if vd != nil && vd.replayOf != "" {
			sender = vd.replayOf
		}
		v.reserveStack(k, sender)
		var val any
		var res Result
		var reason string
		if lim := v.maxSize[k]; lim > 0 && len(msg.Data) > lim {
			res, reason = Reject, ReasonOversize
		} else {
			val, res, reason = fn(ctx, sender, msg.Data)
		}
		if v.outcome != nil && res != Accept {
			// from, not sender: a replay's outcome is its replayer's to
			// count (it is never parked again).
			v.outcome(k, from, res, reason, msg.Data)
		}
		if vd != nil {
			vd.result, vd.reason = res, reason
		}
		switch res {
		case Accept:
			msg.ValidatorData = val
			v.m.accepted[k].Inc()
		case Reject:
			v.m.results.WithLabelValues(k.String(), "reject").Inc()
			v.m.rejected.WithLabelValues(k.String(), reason).Inc()
		default:
			v.m.results.WithLabelValues(k.String(), "ignore").Inc()
			v.m.ignored.WithLabelValues(k.String(), reason).Inc()
		}
		if v.hook != nil {
			v.hook(ValidationEvent{Kind: k, From: from, Local: local, Result: res, Reason: reason})
		}
		return res
	}
}

// verifySigs checks req's items (from newRequest; verifySigs releases
// it): in a batch when the message came from a peer and a batcher runs,
// otherwise here. ok is false when ctx ended before the batch answered.
func (v *validators) verifySigs(ctx context.Context, from peer.ID, req *sigRequest) (valid []bool, ok bool) {
	switch {
	case from == v.self:
		// A local publish is one message at a time from a caller waiting
		// for it: a batch would only delay it. (A parked message comes
		// back with its sender, and replays go in bursts: they batch.)
	case v.batch == nil:
		v.m.sigInline[inlineDisabled].Inc()
	default:
		return v.batch.verify(ctx, from, req)
	}
	return req.verifyInline(), true
}

// A validator runs on a goroutine of its own, whose stack starts small (2
// KiB, or the runtime's running average of stacks in use, which blocked
// validators keep low) and grows by doubling as the signature arithmetic
// goes deeper: copied each time, with every frame on it adjusted. For a
// verification that is three copies, which cost about a tenth of the
// verification under a burst. reserveStack grows it in one step, from the
// validator's first frame, where the copy is cheapest.
// stackVerify is what a single verification needs: 16 KiB in all.
const stackVerify = 12 << 10

// reserveStack makes room on the stack for what a message of kind k from
// from will need: verifying its signatures here, or, when they go to the
// batcher (whose workers do the arithmetic on their own, long grown
// stacks), decoding the message and queuing them, which still outgrows a
// 2 KiB stack once, deep in the decoder. Grown here instead, that copy
// took a validator of a burst of bitfields from 3.7 to 2.7 us of CPU
// (BenchmarkBitfieldBurstVsRaw's batch mode, profiled). Other kinds need
// no reserve.
func (v *validators) reserveStack(k Kind, from peer.ID) {
	if k == KindBitfield || k == KindBackedCandidate {
		if from == v.self || v.batch == nil {
			reserve12K()
		} else {
			reserve2K()
		}
	}
}

// reserve2K is reserve12K for a validator that queues its signatures.
//
//go:noinline
func reserve2K() byte {
	var buf [2 << 10]byte
	buf[stackIdx] = 1
	return buf[stackIdx]
}

// stackIdx is always 0; the compiler cannot tell, so it keeps the array
// below whole on the stack.
var stackIdx int

//go:noinline
func reserve12K() byte {
	var buf [stackVerify]byte
	buf[stackIdx] = 1
	return buf[stackIdx]
}

// sigRecorder is a types.Verifier that checks nothing: it records what
// would be verified, so that the types package builds the signing payloads
// (one definition of what is signed) and the signatures are checked later,
// batched. Its Verify says true, so the caller's result only speaks for
// the checks other than the signatures.
type sigRecorder struct {
	key   *types.PublicKey
	items *[]sigItem
}

func (r sigRecorder) Verify(payload []byte, sig [64]byte) bool {
	*r.items = append(*r.items, sigItem{key: r.key, payload: payload, sig: sig})
	return true
}

// validateBitfield judges data as a local publish: the signature is
// checked here, never batched.
func (v *validators) validateBitfield(data []byte) (any, Result, string) {
	return v.validateBitfieldFrom(context.Background(), v.self, data)
}

// validateBitfieldFrom judges a bitfield from a peer: every cheap check
// first, the dedupe check before the signature (which may be batched) and
// the dedupe entry after it, as validateBitfield always did.

func (v *validators) validateBitfieldFrom(ctx context.Context, from peer.ID, data []byte) (any, Result, string) {
	m := new(BitfieldMessage)
	if err := types.DecodeOwned(data, m, v.lim.Bitfield); err != nil {
		return nil, Reject, decodeReason(err)
	}
	leaf, ok := v.chain.Leaf(m.RelayParent)
	if !ok {
		return nil, Ignore, ReasonNotActiveLeaf
	}
	bf := &m.Bitfield
	if int64(bf.ValidatorIndex) >= int64(len(leaf.Validators)) {
		return nil, Reject, ReasonValidatorIndex
	}
	if bf.Payload.Len != leaf.NumCores {
		return nil, Reject, ReasonBitfieldLength
	}
	// Only verified bitfields enter the dedupe state, so a forged one can
	// never shadow the real one; checking first spares a verification.
	key := v.keys.get(leaf.Validators[bf.ValidatorIndex])
	reason := v.dedupe.seenBitfield(m.RelayParent, bf)
	if reason == ReasonDuplicate {
		// An exact duplicate needs no check: it carries nothing new.
		return nil, Ignore, reason
	}
	// A second, different bitfield is checked before it is ignored: a
	// forged one is provably bad and costs its sender (P4), where an
	// unchecked Ignore would make forging free.
	if key == nil {
		return nil, Reject, ReasonBadSignature // nothing verifies under it
	}
	// The item and its signing payload are the pooled request's: the
	// payload is the one bf.Verify would check.
	req := newRequest()
	sc := types.SigningContext{SessionIndex: leaf.Session, ParentHash: m.RelayParent}
	req.buf = types.AppendBitfieldSigningPayload(req.buf[:0], bf.Payload, sc)
	req.setOne(key, req.buf, (*[64]byte)(&bf.Signature))
	valid, ok := v.verifySigs(ctx, from, req)
	switch {
	case !ok:
		return nil, Ignore, ReasonVerifyTimeout
	case !valid[0]:
		return nil, Reject, ReasonBadSignature
	case reason != "":
		return nil, Ignore, reason
	}
	if reason := v.dedupe.addBitfield(m.RelayParent, len(leaf.Validators), bf); reason != "" {
		return nil, Ignore, reason
	}
	return m, Accept, ""
}

// validateBacked judges data as a local publish: the votes are checked
// here, never batched.
func (v *validators) validateBacked(data []byte) (any, Result, string) {
	return v.validateBackedFrom(context.Background(), v.self, data)
}

// validateBackedFrom: vctx is the validation's context (ctx, as elsewhere,
// is the candidate's backing context).
func (v *validators) validateBackedFrom(vctx context.Context, from peer.ID, data []byte) (any, Result, string) {
	m := new(BackedCandidateMessage)
	if err := types.DecodeOwned(data, m, v.lim.Backed); err != nil {
		return nil, Reject, decodeReason(err)
	}
	c := &m.Candidate
	desc := &c.Candidate.Descriptor
	ctx, ok, res, reason := v.backingContext(m)
	if !ok {
		return nil, res, reason
	}
	_, core, ok := types.ExtractCoreIndex(c.ValidatorIndices)
	if !ok || int64(core) >= int64(ctx.numCores) {
		return nil, Reject, ReasonCoreIndex
	}
	if res, reason := checkDescriptor(&ctx, m, core); res != Accept {
		return nil, res, reason
	}
	group, minVotes, err := ctx.group(core)
	if err != nil || len(group) == 0 {
		return nil, Ignore, ReasonUnknownGroup
	}
	minVotes = max(1, min(minVotes, len(group)))
	// VerifyBacking makes every check but the signatures' here, recording
	// them for verifySigs. It stops at the first vote whose key is
	// missing (ErrValidatorIndex), where checking inline would have
	// stopped at an earlier bad signature: the recorded votes decide which.
	items := make([]sigItem, 0, len(c.ValidityVotes))
	keys := func(vi types.ValidatorIndex) types.Verifier {
		if int64(vi) >= int64(len(ctx.validators)) {
			return nil
		}
		if k := v.keys.get(ctx.validators[vi]); k != nil {
			return sigRecorder{key: k, items: &items}
		}
		return nil
	}
	// The runtime checks backing votes in the context {session of the
	// block's parent's child, parent_hash = the candidate's relay parent}.
	sc := types.SigningContext{SessionIndex: ctx.session, ParentHash: desc.RelayParent}
	_, err = c.VerifyBacking(group, keys, sc, true, core, minVotes)
	if err == nil || (errors.Is(err, types.ErrValidatorIndex) && len(items) > 0) {
		req := newRequest()
		req.items = items
		valid, ok := v.verifySigs(vctx, from, req)
		switch {
		case !ok:
			return nil, Ignore, ReasonVerifyTimeout
		case slices.Contains(valid, false):
			err = types.ErrBadSignature
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, types.ErrNotEnoughVotes):
			return nil, Reject, ReasonNotEnoughVotes
		case errors.Is(err, types.ErrCoreIndexMismatch):
			return nil, Reject, ReasonCoreIndex
		case errors.Is(err, types.ErrValidatorIndex):
			return nil, Reject, ReasonValidatorIndex
		case errors.Is(err, types.ErrBadSignature):
			return nil, Reject, ReasonBadSignature
		}
		return nil, Reject, ReasonVotesMismatch
	}
	// Only verified candidates enter the dedupe state, so a forged copy
	// never shadows the real one. The same candidate with the same votes,
	// sent again for another leaf that allows its relay parent, adds
	// nothing: every such leaf got it with the first copy.
	if !v.dedupe.addCandidate(ctx.leaves, c) {
		return nil, Ignore, ReasonDuplicate
	}
	return m, Accept, ""
}

// Reasons of the backed-candidate checks the runtime's
// sanitize_backed_candidate_v2_v3 makes.
const (
	// Reject: the UMP signals fail the runtime's parse_ump_signals (form,
	// count, V1 with or V3 without signals, or the core they select in
	// the claim queue at the scheduling parent).
	ReasonUMPSignals = "ump_signals"
	// Ignore: a V3 scheduling parent that is not (yet) an allowed relay
	// parent of a leaf that allows the relay parent.
	ReasonSchedulingParent = "scheduling_parent"
)

// backingCtx is what checking a backed candidate's votes needs.
type backingCtx struct {
	session    types.SessionIndex
	validators []types.ValidatorID
	numCores   int
	// leaves are the active leaves the candidate may go into a block on.
	leaves []types.Hash
	group  func(types.CoreIndex) ([]types.ValidatorIndex, int, error)
	// featuresKnown says the view told the session's node features; v3 is
	// their CandidateReceiptV3 bit. Without them (no AncestryView)
	// descriptors are read with the rule from before V3.
	featuresKnown, v3 bool
	// claimQueue is the claim queue at the relay parent (nil: unknown).
	claimQueue map[types.CoreIndex][]types.ParaID
	// relayParent answers AllowedRelayParent for a V3 scheduling parent;
	// nil without an AncestryView.
	relayParent func(types.Hash) (RelayParentInfo, bool)
}

// checkDescriptor is the runtime's sanitize_backed_candidate_v2_v3 as far
// as memory can judge it, given the core injected in validator_indices:
// an unknown version is refused; a V2 or V3 descriptor must name that core
// and the signing session as its session and scheduling session; a V3
// scheduling parent must be an allowed relay parent of a leaf that allows
// the relay parent (until it is, the candidate is ignored: it may be a
// block this node has not seen yet); and the UMP signals must pass
// parse_ump_signals against the claim queue at the scheduling parent.
// Every failure but the scheduling parent's is final, so it is a Reject.
// Without the node features (no AncestryView) the V1-with-signals rule is
// not judged, since a V3 candidate reads as V1 with signals under the
// rule from before V3; the signals' form still is.
func checkDescriptor(ctx *backingCtx, m *BackedCandidateMessage, core types.CoreIndex) (Result, string) {
	c := &m.Candidate.Candidate
	desc := &c.Descriptor
	version := desc.VersionWith(ctx.v3)
	switch version {
	case types.DescriptorUnknown:
		return Reject, ReasonDescriptorVersion
	case types.DescriptorV2, types.DescriptorV3:
		if dc, _ := desc.CoreIndexWith(ctx.v3); dc != core {
			return Reject, ReasonCoreIndex
		}
		ds, _ := desc.SessionIndexWith(ctx.v3)
		ss, _ := desc.SchedulingSession(ctx.v3)
		if ds != ctx.session || ss != ctx.session {
			return Reject, ReasonSession
		}
	}
	cq := ctx.claimQueue
	if sp := desc.SchedulingParent(ctx.v3); sp != desc.RelayParent {
		info, ok := RelayParentInfo{}, false
		if ctx.relayParent != nil {
			info, ok = ctx.relayParent(sp)
		}
		// The runtime wants both parents allowed in the block it builds:
		// only the leaves whose windows hold both can take the candidate.
		var leaves []types.Hash
		if ok {
			for _, l := range ctx.leaves {
				if slices.Contains(info.Leaves, l) {
					leaves = append(leaves, l)
				}
			}
		}
		if len(leaves) == 0 || (m.RelayParent != desc.RelayParent && !slices.Contains(leaves, m.RelayParent)) {
			return Ignore, ReasonSchedulingParent
		}
		ctx.leaves, cq = leaves, info.ClaimQueue
	}
	var err error
	switch {
	case ctx.featuresKnown && cq != nil:
		_, err = types.CheckUMPSignals(&c.Commitments, version, desc.ParaID, core, types.ClaimQueueCores(cq))
	case ctx.featuresKnown || version == types.DescriptorV2:
		// A V2 reading under the rule from before V3 is V2 under both.
		_, err = c.Commitments.ParseUMPSignalsFor(version)
	default:
		_, err = c.Commitments.ParseUMPSignals()
	}
	if err != nil {
		return Reject, ReasonUMPSignals
	}
	return Accept, ""
}

// backingContext resolves the candidate's relay parent. With an
// AncestryView it may be any allowed relay parent of an active leaf, and
// the message's relay parent must be that relay parent or one of those
// leaves; the group is the one assigned to the core at
// relay_parent_number + 1. Without one, both must be the same active leaf
// (the chain view cannot tell other contexts).
func (v *validators) backingContext(m *BackedCandidateMessage) (backingCtx, bool, Result, string) {
	desc := &m.Candidate.Candidate.Descriptor
	if av, ok := v.chain.(AncestryView); ok {
		info, ok := av.AllowedRelayParent(desc.RelayParent)
		if !ok {
			// Not (yet) in any window: judged as without an AncestryView,
			// by the message's leaf, as Leaf judges a leaf not known yet.
			return v.leafContext(m)
		}
		if m.RelayParent != desc.RelayParent && !slices.Contains(info.Leaves, m.RelayParent) {
			// Sent for a leaf whose window does not hold the relay parent.
			return backingCtx{}, false, Ignore, ReasonRelayParent
		}
		at := info.Number + 1
		return backingCtx{
			session: info.Session, validators: info.Validators, numCores: info.NumCores, leaves: info.Leaves,
			group: func(core types.CoreIndex) ([]types.ValidatorIndex, int, error) {
				return av.BackingGroupAt(info.Session, core, at)
			},
			featuresKnown: true, v3: types.CandidateReceiptV3Enabled(info.NodeFeatures),
			claimQueue: info.ClaimQueue, relayParent: av.AllowedRelayParent,
		}, true, Accept, ""
	}
	return v.leafContext(m)
}

// leafContext is the context of a candidate whose relay parent must be the
// message's leaf.
func (v *validators) leafContext(m *BackedCandidateMessage) (backingCtx, bool, Result, string) {
	desc := &m.Candidate.Candidate.Descriptor
	leaf, ok := v.chain.Leaf(m.RelayParent)
	if !ok {
		return backingCtx{}, false, Ignore, ReasonNotActiveLeaf
	}
	if desc.RelayParent != m.RelayParent {
		// The candidate was built on another relay parent (async backing):
		// its votes are signed in a context this view cannot tell.
		return backingCtx{}, false, Ignore, ReasonRelayParent
	}
	return backingCtx{
		session: leaf.Session, validators: leaf.Validators, numCores: leaf.NumCores, leaves: []types.Hash{m.RelayParent},
		group: func(core types.CoreIndex) ([]types.ValidatorIndex, int, error) {
			return v.chain.BackingGroup(m.RelayParent, core)
		},
	}, true, Accept, ""
}

func (v *validators) validateDispute(data []byte) (any, Result, string) {
	set := new(types.DisputeStatementSet)
	if err := types.DecodeOwned(data, set, v.lim.Dispute); err != nil {
		return nil, Reject, decodeReason(err)
	}
	if len(set.Statements) == 0 {
		return nil, Reject, ReasonEmpty
	}
	vals, ok := v.chain.SessionValidators(set.Session)
	if !ok {
		return nil, Ignore, ReasonUnknownSession
	}
	// Cheap checks for every statement before any signature.
	for i := range set.Statements {
		if int64(set.Statements[i].ValidatorIndex) >= int64(len(vals)) {
			return nil, Reject, ReasonValidatorIndex
		}
	}
	// A set can hold a statement from every validator of the session:
	// one batch checks them all in about half the time of single checks,
	// right here (a dispute set is rare and arrives alone, so the batcher
	// would only add a wait).
	items := make([]sigItem, 0, len(set.Statements))
	for i := range set.Statements {
		st := &set.Statements[i]
		key := v.keys.get(vals[st.ValidatorIndex])
		if key == nil || !st.Verify(sigRecorder{key: key, items: &items}, set.CandidateHash, set.Session) {
			// No key, or a statement that cannot be valid whatever its
			// signature (an approval that does not name the candidate).
			return nil, Reject, ReasonBadSignature
		}
	}
	if len(items) == 1 {
		if !items[0].key.Verify(items[0].payload, items[0].sig) {
			return nil, Reject, ReasonBadSignature
		}
		return set, Accept, ""
	}
	bv := types.NewBatchVerifier(len(items))
	for _, it := range items {
		bv.Add(it.key, it.payload, it.sig)
	}
	if _, err := bv.Verify(); err != nil {
		return nil, Reject, ReasonBadSignature
	}
	return set, Accept, ""
}

func (v *validators) validateMisbehavior(data []byte) (any, Result, string) {
	rep := new(types.MisbehaviorReport)
	if err := types.DecodeOwned(data, rep, v.lim.Misbehavior); err != nil {
		return nil, Reject, decodeReason(err)
	}
	if rep.First.Statement.Valid == rep.Second.Statement.Valid {
		return nil, Reject, ReasonNotContradictory
	}
	vals, ok := v.chain.SessionValidators(rep.Session)
	if !ok {
		return nil, Ignore, ReasonUnknownSession
	}
	if int64(rep.ValidatorIndex) >= int64(len(vals)) {
		return nil, Reject, ReasonValidatorIndex
	}
	key := v.keys.get(vals[rep.ValidatorIndex])
	if key == nil {
		return nil, Reject, ReasonBadSignature
	}
	if err := rep.Verify(key); err != nil {
		if errors.Is(err, types.ErrNotContradictory) {
			return nil, Reject, ReasonNotContradictory
		}
		return nil, Reject, ReasonBadSignature
	}
	return rep, Accept, ""
}

func (v *validators) validateAnnouncement(data []byte) (any, Result, string) {
	a := new(BlockAnnouncement)
	if err := types.DecodeOwned(data, a, v.lim.Announcement); err != nil {
		return nil, Reject, decodeReason(err)
	}
	if len(a.Body) > v.lim.AnnouncementBody {
		return nil, Reject, ReasonOversize
	}
	if v.announce != nil {
		if err := v.announce(a); err != nil {
			if errors.Is(err, ErrIgnore) {
				return nil, Ignore, ReasonAnnouncementIgnore
			}
			return nil, Reject, ReasonAnnouncement
		}
	}
	return a, Accept, ""
}

func (v *validators) forKind(k Kind) validateFn {
	switch k {
	case KindBitfield:
		return v.validateBitfieldFrom
	case KindBackedCandidate:
		return v.validateBackedFrom
	}
	// The other topics are rare, and judge their bytes alone.
	fn := v.validateAnnouncement
	switch k {
	case KindDispute:
		fn = v.validateDispute
	case KindMisbehavior:
		fn = v.validateMisbehavior
	}
	return func(_ context.Context, _ peer.ID, data []byte) (any, Result, string) { return fn(data) }
}

// keyCache holds parsed (decompressed) validator keys. A key that does not
// parse is cached as nil: nothing signed by it can verify.
//
// A lookup reads an immutable snapshot with one atomic load, so a burst's
// validators share no lock: a read lock is a shared word written twice per
// message (with the dedupe's, 1.3% of the no-batch validation
// throughput). A key parsed since the last snapshot waits in recent, under
// mu, until the next merge into a new snapshot: when recent has grown to a
// quarter of the snapshot (at least mergeMin), or a lookup finds it there.
// So a session's keys are copied a few times over in all, not once per
// key. Keys are parsed outside mu: a session's first burst parses on every
// core, and no validator waits for another's parse.
type keyCache struct {
	snap   atomic.Pointer[map[types.ValidatorID]*types.PublicKey]
	mu     sync.Mutex
	recent map[types.ValidatorID]*types.PublicKey
}

// maxCachedKeys bounds the cache; past it the cache starts over (sessions
// change slowly, so this only happens after many sessions).
const maxCachedKeys = 1 << 16

// mergeMin is the fewest recent keys that make a merge.
const mergeMin = 64

func (c *keyCache) get(id types.ValidatorID) *types.PublicKey {
	if m := c.snap.Load(); m != nil {
		if k, ok := (*m)[id]; ok {
			return k
		}
	}
	c.mu.Lock()
	k, ok := c.findLocked(id)
	c.mu.Unlock()
	if ok {
		return k
	}
	k, err := types.ParsePublicKey(id)
	if err != nil {
		k = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if got, ok := c.findLocked(id); ok {
		return got // another validator parsed it meanwhile
	}
	if c.lenLocked() >= maxCachedKeys {
		c.snap.Store(nil)
		c.recent = nil
	}
	if c.recent == nil {
		c.recent = make(map[types.ValidatorID]*types.PublicKey)
	}
	c.recent[id] = k
	if len(c.recent) >= max(mergeMin, (c.lenLocked()-len(c.recent))/4) {
		c.mergeLocked()
	}
	return k
}

// findLocked returns id's key if it is cached, merging recent into a new
// snapshot when it was found there.
func (c *keyCache) findLocked(id types.ValidatorID) (*types.PublicKey, bool) {
	if m := c.snap.Load(); m != nil {
		if k, ok := (*m)[id]; ok {
			return k, true
		}
	}
	k, ok := c.recent[id]
	if ok {
		c.mergeLocked()
	}
	return k, ok
}

// lenLocked is how many keys are cached.
func (c *keyCache) lenLocked() int {
	n := len(c.recent)
	if m := c.snap.Load(); m != nil {
		n += len(*m)
	}
	return n
}

// mergeLocked publishes a snapshot with the recent keys in it.
func (c *keyCache) mergeLocked() {
	var snap map[types.ValidatorID]*types.PublicKey
	if m := c.snap.Load(); m != nil {
		snap = *m
	}
	m := make(map[types.ValidatorID]*types.PublicKey, len(snap)+len(c.recent))
	for id, k := range snap {
		m[id] = k
	}
	for id, k := range c.recent {
		m[id] = k
	}
	c.snap.Store(&m)
	c.recent = nil
}

// size is how many keys are cached, and how many of them wait in recent.
func (c *keyCache) size() (all, recent int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lenLocked(), len(c.recent)
}

// dedupe remembers, per relay parent, the bitfield accepted from each
// validator and the backed candidates accepted. It is dropped with the
// leaf (PruneRelayParent or the sweep).
type dedupe struct {
	// bitfields maps each relay parent to its seenBitfields. It is
	// copied on write (a relay parent added or pruned, a few times a
	// block) and read with one atomic load, and the tables are filled by
	// compare-and-swap: a burst's validators (a thousand, woken together
	// when a batch answers) share no lock and write no shared word but
	// their own slot. One mutex around all the entries cost 1.4 us of CPU
	// per bitfield in contention; read locks around the map (with the key
	// cache's), 1.3% of the no-batch validation throughput. bmu
	// serialises the writers.
	bmu       sync.Mutex
	bitfields atomic.Pointer[map[types.Hash]*seenBitfields]

	cmu sync.Mutex
	// cands holds, per active leaf, the backed candidates accepted for it,
	// keyed by candidate hash and votes (validator_indices), so that the
	// copies of one single-vote statement merged by a backing pool are not
	// taken for duplicates.
	cands map[types.Hash]map[candidateKey]struct{}
}

// seenBitfields is one relay parent's accepted bitfields, by validator
// index: each slot points to the payload of the accepted message, which
// nobody writes once it is accepted (gossipsub hands it on, the
// provisioner only reads it), so that remembering it copies nothing.
type seenBitfields struct {
	slots []atomic.Pointer[types.BitVec]
	// over holds indices past slots, under mu: a relay parent's
	// validator set does not grow, but a chain view that reported it
	// shorter first must not make a bitfield unremembered.
	mu   sync.Mutex
	over map[types.ValidatorIndex]*types.BitVec
}

// slot returns where the bitfield of validator i is kept, nil for an
// index past the slots.
func (t *seenBitfields) slot(i types.ValidatorIndex) *atomic.Pointer[types.BitVec] {
	if int64(i) < int64(len(t.slots)) {
		return &t.slots[i]
	}
	return nil
}

// load returns the payload accepted from validator i (nil: none).
func (t *seenBitfields) load(i types.ValidatorIndex) *types.BitVec {
	if s := t.slot(i); s != nil {
		return s.Load()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.over[i]
}

// store keeps p for validator i unless one is kept already, and returns
// the one kept.
func (t *seenBitfields) store(i types.ValidatorIndex, p *types.BitVec) *types.BitVec {
	if s := t.slot(i); s != nil {
		if s.CompareAndSwap(nil, p) {
			return p
		}
		return s.Load()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if got, ok := t.over[i]; ok {
		return got
	}
	if t.over == nil {
		t.over = make(map[types.ValidatorIndex]*types.BitVec)
	}
	t.over[i] = p
	return p
}

func (t *seenBitfields) size() int {
	n := 0
	for i := range t.slots {
		if t.slots[i].Load() != nil {
			n++
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return n + len(t.over)
}

type candidateKey struct {
	hash    types.Hash
	indices string
}

// maxCandidatesPerLeaf bounds the dedupe entries of one leaf; past it the
// leaf's candidates are no longer deduplicated here (gossipsub's own seen
// cache still drops identical messages).
const maxCandidatesPerLeaf = 4096

// addCandidate records c for every leaf and reports whether one of them
// had not seen it yet.
func (d *dedupe) addCandidate(leaves []types.Hash, c *types.BackedCandidate) bool {
	key := candidateKey{hash: c.Hash(), indices: string(types.Encode(&c.ValidatorIndices))}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	fresh := false
	for _, l := range leaves {
		if d.cands == nil {
			d.cands = make(map[types.Hash]map[candidateKey]struct{})
		}
		m := d.cands[l]
		if m == nil {
			m = make(map[candidateKey]struct{})
			d.cands[l] = m
		}
		if _, ok := m[key]; ok {
			continue
		}
		fresh = true
		if len(m) < maxCandidatesPerLeaf {
			m[key] = struct{}{}
		}
	}
	return fresh || len(leaves) == 0
}

// seenBitfield reports why bf is redundant ("" when it is not).
func (d *dedupe) seenBitfield(rp types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) string {
	t := d.lookup(rp)
	if t == nil {
		return ""
	}
	return redundancy(t.load(bf.ValidatorIndex), bf)
}

// redundancy says why bf is redundant given the payload got accepted from
// its validator (nil: none, so it is not).
func redundancy(got *types.BitVec, bf *types.UncheckedSignedAvailabilityBitfield) string {
	switch {
	case got == nil:
		return ""
	case bytes.Equal(got.Bytes, bf.Payload.Bytes):
		return ReasonDuplicate
	}
	return ReasonSecondBitfield
}

// addBitfield records bf (of a message that is accepted if it returns "",
// and then no longer written) unless one from its validator got there
// first. validators is the size of the relay parent's validator set.
func (d *dedupe) addBitfield(rp types.Hash, validators int, bf *types.UncheckedSignedAvailabilityBitfield) string {
	t := d.table(rp, validators)
	if got := t.store(bf.ValidatorIndex, &bf.Payload); got != &bf.Payload {
		return redundancy(got, bf)
	}
	return ""
}

// lookup returns rp's seenBitfields, nil if it has none.
func (d *dedupe) lookup(rp types.Hash) *seenBitfields {
	if m := d.bitfields.Load(); m != nil {
		return (*m)[rp]
	}
	return nil
}

// table returns rp's seenBitfields, made with room for validators.
func (d *dedupe) table(rp types.Hash, validators int) *seenBitfields {
	if t := d.lookup(rp); t != nil {
		return t
	}
	d.bmu.Lock()
	defer d.bmu.Unlock()
	if t := d.lookup(rp); t != nil {
		return t
	}
	t := &seenBitfields{slots: make([]atomic.Pointer[types.BitVec], max(validators, 0))}
	d.swapBitfields(func(m map[types.Hash]*seenBitfields) { m[rp] = t })
	return t
}

// swapBitfields replaces the relay-parent map by a copy that edit
// changed. Call it with bmu held.
func (d *dedupe) swapBitfields(edit func(map[types.Hash]*seenBitfields)) {
	var old map[types.Hash]*seenBitfields
	if m := d.bitfields.Load(); m != nil {
		old = *m
	}
	m := make(map[types.Hash]*seenBitfields, len(old)+1)
	for rp, t := range old {
		m[rp] = t
	}
	edit(m)
	d.bitfields.Store(&m)
}

func (d *dedupe) prune(rp types.Hash) {
	d.bmu.Lock()
	if d.lookup(rp) != nil {
		d.swapBitfields(func(m map[types.Hash]*seenBitfields) { delete(m, rp) })
	}
	d.bmu.Unlock()
	d.cmu.Lock()
	delete(d.cands, rp)
	d.cmu.Unlock()
}

func (d *dedupe) relayParents() []types.Hash {
	var out []types.Hash
	if m := d.bitfields.Load(); m != nil {
		for rp := range *m {
			out = append(out, rp)
		}
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	for rp := range d.cands {
		if !slices.Contains(out, rp) {
			out = append(out, rp)
		}
	}
	return out
}

// size is how many bitfields are remembered for rp.
func (d *dedupe) size(rp types.Hash) int {
	t := d.lookup(rp)
	if t == nil {
		return 0
	}
	return t.size()
}
