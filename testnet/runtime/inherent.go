package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Reasons an inherent item is filtered (Outcome.Filtered keys besides the
// dispute ones of disputes.go).
const (
	BitfieldLength       = "bitfield_length"
	BitfieldDisputedCore = "bitfield_disputed_core"
	BitfieldOrder        = "bitfield_order"
	BitfieldIndex        = "bitfield_validator_index"
	BitfieldSignature    = "bitfield_signature"
	BitfieldOverWeight   = "bitfield_over_weight"
	BitfieldFrozen       = "bitfield_chain_frozen"

	CandidateOverWeight       = "candidate_over_weight"
	CandidateFrozen           = "candidate_chain_frozen"
	CandidateSessionChange    = "candidate_session_change_pending"
	CandidateUnknownPara      = "candidate_unknown_para"
	CandidateUnknownVersion   = "candidate_unknown_version"
	CandidateRelayParent      = "candidate_relay_parent_not_allowed"
	CandidateUMPSignals       = "candidate_ump_signals"
	CandidateSession          = "candidate_session"
	CandidateCoreIndex        = "candidate_core_index"
	CandidateDuplicate        = "candidate_duplicate"
	CandidateParentHead       = "candidate_parent_head"
	CandidateCodeHash         = "candidate_validation_code_hash"
	CandidateParaHead         = "candidate_para_head"
	CandidateHeadSize         = "candidate_head_size"
	CandidateCodeSize         = "candidate_code_size"
	CandidateCodeUpgrade      = "candidate_code_upgrade_restricted"
	CandidateContext          = "candidate_relay_parent_moved_backwards"
	CandidateDisputedInvalid  = "candidate_concluded_invalid"
	CandidateCoreNotEligible  = "candidate_core_not_eligible"
	CandidateDisabledBackers  = "candidate_disabled_backers"
	CandidateDisabledStripped = "candidate_disabled_votes_stripped"
	CandidateAfterDropped     = "candidate_after_dropped_in_chain"
	// Reordered: nothing is filtered but the runtime orders the items
	// differently (candidates by para, disputes by dispute_ordering_compare).
	Reordered = "reordered"
)

// Why a pending candidate left its core without being included.
const (
	DropTimedOut      = "timed_out"
	DropDisputed      = "disputed"
	DropSessionChange = "session_change"
)

// DroppedCandidate is a pending candidate freed without inclusion.
type DroppedCandidate struct {
	Para   types.ParaID
	Hash   types.Hash
	Core   types.CoreIndex
	Reason string
}

// CandidateEvent names a candidate backed or included by the block.
type CandidateEvent struct {
	Para types.ParaID
	Core types.CoreIndex
	Hash types.Hash
}

// Outcome is what a block's inherent did (the runtime's events).
type Outcome struct {
	Number         types.BlockNumber
	SessionChanged bool
	Bitfields      int
	Backed         []CandidateEvent
	Included       []CandidateEvent
	// Dropped are pending candidates freed by a timeout, a dispute or the
	// session change, in that order of processing.
	Dropped []DroppedCandidate
	// Filtered counts the inherent's items create_inherent leaves out, by
	// reason; Enter refuses an inherent for which it is not empty (a
	// statement dropped from a kept dispute set counts too).
	Filtered map[string]int
	// Weight is the kept inherent's weight (InherentWeight).
	Weight              Weight
	DisputesImported    int
	MissingBackingVotes []types.Hash
	Slashed             []Offence
	Frozen              bool
}

// FilteredError is the error Enter returns for an inherent that
// create_inherent would change; it matches ErrInherentDataFiltered.
type FilteredError struct {
	Reasons map[string]int
}

func (e *FilteredError) Error() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.Reasons)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, e.Reasons[k]))
	}
	return fmt.Sprintf("%s (%s)", ErrInherentDataFiltered, strings.Join(parts, " "))
}

func (e *FilteredError) Unwrap() error { return ErrInherentDataFiltered }

// CreateInherent is create_inherent: the inherent a block on parentHeader
// (whose post-state is parent) would carry given the candidate data inh,
// with everything the runtime filters removed and in the runtime's order;
// with the state it leads to and what the block did. An error means the
// runtime could not build the block at all (create_inherent returns None):
// a parent-header mismatch, or a sanitized candidate with a bad backing.
func (rt *Runtime) CreateInherent(parent *State, parentHeader *types.Header, inh *types.InherentData) (*types.InherentData, *State, *Outcome, error) {
	return rt.process(parent, parentHeader, inh)
}

// Enter is enter: it runs the inherent and refuses it, with a
// *FilteredError, when create_inherent would have changed it.
func (rt *Runtime) Enter(parent *State, parentHeader *types.Header, inh *types.InherentData) (*State, *Outcome, error) {
	kept, st, out, err := rt.process(parent, parentHeader, inh)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(types.Encode(kept), types.Encode(inh)) {
		if len(out.Filtered) == 0 {
			out.Filtered[Reordered] = 1
		}
		return nil, nil, &FilteredError{Reasons: out.Filtered}
	}
	return st, out, nil
}

// PVD is Polkadot's PersistedValidationData (its SCALE encoding and hash
// are the provisioner's).
type PVD struct {
	ParentHead             []byte
	RelayParentNumber      types.BlockNumber
	RelayParentStorageRoot types.Hash
	MaxPoVSize             uint32
}

// Encode writes the SCALE encoding.
func (p *PVD) Encode(w *codec.Writer) {
	w.VecU8(p.ParentHead)
	w.U32(p.RelayParentNumber)
	w.Raw(p.RelayParentStorageRoot[:])
	w.U32(p.MaxPoVSize)
}

// Hash is what a descriptor's persisted_validation_data_hash must be.
func (p *PVD) Hash() types.Hash { return types.Blake2_256(types.Encode(p)) }

// PersistedValidationData is the validation data of a candidate building
// on parentHead at the relay parent rp.
func (rt *Runtime) PersistedValidationData(parentHead []byte, rpNumber types.BlockNumber, rpStateRoot types.Hash) PVD {
	return PVD{ParentHead: parentHead, RelayParentNumber: rpNumber, RelayParentStorageRoot: rpStateRoot, MaxPoVSize: rt.cfg.MaxPoVSize}
}

func (rt *Runtime) process(parent *State, ph *types.Header, inh *types.InherentData) (*types.InherentData, *State, *Outcome, error) {
	if inh == nil || parent == nil || ph == nil {
		return nil, nil, nil, fmt.Errorf("%w: missing inherent, state or header", ErrInvalidParentHeader)
	}
	parentHash := ph.Hash()
	if got := inh.ParentHeader.Hash(); got != parentHash {
		return nil, nil, nil, fmt.Errorf("%w: inherent names %s, block builds on %s", ErrInvalidParentHeader, got, parentHash)
	}
	if parent.Number != ph.Number {
		return nil, nil, nil, fmt.Errorf("%w: state of block %d, header %d", ErrStateMismatch, parent.Number, ph.Number)
	}
	now := ph.Number + 1
	st := parent.Clone()
	st.Number = now
	out := &Outcome{Number: now, Filtered: map[string]int{}}
	drop := func(reason string) { out.Filtered[reason]++ }
	// The initializer applies a buffered session change before the
	// inherent runs.
	if rt.isSessionStart(now) {
		rt.newSession(st, now, out)
	}
	rt.updateTracker(st, RelayParentInfo{Hash: parentHash, Number: ph.Number, StateRoot: ph.StateRoot, AssignerNext: parent.AssignerNext})
	kept := &types.InherentData{ParentHeader: inh.ParentHeader}
	limit := rt.cfg.MaxBlockWeight
	r := newRNG(parentHash)

	// Disputes first: they are the most important to get in.
	sets := sortDisputes(st, inh.Disputes)
	for range len(inh.Disputes) - len(sets) {
		drop(DisputeDuplicate)
	}
	checked, disputesWeight := rt.limitDisputes(st, now, sets, limit, drop)
	cands, bfs, _ := applyWeightLimit(r, inh.BackedCandidates, inh.Bitfields, limit.Sub(disputesWeight))
	for range len(inh.BackedCandidates) - len(cands) {
		drop(CandidateOverWeight)
	}
	for range len(inh.Bitfields) - len(bfs) {
		drop(BitfieldOverWeight)
	}
	for i := range checked {
		rt.importDispute(st, now, &checked[i], out)
	}
	kept.Disputes = checked
	if st.Frozen {
		// A frozen chain takes disputes only.
		for range bfs {
			drop(BitfieldFrozen)
		}
		for range cands {
			drop(CandidateFrozen)
		}
		out.Weight = InherentWeight(kept)
		return kept, st, out, nil
	}

	// free_disputed: candidates of this session that this block's disputes
	// concluded invalid leave their cores, with their descendants.
	disputed := types.NewBitVec(rt.cfg.Cores)
	for i := range checked {
		set := &checked[i]
		if d := st.dispute(set.Session, set.CandidateHash); set.Session != st.Session || d == nil || !d.ConcludedInvalid() {
			continue
		}
		for pi := range st.Paras {
			p := &st.Paras[pi]
			if k := slices.IndexFunc(p.Pending, func(pc *Pending) bool { return pc.Hash == set.CandidateHash }); k >= 0 {
				for _, pc := range p.Pending[k:] {
					disputed.Set(int(pc.Core), true)
					out.Dropped = append(out.Dropped, DroppedCandidate{Para: p.ID, Hash: pc.Hash, Core: pc.Core, Reason: DropDisputed})
				}
				p.Pending = p.Pending[:k]
			}
		}
	}

	kept.Bitfields = rt.sanitizeBitfields(st, parentHash, bfs, disputed, drop)
	out.Bitfields = len(kept.Bitfields)
	rt.enactAvailable(st, kept.Bitfields, out)

	if pred := rt.timeouts(st, now); pred.checkRequired {
		for pi := range st.Paras {
			p := &st.Paras[pi]
			if k := slices.IndexFunc(p.Pending, func(pc *Pending) bool { return pred.timedOut(pc.BackedIn) }); k >= 0 {
				for _, pc := range p.Pending[k:] {
					out.Dropped = append(out.Dropped, DroppedCandidate{Para: p.ID, Hash: pc.Hash, Core: pc.Core, Reason: DropTimedOut})
				}
				p.Pending = p.Pending[:k]
			}
		}
	}

	if rt.upcomingSessionChange(now) {
		// Nothing is backed, and the claim queue waits, while a session
		// change is buffered.
		for range cands {
			drop(CandidateSessionChange)
		}
	} else {
		backed, err := rt.backCandidates(st, cands, out, drop)
		if err != nil {
			return nil, nil, nil, err
		}
		kept.BackedCandidates = backed
		st.AssignerNext++
	}
	out.Weight = InherentWeight(kept)
	return kept, st, out, nil
}

// sanitizeBitfields is sanitize_bitfields: a bitfield is dropped for a
// wrong length, a bit on a core freed by a dispute, a validator index not
// above the previous kept one, an unknown validator, or a bad signature
// (context: the parent and the current session). A bit on a core with
// nothing pending is not a reason: the runtime ignores such bits.
func (rt *Runtime) sanitizeBitfields(st *State, parentHash types.Hash, bfs []types.UncheckedSignedAvailabilityBitfield,
	disputed types.BitVec, drop func(string)) []types.UncheckedSignedAvailabilityBitfield {
	ctx := types.SigningContext{SessionIndex: st.Session, ParentHash: parentHash}
	freed := disputed.Ones()
	// The signatures the loop below certainly checks are verified first,
	// together (rt.prefetch): those of bitfields that pass the other
	// checks whatever the earlier signatures' verdicts, i.e. whose index
	// is above every earlier such bitfield's (the last kept index is one
	// of those). Any other signature the loop reaches is checked there.
	payloads := make([][]byte, len(bfs))
	items := make([]sigItem, 0, len(bfs))
	highest := -1
	for i := range bfs {
		bf := &bfs[i]
		vi := int(bf.ValidatorIndex)
		if bf.Payload.Len != rt.cfg.Cores || slices.ContainsFunc(freed, bf.Payload.Get) || vi >= len(rt.keys) {
			continue
		}
		payloads[i] = types.BitfieldSigningPayload(bf.Payload, ctx)
		if vi > highest {
			items = append(items, sigItem{Key: rt.keys[vi], Payload: payloads[i], Signature: bf.Signature})
			highest = vi
		}
	}
	memo := rt.prefetch(items)
	var kept []types.UncheckedSignedAvailabilityBitfield
	last := -1
	for i := range bfs {
		bf := &bfs[i]
		vi := int(bf.ValidatorIndex)
		switch {
		case bf.Payload.Len != rt.cfg.Cores:
			drop(BitfieldLength)
		case slices.ContainsFunc(freed, bf.Payload.Get):
			drop(BitfieldDisputedCore)
		case vi <= last:
			drop(BitfieldOrder)
		case vi >= len(rt.keys):
			drop(BitfieldIndex)
		case !rt.verifySig(memo, rt.keys[vi], payloads[i], bf.Signature):
			drop(BitfieldSignature)
		default:
			last = vi
			kept = append(kept, *bf)
		}
	}
	return kept
}

// enactAvailable records the bitfields' availability votes and enacts, per
// para in chain order, every leading candidate with a supermajority: a
// candidate available before its parent waits for it, so a para's head
// only ever moves along its chain.
func (rt *Runtime) enactAvailable(st *State, bfs []types.UncheckedSignedAvailabilityBitfield, out *Outcome) {
	byCore := map[types.CoreIndex]*Pending{}
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			byCore[pc.Core] = pc
		}
	}
	for i := range bfs {
		for _, c := range bfs[i].Payload.Ones() {
			if pc := byCore[types.CoreIndex(c)]; pc != nil {
				pc.Availability.Set(int(bfs[i].ValidatorIndex), true)
			}
		}
	}
	threshold := supermajority(len(rt.cfg.Validators))
	for pi := range st.Paras {
		p := &st.Paras[pi]
		k := 0
		for k < len(p.Pending) && p.Pending[k].Availability.CountOnes() >= threshold {
			pc := p.Pending[k]
			p.Head = pc.Head
			if pc.NewCode != nil {
				p.CodeHash = *pc.NewCode
			}
			p.MostRecentContext = pc.RelayParentNumber
			p.Included++
			st.noteIncluded(st.Session, pc.Hash, st.Number)
			out.Included = append(out.Included, CandidateEvent{Para: p.ID, Core: pc.Core, Hash: pc.Hash})
			k++
		}
		p.Pending = p.Pending[k:]
	}
}

// splitIndices splits validator_indices into the group's bits and the
// injected core (present when more than 8 bits).
func splitIndices(v types.BitVec) (types.BitVec, types.CoreIndex, bool) {
	if v.Len <= 8 {
		return v, 0, false
	}
	return types.ExtractCoreIndex(v)
}

// candidateCheck is one candidate that passed sanitizing, with what
// processing it needs.
type candidateCheck struct {
	bc       types.BackedCandidate
	para     *Para
	core     types.CoreIndex
	rp       RelayParentInfo
	ctx      types.SigningContext
	group    types.GroupIndex
	newCode  *types.Hash
	injected types.CoreIndex
}

// backCandidates is sanitize_backed_candidates then process_candidates.
// Candidates are grouped by para (ascending, input order within a para);
// the first failing check drops a candidate and every later one of its
// para. Backing signatures are checked only afterwards, as
// process_candidates does: a bad one fails the whole block.
func (rt *Runtime) backCandidates(st *State, cands []types.BackedCandidate, out *Outcome, drop func(string)) ([]types.BackedCandidate, error) {
	v3 := rt.v3Enabled()
	byPara := map[types.ParaID][]int{}
	var paras []types.ParaID
	for i := range cands {
		p := cands[i].Candidate.Descriptor.ParaID
		if _, ok := byPara[p]; !ok {
			paras = append(paras, p)
		}
		byPara[p] = append(byPara[p], i)
	}
	sort.Slice(paras, func(i, j int) bool { return paras[i] < paras[j] })

	queue := rt.claimQueueFrom(st.AssignerNext)
	eligible := map[types.ParaID][]types.CoreIndex{}
	occupied := map[types.CoreIndex]bool{}
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			occupied[pc.Core] = true
		}
	}
	totalEligible := 0
	for c := range queue {
		if !occupied[types.CoreIndex(c)] {
			eligible[queue[c][0]] = append(eligible[queue[c][0]], types.CoreIndex(c))
			totalEligible++
		}
	}
	seen := map[types.Hash]bool{}
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			seen[pc.Hash] = true
		}
	}
	minVotes := rt.cfg.MinimumBackingVotes
	var accepted []candidateCheck
	for _, pid := range paras {
		idx := byPara[pid]
		p := st.para(pid)
		if p == nil {
			for range idx {
				drop(CandidateUnknownPara)
			}
			continue
		}
		head := p.Head
		context := p.MostRecentContext
		upgradePending := false
		for _, pc := range p.Pending {
			head, context = pc.Head, pc.RelayParentNumber
			upgradePending = upgradePending || pc.NewCode != nil
		}
		used := map[types.CoreIndex]bool{}
		for k, i := range idx {
			c, reason := rt.checkCandidate(st, &cands[i], p, head, context, upgradePending, eligible[pid], used, seen, v3, minVotes)
			if reason != "" {
				drop(reason)
				for range idx[k+1:] {
					drop(CandidateAfterDropped)
				}
				break
			}
			if len(c.bc.ValidityVotes) != len(cands[i].ValidityVotes) {
				drop(CandidateDisabledStripped)
			}
			used[c.core] = true
			seen[c.bc.Hash()] = true
			head = c.bc.Candidate.Commitments.HeadData
			context = c.rp.Number
			upgradePending = upgradePending || c.newCode != nil
			accepted = append(accepted, c)
		}
	}
	if len(accepted) > totalEligible {
		return nil, fmt.Errorf("%w: %d candidates for %d eligible cores", ErrUnscheduledCandidate, len(accepted), totalEligible)
	}
	groups := rt.groups.get(rt, st.Session)
	// Every vote below is checked unless an earlier candidate fails the
	// block: they are recorded (VerifyBacking builds the payloads) and
	// verified together first.
	var items []sigItem
	for _, c := range accepted {
		group := groups[c.group]
		_, _ = c.bc.VerifyBacking(group, rt.recordingVerifier(&items), c.ctx, true, c.injected, min(minVotes, len(group)))
	}
	keys := rt.checkedVerifier(rt.prefetch(items))
	kept := make([]types.BackedCandidate, 0, len(accepted))
	for _, c := range accepted {
		group := groups[c.group]
		voters, err := c.bc.VerifyBacking(group, keys, c.ctx, true, c.injected, min(minVotes, len(group)))
		if err != nil {
			if errors.Is(err, types.ErrNotEnoughVotes) {
				return nil, fmt.Errorf("%w: candidate %s: %w", ErrInsufficientBacking, c.bc.Hash(), err)
			}
			return nil, fmt.Errorf("%w: candidate %s: %w", ErrInvalidBacking, c.bc.Hash(), err)
		}
		cm := &c.bc.Candidate.Commitments
		pc := &Pending{
			Core: c.core, Hash: c.bc.Hash(), Descriptor: c.bc.Candidate.Descriptor, CommitmentsHash: cm.Hash(),
			Head: slices.Clone(cm.HeadData), NewCode: c.newCode, RelayParentNumber: c.rp.Number,
			BackedIn: st.Number, Availability: types.NewBitVec(len(rt.cfg.Validators)), Backers: voters, Group: c.group,
		}
		c.para.Pending = append(c.para.Pending, pc)
		out.Backed = append(out.Backed, CandidateEvent{Para: c.para.ID, Core: c.core, Hash: pc.Hash})
		kept = append(kept, c.bc)
	}
	return kept, nil
}

// checkCandidate runs the per-candidate sanitizing checks in the runtime's
// order and returns the candidate as kept (disabled votes stripped) or the
// reason it is dropped.
func (rt *Runtime) checkCandidate(st *State, bc *types.BackedCandidate, p *Para, head []byte, context types.BlockNumber,
	upgradePending bool, eligible []types.CoreIndex, used map[types.CoreIndex]bool, seen map[types.Hash]bool,
	v3 bool, minVotes int) (candidateCheck, string) {
	d := &bc.Candidate.Descriptor
	cm := &bc.Candidate.Commitments
	version := d.VersionWith(v3)
	if version == types.DescriptorUnknown {
		return candidateCheck{}, CandidateUnknownVersion
	}
	rp, ok := st.allowedRelayParent(d.RelayParent)
	if !ok {
		return candidateCheck{}, CandidateRelayParent
	}
	sp, ok := st.allowedRelayParent(d.SchedulingParent(v3))
	if !ok {
		return candidateCheck{}, CandidateRelayParent
	}
	descCore, _ := d.CoreIndexWith(v3)
	if _, err := types.CheckUMPSignals(cm, version, p.ID, descCore, transposed(rt.claimQueueFrom(sp.AssignerNext))); err != nil {
		return candidateCheck{}, CandidateUMPSignals
	}
	if version != types.DescriptorV1 {
		s, _ := d.SessionIndexWith(v3)
		ss, _ := d.SchedulingSession(v3)
		if s != ss || ss != st.Session {
			return candidateCheck{}, CandidateSession
		}
	}
	bits, injected, hasInjected := splitIndices(bc.ValidatorIndices)
	core := descCore
	if version == types.DescriptorV1 {
		if !hasInjected {
			return candidateCheck{}, CandidateCoreIndex
		}
		core = injected
	}
	gi, ok := rt.groupForCore(st, core, sp.Number+1)
	if !ok {
		return candidateCheck{}, CandidateCoreIndex
	}
	group := rt.groups.get(rt, st.Session)[gi]
	if !hasInjected || bits.Len != len(group) {
		return candidateCheck{}, CandidateCoreIndex
	}
	hash := bc.Hash()
	if seen[hash] {
		return candidateCheck{}, CandidateDuplicate
	}
	pvd := rt.PersistedValidationData(head, rp.Number, rp.StateRoot)
	var newCode *types.Hash
	switch {
	case d.PersistedValidationDataHash != pvd.Hash():
		return candidateCheck{}, CandidateParentHead
	case d.ValidationCodeHash != p.CodeHash:
		return candidateCheck{}, CandidateCodeHash
	case d.ParaHead != types.Blake2_256(cm.HeadData):
		return candidateCheck{}, CandidateParaHead
	case uint64(len(cm.HeadData)) > uint64(rt.cfg.MaxHeadDataSize):
		return candidateCheck{}, CandidateHeadSize
	case rp.Number < context:
		return candidateCheck{}, CandidateContext
	case cm.NewValidationCode != nil && uint64(len(*cm.NewValidationCode)) > uint64(rt.cfg.MaxCodeSize):
		return candidateCheck{}, CandidateCodeSize
	case cm.NewValidationCode != nil && upgradePending:
		// The para's upgrade restriction: one upgrade in flight per para.
		return candidateCheck{}, CandidateCodeUpgrade
	}
	if cm.NewValidationCode != nil {
		h := types.Blake2_256(*cm.NewValidationCode)
		newCode = &h
	}
	if ds := st.dispute(st.Session, hash); ds != nil && ds.ConcludedInvalid() {
		return candidateCheck{}, CandidateDisputedInvalid
	}
	if !slices.Contains(eligible, core) || used[core] {
		return candidateCheck{}, CandidateCoreNotEligible
	}
	kept := *bc
	if len(st.Disabled) > 0 {
		nb := types.NewBitVec(bits.Len)
		var votes []types.ValidityAttestation
		vote := 0
		for i := 0; i < bits.Len; i++ {
			if !bits.Get(i) {
				continue
			}
			if !st.isDisabled(group[i]) && vote < len(bc.ValidityVotes) {
				nb.Set(i, true)
				votes = append(votes, bc.ValidityVotes[vote])
			}
			vote++
		}
		if len(votes) < min(minVotes, len(group)) {
			return candidateCheck{}, CandidateDisabledBackers
		}
		if len(votes) != len(bc.ValidityVotes) {
			idxs, err := types.InjectCoreIndex(nb, injected)
			if err != nil {
				return candidateCheck{}, CandidateCoreIndex
			}
			kept.ValidityVotes, kept.ValidatorIndices = votes, idxs
		}
	}
	// The backing context is the relay parent in the current session
	// (V3's scheduling-parent context is unverified; the scheduling parent
	// is used, which for V1 and V2 is the relay parent).
	ctx := types.SigningContext{SessionIndex: st.Session, ParentHash: sp.Hash}
	return candidateCheck{bc: kept, para: p, core: core, rp: rp, ctx: ctx, group: gi, newCode: newCode, injected: injected}, ""
}
