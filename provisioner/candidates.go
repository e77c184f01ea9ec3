package provisioner

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// heldCandidate is a backed candidate with the facts selection needs,
// computed once on arrival.
type heldCandidate struct {
	in          *BackedCandidate // as fed, for leaves activated later
	backed      *types.BackedCandidate
	hash        types.Hash
	para        types.ParaID
	relayParent types.Hash
	rpNumber    types.BlockNumber
	// core is the core the candidate is bound to (by a v2 or v3
	// descriptor or an injected core index), or -1 for a v1 candidate,
	// which may take any core of its para.
	core int
	// groupBits are validator_indices without injected core bits;
	// injected says whether 8 core bits follow them.
	groupBits types.BitVec
	injected  bool
	// head is the hash of the head data the candidate produces (para_head);
	// parent the hash of the head it builds on, when known.
	head        types.Hash
	parent      types.Hash
	parentKnown bool
	hasCode     bool
	// depth is the candidate's place in its para's tree: 0 builds on the
	// para's required parent (after what is pending availability), d+1 on
	// a candidate of depth d; -1 is not connected (yet).
	depth int
}

// paraState is what a job keeps per para: where chains start and the
// candidates that may join them.
type paraState struct {
	// cons are the para's backing constraints; nil when the chain view
	// cannot tell them (BackingState.ParasUnknown).
	cons *ParaConstraints
	// tip is the hash of the head a new chain starts on: the head of the
	// last candidate pending availability, else the required parent.
	tip types.Hash
	// minRelayParent is the lowest relay-parent number a new candidate may
	// have.
	minRelayParent types.BlockNumber
	// depthCap is how deep a chain of new candidates may go: the para's
	// claims in the claim queue (or, with unknown constraints, its usable
	// cores). Candidates deeper than that are never kept.
	depthCap int
	cands    []*heldCandidate
}

// count is the number of kept candidates at depth d.
func (ps *paraState) count(d int) int {
	n := 0
	for _, c := range ps.cands {
		if c.depth == d {
			n++
		}
	}
	return n
}

// capAt is how many candidates are kept at depth d: perDepth forks at each
// depth of the tree, and as many unconnected ones as the whole tree holds.
func (ps *paraState) capAt(d, perDepth int) int {
	if d < 0 {
		return perDepth * max(1, ps.depthCap)
	}
	return perDepth
}

// addCandidate checks a backed candidate against the leaf and keeps it
// within the per-para bound.
func (j *job) addCandidate(in *BackedCandidate, perDepth int) string {
	bc := &in.Candidate
	d := &bc.Candidate.Descriptor
	rpNumber, ok := j.allowed[d.RelayParent]
	if !ok {
		return reasonRelayParent
	}
	if len(bc.ValidatorIndices.Bytes) != (bc.ValidatorIndices.Len+7)/8 {
		return reasonMalformed
	}
	if r := j.sanitizeDescriptor(&bc.Candidate); r != "" {
		return r
	}
	core := -1
	// V2 and V3 descriptors name their core; which bytes hold it depends
	// on the session's V3 node feature.
	if ci, ok := d.CoreIndexWith(j.sess.v3); ok {
		core = int(ci)
	}
	groupBits := bc.ValidatorIndices
	injected := false
	// The backing group's size tells whether 8 bits of core index follow the
	// group's bits. Polkadot's groups differ in size by at most one, so the
	// two readings never collide.
	if sizes := j.sess.groupSizes; len(sizes) > 0 {
		switch n := bc.ValidatorIndices.Len; {
		case n >= 8 && sizes[n-8]:
			var ic types.CoreIndex
			groupBits, ic, _ = types.ExtractCoreIndex(bc.ValidatorIndices)
			if core >= 0 && int(ic) != core {
				return reasonCoreMismatch
			}
			core, injected = int(ic), true
		case sizes[n]:
		default:
			return reasonMalformed
		}
	}
	if groupBits.CountOnes() != len(bc.ValidityVotes) || len(bc.ValidityVotes) == 0 {
		return reasonMalformed
	}
	para := d.ParaID
	ps := j.paras[para]
	if core >= 0 && (core >= len(j.cores) || !slices.Contains(j.coreParas[core], para)) {
		return reasonWrongCore
	}
	if ps == nil || (core < 0 && len(j.paraCoreList[para]) == 0) {
		return reasonNoCore
	}
	if types.Blake2_256(bc.Candidate.Commitments.HeadData) != d.ParaHead {
		return reasonHeadMismatch
	}
	h := &heldCandidate{
		in:          in,
		backed:      bc,
		para:        para,
		relayParent: d.RelayParent,
		rpNumber:    rpNumber,
		core:        core,
		groupBits:   groupBits,
		injected:    injected,
		head:        d.ParaHead,
		hasCode:     bc.Candidate.Commitments.NewValidationCode != nil,
		depth:       -1,
	}
	if pvd := in.ValidationData; pvd != nil {
		if pvd.Hash() != d.PersistedValidationDataHash {
			return reasonValidationData
		}
		h.parent, h.parentKnown = pvd.ParentHeadHash(), true
	}
	if cons := ps.cons; cons != nil {
		// What the runtime's verify_backed_candidate and prospective
		// parachains' validate_against_constraints refuse, it refuses here,
		// before the candidate takes room.
		switch {
		case !h.parentKnown:
			// Without the validation data nothing proves which head the
			// candidate builds on.
			return reasonNoValidationData
		case in.ValidationData.RelayParentNumber != rpNumber:
			return reasonValidationData
		case rpNumber < ps.minRelayParent:
			return reasonOldRelayParent
		case uint64(len(bc.Candidate.Commitments.HeadData)) > uint64(cons.MaxHeadDataSize):
			return reasonHeadTooLarge
		case h.hasCode && uint64(len(*bc.Candidate.Commitments.NewValidationCode)) > uint64(cons.MaxCodeSize):
			return reasonCodeTooLarge
		case d.ValidationCodeHash != cons.ValidationCodeHash:
			return reasonCodeHash
		}
	}
	h.hash = bc.Hash()
	if _, dup := j.byHash[h.hash]; dup {
		return reasonDuplicate
	}
	if ps.cons != nil {
		h.depth = ps.depthOf(h)
		if h.depth >= ps.depthCap {
			return reasonTooDeep
		}
	}
	if !j.place(ps, h, h.depth, perDepth) {
		return reasonParaFull
	}
	if h.depth >= 0 {
		j.connect(ps, h, perDepth)
	}
	return ""
}

// depthOf is where h joins the para's tree: on the tip, on a connected
// candidate, or nowhere yet (-1).
func (ps *paraState) depthOf(h *heldCandidate) int {
	if !h.parentKnown {
		return -1
	}
	if h.parent == ps.tip {
		return 0
	}
	best := -1
	for _, c := range ps.cands {
		if c.depth >= 0 && c.head == h.parent && (best < 0 || c.depth+1 < best) {
			best = c.depth + 1
		}
	}
	return best
}

// place keeps h at depth d if there is room there, or if it beats (by a
// lower candidate hash, the fork-choice rule) the highest-hash candidate
// kept there, which is evicted with its descendants. The bound needs no
// first-come order: an attacker cannot keep an honest candidate out by
// arriving first, only by backing forks that win the fork choice anyway.
func (j *job) place(ps *paraState, h *heldCandidate, d, perDepth int) bool {
	if ps.count(d) >= ps.capAt(d, perDepth) {
		var worst *heldCandidate
		for _, c := range ps.cands {
			if c.depth == d && (worst == nil || hashLess(worst.hash, c.hash)) {
				worst = c
			}
		}
		if worst == nil || !hashLess(h.hash, worst.hash) {
			return false
		}
		j.evict(ps, worst)
	}
	h.depth = d
	ps.cands = append(ps.cands, h)
	j.byHash[h.hash] = h
	j.candidates = append(j.candidates, h)
	return true
}

// evict forgets c and, when it was connected, the candidates that reach the
// tree only through it.
func (j *job) evict(ps *paraState, c *heldCandidate) {
	gone := []*heldCandidate{c}
	for i := 0; i < len(gone); i++ {
		g := gone[i]
		ps.cands = slices.DeleteFunc(ps.cands, func(x *heldCandidate) bool { return x == g })
		j.candidates = slices.DeleteFunc(j.candidates, func(x *heldCandidate) bool { return x == g })
		delete(j.byHash, g.hash)
		if g.depth < 0 || j.produced(ps, g.head) {
			continue
		}
		for _, x := range ps.cands {
			if x.depth > g.depth && x.parentKnown && x.parent == g.head && !slices.Contains(gone, x) {
				gone = append(gone, x)
			}
		}
	}
}

// produced reports whether a connected candidate still kept produces head.
func (j *job) produced(ps *paraState, head types.Hash) bool {
	for _, x := range ps.cands {
		if x.depth >= 0 && x.head == head {
			return true
		}
	}
	return false
}

// connect moves the unconnected candidates that build on the newly
// connected h into the tree, level by level, as room allows.
func (j *job) connect(ps *paraState, h *heldCandidate, perDepth int) {
	queue := []*heldCandidate{h}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p.depth+1 >= ps.depthCap {
			continue
		}
		var orphans []*heldCandidate
		for _, c := range ps.cands {
			if c.depth < 0 && c.parentKnown && c.parent == p.head {
				orphans = append(orphans, c)
			}
		}
		slices.SortFunc(orphans, func(a, b *heldCandidate) int { return cmp.Compare(string(a.hash[:]), string(b.hash[:])) })
		for _, o := range orphans {
			ps.cands = slices.DeleteFunc(ps.cands, func(x *heldCandidate) bool { return x == o })
			j.candidates = slices.DeleteFunc(j.candidates, func(x *heldCandidate) bool { return x == o })
			delete(j.byHash, o.hash)
			if j.place(ps, o, p.depth+1, perDepth) {
				queue = append(queue, o)
			}
		}
	}
}

func hashLess(a, b types.Hash) bool { return string(a[:]) < string(b[:]) }

// candidateInputs is everything candidate selection reads.
type candidateInputs struct {
	cores     []types.CoreState
	bitfields []types.UncheckedSignedAvailabilityBitfield // as selected
	// blockNumber is the number of the block under construction (leaf + 1).
	blockNumber types.BlockNumber
	// allowed maps the relay parents a candidate may have to their numbers.
	allowed    map[types.Hash]types.BlockNumber
	candidates []*heldCandidate
	// paras are the per-para states; a para without one, or one without
	// constraints, chains as when the constraints are unknown.
	paras map[types.ParaID]*paraState
	// votes strips disabled validators' votes; nil keeps every vote.
	votes *voteFilter
}

// voteFilter is the runtime's filter_backed_statements_from_disabled_validators
// with the backing-vote minimum.
type voteFilter struct {
	groups   [][]types.ValidatorIndex
	rotation GroupRotation
	disabled map[types.ValidatorIndex]bool
	minVotes int
}

// ancestor is a candidate still on a core (pending availability, or made
// available by this block): new candidates of its para build after it.
type ancestor struct {
	hash types.Hash
	head types.Hash
}

type pick struct {
	c    *heldCandidate
	core int // the core the candidate takes (a v1 one gets a spare core)
}

// selectCandidates picks the backed candidates for a block, in the order the
// block carries them.
//
// Each core counts for a para when it is Scheduled for it, when it is
// Occupied and the occupant becomes available with this block's bitfields
// (then for next_up_on_available), or when it is Occupied, not available and
// timed out (time_out_at <= block number; then for next_up_on_time_out). A
// para gets a chain of at most that many candidates (and no more than its
// claim-queue depth), each anchored to an allowed relay parent no older than
// its parent's, the first on the para's required parent (the head of its
// last candidate pending availability, else its head on chain), each next
// one on the previous, each on a distinct core the para may use; at a fork
// the lower candidate hash wins, as in prospective-parachains. Disabled
// validators' votes are stripped, and a candidate left with fewer than
// min(group size, minimum_backing_votes) is dropped with the rest of its
// para's chain. At most one candidate in the block carries new validation
// code: a later one is dropped together with the rest of its para's chain,
// which builds on it.
//
// The output is in the order the runtime keeps: ascending para id, each
// para's chain in chain order. The runtime's sanitize_backed_candidates
// folds the candidates into a map keyed by para id and rebuilds the list
// from it, and since 2026 enter rejects an inherent that create_inherent
// would have changed (InherentDataFilteredDuringExecution), so any other
// order gets the block refused. The one-code-upgrade rule therefore also
// keeps the upgrade of the lowest para id.
func selectCandidates(in candidateInputs) []types.BackedCandidate {
	available := coresAvailable(in.cores, in.bitfields)
	free := make(map[types.ParaID][]int)
	ancestors := make(map[types.ParaID][]ancestor)
	// dropped: candidates pending availability that this block frees by
	// time-out; a chain built after one of them is void.
	dropped := make(map[types.Hash]bool)
	for c := range in.cores {
		cs := &in.cores[c]
		switch cs.Kind {
		case types.CoreScheduled:
			free[cs.Scheduled.ParaID] = append(free[cs.Scheduled.ParaID], c)
		case types.CoreOccupied:
			oc := cs.Occupied
			if oc == nil {
				continue
			}
			occupant := ancestor{hash: oc.CandidateHash, head: oc.CandidateDescriptor.ParaHead}
			para := oc.CandidateDescriptor.ParaID
			switch {
			case available[c]:
				ancestors[para] = append(ancestors[para], occupant)
				if oc.NextUpOnAvailable != nil {
					free[oc.NextUpOnAvailable.ParaID] = append(free[oc.NextUpOnAvailable.ParaID], c)
				}
			case oc.TimeOutAt <= in.blockNumber:
				// The occupant is dropped; the core is free as if scheduled.
				dropped[oc.CandidateHash] = true
				if oc.NextUpOnTimeOut != nil {
					free[oc.NextUpOnTimeOut.ParaID] = append(free[oc.NextUpOnTimeOut.ParaID], c)
				}
			default:
				ancestors[para] = append(ancestors[para], occupant)
			}
		}
	}
	if len(free) == 0 {
		return nil
	}

	byPara := make(map[types.ParaID][]*heldCandidate)
	byHash := make(map[types.Hash]*heldCandidate, len(in.candidates))
	for _, c := range in.candidates {
		byHash[c.hash] = c
		if _, ok := in.allowed[c.relayParent]; ok && len(free[c.para]) > 0 {
			byPara[c.para] = append(byPara[c.para], c)
		}
	}
	paras := make([]types.ParaID, 0, len(byPara))
	for para := range byPara {
		paras = append(paras, para)
	}
	slices.Sort(paras)

	// paras is sorted and each chain is in chain order, so appending the
	// chains one para after another gives the runtime's order.
	var picks []pick
	for _, para := range paras {
		s := chainSearch{allowed: in.allowed, free: free[para], limit: len(free[para])}
		if ps := in.paras[para]; ps != nil && ps.cons != nil {
			if voidTip(ps.cons, dropped) {
				continue
			}
			s.limit = min(s.limit, ps.depthCap)
			s.minRelayParent = ps.minRelayParent
			s.starts = func(c *heldCandidate) bool { return c.parentKnown && c.parent == ps.tip }
		} else {
			s.starts = legacyStarts(ancestors[para], byPara[para], byHash)
		}
		picks = append(picks, s.build(byPara[para])...)
	}

	out := make([]types.BackedCandidate, 0, len(picks))
	withCode := false
	cut := make(map[types.ParaID]bool)
	for _, p := range picks {
		if cut[p.c.para] {
			continue
		}
		bc, ok := in.votes.apply(p)
		if !ok {
			cut[p.c.para] = true
			continue
		}
		if p.c.hasCode {
			if withCode {
				cut[p.c.para] = true
				continue
			}
			withCode = true
		}
		out = append(out, *bc)
	}
	return out
}

// voidTip reports whether a candidate pending availability that a new chain
// would build after is freed by time-out in this block: what built on it is
// then built on nothing.
func voidTip(cons *ParaConstraints, dropped map[types.Hash]bool) bool {
	for _, pc := range cons.PendingAvailability {
		if dropped[pc.CandidateHash] {
			return true
		}
	}
	return false
}

// legacyStarts is where a chain may start when the para's constraints are
// unknown. With candidates still on cores, on the head of the last of them:
// the tips are their heads minus the heads one of them builds on (when we
// know it). With none, on whatever the chain has: any candidate whose
// parent no other candidate produces.
func legacyStarts(anc []ancestor, cands []*heldCandidate, byHash map[types.Hash]*heldCandidate) func(*heldCandidate) bool {
	if len(anc) > 0 {
		tips := make([]types.Hash, 0, len(anc))
		for _, a := range anc {
			tips = append(tips, a.head)
		}
		for _, a := range anc {
			if h, ok := byHash[a.hash]; ok && h.parentKnown && len(tips) > 1 {
				tips = slices.DeleteFunc(tips, func(t types.Hash) bool { return t == h.parent })
			}
		}
		return func(c *heldCandidate) bool { return !c.parentKnown || slices.Contains(tips, c.parent) }
	}
	produced := make(map[types.Hash]bool, len(cands))
	for _, c := range cands {
		produced[c.head] = true
	}
	return func(c *heldCandidate) bool { return !c.parentKnown || !produced[c.parent] }
}

// apply strips the votes of disabled validators from the picked candidate
// and reports whether enough votes remain. The candidate held by the job is
// never modified: a stripped one is a copy.
func (f *voteFilter) apply(p pick) (*types.BackedCandidate, bool) {
	bc := p.c.backed
	if f == nil {
		return bc, true
	}
	size := p.c.groupBits.Len
	need := min(size, f.minVotes)
	if len(f.disabled) == 0 {
		return bc, len(bc.ValidityVotes) >= need
	}
	// The runtime checks backing votes against the group assigned to the
	// core at relay_parent_number + 1.
	gi, ok := f.rotation.GroupForCore(types.CoreIndex(p.core), p.c.rpNumber+1, len(f.groups))
	if !ok || len(f.groups[gi]) != size {
		// The group the runtime would check the votes against is not the
		// one the bits describe: the runtime refuses the candidate.
		return nil, false
	}
	group := f.groups[gi]
	bits := types.NewBitVec(size)
	var kept []types.ValidityAttestation
	vote := 0
	for pos := 0; pos < size; pos++ {
		if !p.c.groupBits.Get(pos) {
			continue
		}
		if !f.disabled[group[pos]] {
			bits.Set(pos, true)
			kept = append(kept, bc.ValidityVotes[vote])
		}
		vote++
	}
	if len(kept) < need {
		return nil, false
	}
	if len(kept) == len(bc.ValidityVotes) {
		return bc, true
	}
	out := *bc
	out.ValidityVotes = kept
	out.ValidatorIndices = bits
	if p.c.injected {
		var err error
		if out.ValidatorIndices, err = types.InjectCoreIndex(bits, types.CoreIndex(p.core)); err != nil {
			return nil, false
		}
	}
	return &out, true
}

// coresAvailable reports, per core, whether an Occupied core's candidate
// reaches the availability supermajority once the bitfields' bits are
// OR-ed into the runtime's record of who already holds a chunk.
func coresAvailable(cores []types.CoreState, bitfields []types.UncheckedSignedAvailabilityBitfield) []bool {
	avail := make([]bool, len(cores))
	// One scratch buffer holds a copy of every occupied core's availability.
	offsets := make([]int, len(cores))
	total := 0
	for c := range cores {
		offsets[c] = -1
		if oc := cores[c].Occupied; cores[c].Kind == types.CoreOccupied && oc != nil {
			offsets[c] = total
			total += (oc.Availability.Len + 7) / 8
		}
	}
	scratch := make([]byte, total)
	for c := range cores {
		if offsets[c] >= 0 {
			a := cores[c].Occupied.Availability
			copy(scratch[offsets[c]:], a.Bytes[:min(len(a.Bytes), (a.Len+7)/8)])
		}
	}
	for i := range bitfields {
		v := int(bitfields[i].ValidatorIndex)
		for bi, b := range bitfields[i].Payload.Bytes {
			for b != 0 {
				c := bi*8 + bits.TrailingZeros8(b)
				b &= b - 1
				if c >= len(cores) || offsets[c] < 0 || v >= cores[c].Occupied.Availability.Len {
					continue
				}
				scratch[offsets[c]+v/8] |= 1 << (v % 8)
			}
		}
	}
	for c := range cores {
		if offsets[c] < 0 {
			continue
		}
		n := cores[c].Occupied.Availability.Len
		ones := 0
		for _, b := range scratch[offsets[c] : offsets[c]+(n+7)/8] {
			ones += bits.OnesCount8(b)
		}
		avail[c] = n > 0 && ones >= supermajority(n)
	}
	return avail
}

type chainSearch struct {
	allowed        map[types.Hash]types.BlockNumber
	free           []int // the para's free cores
	limit          int
	minRelayParent types.BlockNumber
	starts         func(*heldCandidate) bool
}

// build grows the para's chain greedily, as prospective-parachains'
// fork_selection_rule does: at each step, of the candidates that may come
// next (build on the chain's head, or start it; an allowed relay parent no
// older than the previous one's; a core left for it), the one with the
// lowest candidate hash.
func (s *chainSearch) build(cands []*heldCandidate) []pick {
	var chain []*heldCandidate
	usedBound := make([]int, 0, len(s.free))
	unbound := 0
	fits := func(c *heldCandidate) bool {
		if c.core >= 0 {
			return slices.Contains(s.free, c.core) && !slices.Contains(usedBound, c.core) &&
				len(s.free)-len(usedBound)-1 >= unbound
		}
		return len(s.free)-len(usedBound) >= unbound+1
	}
	for len(chain) < s.limit {
		var best *heldCandidate
		for _, c := range cands {
			rp, ok := s.allowed[c.relayParent]
			if !ok || rp < s.minRelayParent || slices.Contains(chain, c) || !fits(c) {
				continue
			}
			if len(chain) == 0 {
				if !s.starts(c) {
					continue
				}
			} else {
				last := chain[len(chain)-1]
				if !c.parentKnown || c.parent != last.head || rp < s.allowed[last.relayParent] {
					continue
				}
			}
			if best == nil || hashLess(c.hash, best.hash) {
				best = c
			}
		}
		if best == nil {
			break
		}
		chain = append(chain, best)
		if best.core >= 0 {
			usedBound = append(usedBound, best.core)
		} else {
			unbound++
		}
	}
	// Bound candidates keep their cores; the others take the lowest free
	// cores left, in chain order.
	spare := make([]int, 0, len(s.free))
	for _, c := range s.free {
		if !slices.Contains(usedBound, c) {
			spare = append(spare, c)
		}
	}
	slices.Sort(spare)
	out := make([]pick, len(chain))
	for i, c := range chain {
		core := c.core
		if core < 0 {
			core, spare = spare[0], spare[1:]
		}
		out[i] = pick{c: c, core: core}
	}
	return out
}
