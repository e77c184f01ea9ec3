package provisioner

import (
	"slices"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// job is the Block Authorship Provisioning Job of one active leaf: the
// leaf's chain state, the bitfields and candidates provided for it so far,
// the requests waiting for PRE_PROPOSE and the block authors subscribed to
// it. Every bound on what it keeps is enforced when data arrives, so its
// memory is bounded by the leaf's validators, cores and the configured
// limits. (Dispute votes outlive leaves and are kept by the Provisioner.)
type job struct {
	leaf    ActivatedLeaf
	readyAt time.Time
	waiters []chan<- InherentResponse
	subs    []*Subscription

	// Chain state at the leaf, loaded once (it never changes).
	loaded    bool
	retryAt   time.Time // after a failed load, no new attempt before this
	header    types.Header
	cores     []types.CoreState
	occupied  []byte           // bit c set: core c is Occupied
	coreParas [][]types.ParaID // paras a block on the leaf may back on each core
	// paraCoreList are the cores each para may use.
	paraCoreList map[types.ParaID][]int
	sess         *session
	allowed      map[types.Hash]types.BlockNumber
	// claimQueues are the claim-queue snapshots of the allowed relay
	// parents other than the leaf (whose snapshot is backing.ClaimQueue);
	// a nil entry is one the chain view cannot tell.
	claimQueues map[types.Hash]map[types.CoreIndex][]types.ParaID
	backing     BackingState
	paras       map[types.ParaID]*paraState
	votes       *voteFilter

	onchainLoaded bool
	onchain       map[DisputeKey]OnChainDispute
	// included caches ChainView.IncludedAt: for every dispute asked about,
	// its inclusion height, or nil for a remote one. The leaf's chain never
	// changes, so each dispute is asked about once per leaf.
	included map[DisputeKey]*types.BlockNumber

	// At most one bitfield per validator: the first with the most set bits.
	bitfields []heldBitfield
	// Backed candidates, in arrival order, per para at most
	// MaxCandidatesPerDepth at each depth of its tree (and as many not yet
	// connected), evicted by candidate hash.
	candidates []*heldCandidate
	byHash     map[types.Hash]*heldCandidate
}

type heldBitfield struct {
	bf   *types.UncheckedSignedAvailabilityBitfield
	ones int
}

// session is a cached SessionInfo with what the provisioner derives from it.
type session struct {
	index      types.SessionIndex
	info       SessionInfo
	groupSizes map[int]bool
	verifiers  []types.Verifier // parsed lazily
	// v3 is the session's CandidateReceiptV3 node feature: it decides how
	// every descriptor read in the session is versioned. featuresLoaded
	// says it was fetched (only jobs need it, not dispute statements).
	v3             bool
	featuresLoaded bool
}

func newSession(idx types.SessionIndex, info SessionInfo) *session {
	s := &session{index: idx, info: info, groupSizes: make(map[int]bool)}
	for _, g := range info.Groups {
		s.groupSizes[len(g)] = true
	}
	return s
}

func (s *session) validators() int { return len(s.info.Validators) }

// verifier parses validator v's key once; nil if v is out of range or the
// key does not parse.
func (s *session) verifier(v types.ValidatorIndex, parse func(types.ValidatorID) (types.Verifier, error)) types.Verifier {
	if int64(v) >= int64(len(s.info.Validators)) {
		return nil
	}
	if s.verifiers == nil {
		s.verifiers = make([]types.Verifier, len(s.info.Validators))
	}
	if s.verifiers[v] == nil {
		k, err := parse(s.info.Validators[v])
		if err != nil {
			return nil
		}
		s.verifiers[v] = k
	}
	return s.verifiers[v]
}

// init installs the leaf's chain state and derives the per-core and
// per-para facts that feeding checks against.
func (j *job) init(header types.Header, cores []types.CoreState, sess *session, allowed []RelayParent, bs BackingState) {
	j.loaded = true
	j.header, j.cores, j.sess, j.backing = header, cores, sess, bs
	j.occupied = make([]byte, (len(cores)+7)/8)
	j.coreParas = make([][]types.ParaID, len(cores))
	j.paraCoreList = make(map[types.ParaID][]int)
	for c := range cores {
		cs := &cores[c]
		switch cs.Kind {
		case types.CoreScheduled:
			j.coreParas[c] = []types.ParaID{cs.Scheduled.ParaID}
		case types.CoreOccupied:
			j.occupied[c/8] |= 1 << (c % 8)
			if oc := cs.Occupied; oc != nil {
				if oc.NextUpOnAvailable != nil {
					j.coreParas[c] = append(j.coreParas[c], oc.NextUpOnAvailable.ParaID)
				}
				if oc.NextUpOnTimeOut != nil && !slices.Contains(j.coreParas[c], oc.NextUpOnTimeOut.ParaID) {
					j.coreParas[c] = append(j.coreParas[c], oc.NextUpOnTimeOut.ParaID)
				}
			}
		}
		if !bs.ParasUnknown {
			// A core also serves every para its claim queue holds: a
			// candidate for a later claim is kept for the leaves to come.
			for _, para := range bs.ClaimQueue[types.CoreIndex(c)] {
				if !slices.Contains(j.coreParas[c], para) {
					j.coreParas[c] = append(j.coreParas[c], para)
				}
			}
		}
		for _, para := range j.coreParas[c] {
			j.paraCoreList[para] = append(j.paraCoreList[para], c)
		}
	}
	j.allowed = make(map[types.Hash]types.BlockNumber, len(allowed)+1)
	j.claimQueues = make(map[types.Hash]map[types.CoreIndex][]types.ParaID, len(allowed))
	for _, rp := range allowed {
		j.allowed[rp.Hash] = rp.Number
		j.claimQueues[rp.Hash] = rp.ClaimQueue
	}
	j.allowed[j.leaf.Hash] = j.leaf.Number
	j.paras = make(map[types.ParaID]*paraState, len(j.paraCoreList))
	if bs.ParasUnknown {
		for para, cs := range j.paraCoreList {
			j.paras[para] = &paraState{depthCap: len(cs)}
		}
	} else {
		depth := make(map[types.ParaID]int)
		for _, q := range bs.ClaimQueue {
			for _, para := range q {
				depth[para]++
			}
		}
		for para, cons := range bs.Paras {
			if depth[para] == 0 {
				continue
			}
			ps := &paraState{cons: &cons, depthCap: depth[para], minRelayParent: cons.MinRelayParentNumber,
				tip: types.Blake2_256(cons.RequiredParent)}
			if n := len(cons.PendingAvailability); n > 0 {
				last := cons.PendingAvailability[n-1]
				ps.tip = last.HeadHash
				// Relay parents never move backwards along a chain.
				ps.minRelayParent = max(ps.minRelayParent, last.RelayParentNumber)
			}
			j.paras[para] = ps
		}
	}
	mbv := bs.MinimumBackingVotes
	if mbv <= 0 {
		mbv = DefaultMinimumBackingVotes
	}
	j.votes = &voteFilter{groups: sess.info.Groups, rotation: bs.Rotation, minVotes: mbv}
	if len(bs.Disabled) > 0 {
		j.votes.disabled = make(map[types.ValidatorIndex]bool, len(bs.Disabled))
		for _, v := range bs.Disabled {
			j.votes.disabled[v] = true
		}
	}
	j.bitfields = make([]heldBitfield, sess.validators())
	j.byHash = make(map[types.Hash]*heldCandidate)
}

// claimQueueAt is the claim-queue snapshot of an allowed relay parent;
// false when the chain view cannot tell it (a replay, or a view without
// snapshots of the leaf's ancestors).
func (j *job) claimQueueAt(rp types.Hash) (map[types.CoreIndex][]types.ParaID, bool) {
	if rp == j.leaf.Hash {
		return j.backing.ClaimQueue, !j.backing.ParasUnknown
	}
	cq, ok := j.claimQueues[rp]
	return cq, ok && cq != nil
}

// Discard reasons (the "reason" label of the discarded-data metric).
const (
	reasonValidatorIndex   = "validator_index"
	reasonLength           = "length"
	reasonMalformed        = "malformed"
	reasonUnoccupied       = "unoccupied_core"
	reasonSuperseded       = "superseded"
	reasonDuplicate        = "duplicate"
	reasonRelayParent      = "relay_parent"
	reasonHeadMismatch     = "head_mismatch"
	reasonValidationData   = "validation_data"
	reasonCoreMismatch     = "core_mismatch"
	reasonWrongCore        = "wrong_core"
	reasonNoCore           = "no_core"
	reasonParaFull         = "para_full"
	reasonTooDeep          = "too_deep"
	reasonNoValidationData = "no_validation_data"
	reasonOldRelayParent   = "old_relay_parent"
	reasonHeadTooLarge     = "head_too_large"
	reasonCodeTooLarge     = "code_too_large"
	reasonCodeHash         = "code_hash"
	reasonUnknownSession   = "unknown_session"
	reasonAncientSession   = "ancient_session"
	reasonDisputeLimit     = "dispute_limit"
	reasonBadSignature     = "bad_signature"
	reasonInvalidProof     = "invalid_proof"
	// The runtime's sanitize_backed_candidate_v2_v3.
	reasonDescriptorVersion = "descriptor_version"
	reasonSchedulingParent  = "scheduling_parent"
	reasonSession           = "session"
	// The runtime's parse_ump_signals, one reason per
	// CommittedCandidateReceiptError.
	reasonUMPWithV1       = "ump_signal_with_v1"
	reasonNoUMPWithV3     = "no_ump_signal_with_v3"
	reasonUMPTooMany      = "ump_too_many_signals"
	reasonUMPDuplicate    = "ump_duplicate_signal"
	reasonUMPDecode       = "ump_signal_decode"
	reasonUMPNoAssignment = "ump_no_assignment"
	reasonUMPInvalidCore  = "ump_invalid_core_index"
	reasonUMPCoreMismatch = "ump_core_index_mismatch"
	reasonUMPOther        = "ump_signals"
)

// addBitfield keeps bf if it is the validator's best so far. It applies
// Polkadot's bitfield selection on arrival, which gives the same result as
// applying it to every bitfield at request time: a bitfield of the wrong
// length or with a bit on a core that is not occupied is dropped, and a
// validator's bitfield is replaced only by one with strictly more set bits
// (so among equals the first stays).
func (j *job) addBitfield(bf *types.UncheckedSignedAvailabilityBitfield) string {
	if int64(bf.ValidatorIndex) >= int64(len(j.bitfields)) {
		return reasonValidatorIndex
	}
	if bf.Payload.Len != len(j.cores) {
		return reasonLength
	}
	if len(bf.Payload.Bytes) != len(j.occupied) {
		return reasonMalformed
	}
	for i, b := range bf.Payload.Bytes {
		// Padding bits past the length are never occupied either, so a
		// non-canonical payload is refused here too.
		if b&^j.occupied[i] != 0 {
			return reasonUnoccupied
		}
	}
	ones := bf.Payload.CountOnes()
	held := &j.bitfields[bf.ValidatorIndex]
	if held.bf != nil && ones <= held.ones {
		return reasonSuperseded
	}
	*held = heldBitfield{bf: bf, ones: ones}
	return ""
}

// selectedBitfields are the kept bitfields in ascending validator order.
func (j *job) selectedBitfields() []types.UncheckedSignedAvailabilityBitfield {
	n := 0
	for i := range j.bitfields {
		if j.bitfields[i].bf != nil {
			n++
		}
	}
	out := make([]types.UncheckedSignedAvailabilityBitfield, 0, n)
	for i := range j.bitfields {
		if b := j.bitfields[i].bf; b != nil {
			out = append(out, *b)
		}
	}
	return out
}
