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
	backed      *types.BackedCandidate
	hash        types.Hash
	para        types.ParaID
	relayParent types.Hash
	// core is the core the candidate is bound to (by a v2 descriptor or an
	// injected core index), or -1 for a v1 candidate, which may take any
	// core of its para.
	core int
	// head is the hash of the head data the candidate produces (para_head);
	// parent the hash of the head it builds on, when known.
	head        types.Hash
	parent      types.Hash
	parentKnown bool
	hasCode     bool
}

// addCandidate checks a backed candidate against the leaf and keeps it
// within the per-core bound.
func (j *job) addCandidate(in *BackedCandidate, perCore int) string {
	bc := &in.Candidate
	d := &bc.Candidate.Descriptor
	if _, ok := j.allowed[d.RelayParent]; !ok {
		return reasonRelayParent
	}
	if len(bc.ValidatorIndices.Bytes) != (bc.ValidatorIndices.Len+7)/8 {
		return reasonMalformed
	}
	core := -1
	if ci, ok := d.CoreIndex(); ok {
		core = int(ci)
	}
	groupBits := bc.ValidatorIndices
	// The backing group's size tells whether 8 bits of core index follow the
	// group's bits. Polkadot's groups differ in size by at most one, so the
	// two readings never collide.
	if sizes := j.sess.groupSizes; len(sizes) > 0 {
		switch n := bc.ValidatorIndices.Len; {
		case n >= 8 && sizes[n-8]:
			var injected types.CoreIndex
			groupBits, injected, _ = types.ExtractCoreIndex(bc.ValidatorIndices)
			if core >= 0 && int(injected) != core {
				return reasonCoreMismatch
			}
			core = int(injected)
		case sizes[n]:
		default:
			return reasonMalformed
		}
	}
	if groupBits.CountOnes() != len(bc.ValidityVotes) || len(bc.ValidityVotes) == 0 {
		return reasonMalformed
	}
	para := d.ParaID
	if core >= 0 && (core >= len(j.cores) || !slices.Contains(j.coreParas[core], para)) {
		return reasonWrongCore
	}
	if core < 0 && j.paraCores[para] == 0 {
		return reasonNoCore
	}
	if types.Blake2_256(bc.Candidate.Commitments.HeadData) != d.ParaHead {
		return reasonHeadMismatch
	}
	h := &heldCandidate{
		backed:      bc,
		para:        para,
		relayParent: d.RelayParent,
		core:        core,
		head:        d.ParaHead,
		hasCode:     bc.Candidate.Commitments.NewValidationCode != nil,
	}
	if pvd := in.ValidationData; pvd != nil {
		if pvd.Hash() != d.PersistedValidationDataHash {
			return reasonValidationData
		}
		h.parent, h.parentKnown = pvd.ParentHeadHash(), true
	}
	h.hash = bc.Hash()
	if _, dup := j.byHash[h.hash]; dup {
		return reasonDuplicate
	}
	if (core >= 0 && j.perCore[core] >= perCore) || (core < 0 && j.unbound[para] >= perCore*j.paraCores[para]) {
		return reasonCoreFull
	}
	j.byHash[h.hash] = h
	j.candidates = append(j.candidates, h)
	if core >= 0 {
		j.perCore[core]++
	} else {
		j.unbound[para]++
	}
	return ""
}

// candidateInputs is everything candidate selection reads.
type candidateInputs struct {
	cores     []types.CoreState
	bitfields []types.UncheckedSignedAvailabilityBitfield // as selected
	// blockNumber is the number of the block under construction (leaf + 1).
	blockNumber types.BlockNumber
	// allowed maps the relay parents a candidate may have to their numbers.
	allowed    map[types.Hash]types.BlockNumber
	candidates []*heldCandidate
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
// para gets a chain of at most that many candidates, each anchored to an
// allowed relay parent no older than its parent's, each building on the
// previous one and the first on what the para still has on cores, each on a
// distinct core the para may use. At most one candidate in the block carries
// new validation code: a later one is dropped together with the rest of its
// para's chain, which builds on it.
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
		chain := buildChain(free[para], ancestors[para], byPara[para], byHash, in.allowed)
		picks = append(picks, chain...)
	}

	out := make([]types.BackedCandidate, 0, len(picks))
	withCode := false
	cut := make(map[types.ParaID]bool)
	for _, p := range picks {
		if cut[p.c.para] {
			continue
		}
		if p.c.hasCode {
			if withCode {
				cut[p.c.para] = true
				continue
			}
			withCode = true
		}
		out = append(out, *p.c.backed)
	}
	return out
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

// maxChainSteps bounds the chain search of one para: forks are rare and
// chains short, so this is never reached by honest data.
const maxChainSteps = 4096

// buildChain picks the longest chain of candidates for one para, the
// lexicographically smallest by candidate hashes among equally long ones.
func buildChain(freeCores []int, anc []ancestor, cands []*heldCandidate,
	byHash map[types.Hash]*heldCandidate, allowed map[types.Hash]types.BlockNumber) []pick {
	// Paras have few cores and few candidates: slices beat maps here.
	eligible := make([]*heldCandidate, 0, len(cands))
	for _, c := range cands {
		if c.core < 0 || slices.Contains(freeCores, c.core) {
			eligible = append(eligible, c)
		}
	}
	if len(eligible) == 0 {
		return nil
	}
	slices.SortFunc(eligible, func(a, b *heldCandidate) int { return cmp.Compare(string(a.hash[:]), string(b.hash[:])) })

	// Where a new chain may start. With candidates still on cores, on the
	// head of the last of them: the tips are their heads minus the heads
	// one of them builds on (when we know it). With none, on whatever the
	// chain has: any candidate whose parent no other candidate produces.
	var starts func(c *heldCandidate) bool
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
		starts = func(c *heldCandidate) bool { return !c.parentKnown || slices.Contains(tips, c.parent) }
	} else {
		produced := make(map[types.Hash]bool, len(eligible))
		for _, c := range eligible {
			produced[c.head] = true
		}
		starts = func(c *heldCandidate) bool { return !c.parentKnown || !produced[c.parent] }
	}
	s := chainSearch{allowed: allowed, limit: len(freeCores)}
	if s.limit > 1 {
		s.children = make(map[types.Hash][]*heldCandidate)
		for _, c := range eligible {
			if c.parentKnown {
				s.children[c.parent] = append(s.children[c.parent], c)
			}
		}
	}
	for _, c := range eligible {
		if starts(c) {
			s.visit(c)
		}
	}
	if len(s.best) == 0 {
		return nil
	}

	// Bound candidates keep their cores; the others take the lowest free
	// cores left, in chain order.
	spare := make([]int, 0, len(freeCores))
	for _, c := range freeCores {
		if !usesCore(s.best, c) {
			spare = append(spare, c)
		}
	}
	slices.Sort(spare)
	out := make([]pick, len(s.best))
	for i, c := range s.best {
		core := c.core
		if core < 0 {
			core, spare = spare[0], spare[1:]
		}
		out[i] = pick{c: c, core: core}
	}
	return out
}

func usesCore(chain []*heldCandidate, core int) bool {
	for _, c := range chain {
		if c.core == core {
			return true
		}
	}
	return false
}

type chainSearch struct {
	children  map[types.Hash][]*heldCandidate
	allowed   map[types.Hash]types.BlockNumber
	limit     int
	cur, best []*heldCandidate
	steps     int
}

// visit extends the current chain with c and explores every continuation,
// depth first in hash order, so that the first longest chain found is the
// lexicographically smallest.
func (s *chainSearch) visit(c *heldCandidate) {
	s.steps++
	if c.core >= 0 && usesCore(s.cur, c.core) {
		return
	}
	s.cur = append(s.cur, c)
	defer func() { s.cur = s.cur[:len(s.cur)-1] }()
	if len(s.cur) > len(s.best) {
		s.best = append(s.best[:0], s.cur...)
	}
	if len(s.cur) >= s.limit {
		return
	}
	for _, next := range s.children[c.head] {
		if s.steps >= maxChainSteps {
			return
		}
		// A child's relay parent may not be older than its parent's.
		if s.allowed[next.relayParent] < s.allowed[c.relayParent] || slices.Contains(s.cur, next) {
			continue
		}
		s.visit(next)
	}
}
