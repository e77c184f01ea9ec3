package runtime

import (
	"bytes"
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// disputeOrder is the runtime's dispute_ordering_compare: disputes of
// candidates this chain included come first, by inclusion height then
// candidate hash; the others follow by session then candidate hash.
func disputeOrder(st *State) func(a, b *types.DisputeStatementSet) int {
	return func(a, b *types.DisputeStatementSet) int {
		ah, aLocal := st.inclusion(a.Session, a.CandidateHash)
		bh, bLocal := st.inclusion(b.Session, b.CandidateHash)
		switch {
		case aLocal && !bLocal:
			return -1
		case !aLocal && bLocal:
			return 1
		case aLocal && bLocal:
			if ah != bh {
				return int64cmp(int64(ah), int64(bh))
			}
			return bytes.Compare(a.CandidateHash[:], b.CandidateHash[:])
		}
		return disputeKeyCmp(a.Session, a.CandidateHash, b.Session, b.CandidateHash)
	}
}

// sortDisputes is deduplicate_and_sort_dispute_data: a stable sort in the
// runtime's order, then the first set of each (session, candidate) kept.
func sortDisputes(st *State, in []types.DisputeStatementSet) []types.DisputeStatementSet {
	out := slices.Clone(in)
	cmp := disputeOrder(st)
	slices.SortStableFunc(out, func(a, b types.DisputeStatementSet) int { return cmp(&a, &b) })
	return slices.CompactFunc(out, func(a, b types.DisputeStatementSet) bool {
		return a.Session == b.Session && a.CandidateHash == b.CandidateHash
	})
}

// Reasons a dispute set or statement is filtered.
const (
	DisputeUnknownSession    = "dispute_unknown_session"
	DisputeConcludedLongAgo  = "dispute_concluded_long_ago"
	DisputeOneSided          = "dispute_one_sided"
	DisputeUnconfirmed       = "dispute_unconfirmed"
	DisputeEmpty             = "dispute_no_new_statement"
	DisputeDuplicate         = "dispute_duplicate_set"
	DisputeOverWeight        = "dispute_over_weight"
	StatementValidatorIndex  = "dispute_statement_validator_index"
	StatementDuplicate       = "dispute_statement_duplicate"
	StatementMaliciousBacker = "dispute_statement_malicious_backer"
	StatementBadSignature    = "dispute_statement_bad_signature"
)

func isBackingKind(s *types.DisputeStatement) bool {
	return s.Valid && (s.Kind == types.ValidBackingSeconded || s.Kind == types.ValidBackingValid)
}

// filterDispute is filter_dispute_data: it returns the set with the
// statements the runtime keeps, or false when the whole set goes, and
// counts what it dropped. Single bad statements (unknown validator,
// duplicate or already on chain, a backer's explicit valid vote, a bad
// signature) drop only themselves.
func (rt *Runtime) filterDispute(st *State, now types.BlockNumber, set *types.DisputeStatementSet, drop func(string)) (types.DisputeStatementSet, bool) {
	oldest := st.Session - min(st.Session, rt.cfg.DisputePeriod)
	if set.Session < oldest || set.Session > st.Session {
		drop(DisputeUnknownSession)
		return types.DisputeStatementSet{}, false
	}
	n := len(rt.cfg.Validators)
	forV, against := types.NewBitVec(n), types.NewBitVec(n)
	var backers []types.ValidatorIndex
	if d := st.dispute(set.Session, set.CandidateHash); d != nil {
		if d.ConcludedAt != nil && *d.ConcludedAt+rt.cfg.DisputePostConclusionAcceptancePeriod < now {
			drop(DisputeConcludedLongAgo)
			return types.DisputeStatementSet{}, false
		}
		forV, against = d.For.Clone(), d.Against.Clone()
		backers = slices.Clone(d.Backers)
	}
	kept := types.DisputeStatementSet{CandidateHash: set.CandidateHash, Session: set.Session}
	for i := range set.Statements {
		e := &set.Statements[i]
		vi := int(e.ValidatorIndex)
		if vi >= n {
			drop(StatementValidatorIndex)
			continue
		}
		side := &against
		if e.Statement.Valid {
			side = &forV
		}
		if side.Get(vi) {
			drop(StatementDuplicate)
			continue
		}
		if e.Statement.Valid && !isBackingKind(&e.Statement) && slices.Contains(backers, e.ValidatorIndex) {
			drop(StatementMaliciousBacker)
			continue
		}
		if !rt.checkStatementSignature(e, set) {
			drop(StatementBadSignature)
			continue
		}
		side.Set(vi, true)
		if isBackingKind(&e.Statement) && !slices.Contains(backers, e.ValidatorIndex) {
			backers = append(backers, e.ValidatorIndex)
		}
		kept.Statements = append(kept.Statements, *e)
	}
	switch {
	case len(kept.Statements) == 0:
		drop(DisputeEmpty)
		return types.DisputeStatementSet{}, false
	case forV.CountOnes() == 0 || against.CountOnes() == 0:
		drop(DisputeOneSided)
		return types.DisputeStatementSet{}, false
	}
	participants := forV.Clone()
	for _, i := range against.Ones() {
		participants.Set(i, true)
	}
	if participants.CountOnes() <= byzantineThreshold(n) {
		drop(DisputeUnconfirmed)
		return types.DisputeStatementSet{}, false
	}
	return kept, true
}

// checkStatementSignature: approval votes on several candidates count only
// when max_approval_coalesce_count allows coalescing.
func (rt *Runtime) checkStatementSignature(e *types.DisputeStatementEntry, set *types.DisputeStatementSet) bool {
	if e.Statement.Valid && e.Statement.Kind == types.ValidApprovalCheckingMultipleCandidates && rt.cfg.MaxApprovalCoalesceCount <= 1 {
		return false
	}
	k := rt.checkedVerifier(nil)(e.ValidatorIndex)
	return k != nil && e.Verify(k, set.CandidateHash, set.Session)
}

// limitDisputes is limit_and_sanitize_disputes: when every set fits the
// budget each is filtered and the weight of what remains counts; else sets
// are taken in order while they fit, and a set that fits costs its weight
// even when filtering then drops it (checking it cost the time).
func (rt *Runtime) limitDisputes(st *State, now types.BlockNumber, sets []types.DisputeStatementSet, limit Weight, drop func(string)) ([]types.DisputeStatementSet, Weight) {
	var total Weight
	for i := range sets {
		total = total.Add(DisputeWeight(&sets[i]))
	}
	var kept []types.DisputeStatementSet
	var acc Weight
	if !total.AnyGT(limit) {
		for i := range sets {
			if k, ok := rt.filterDispute(st, now, &sets[i], drop); ok {
				kept = append(kept, k)
				acc = acc.Add(DisputeWeight(&k))
			}
		}
		return kept, acc
	}
	for i := range sets {
		next := acc.Add(DisputeWeight(&sets[i]))
		if next.AnyGT(limit) {
			drop(DisputeOverWeight)
			continue
		}
		acc = next
		if k, ok := rt.filterDispute(st, now, &sets[i], drop); ok {
			kept = append(kept, k)
		}
	}
	return kept, acc
}

// importDispute is process_checked_dispute_data for one filtered set at
// block now. A set that leaves the dispute without any known backer fails
// with MissingBackingVotes: the runtime only logs that error, so the set
// stays in the block but changes nothing.
func (rt *Runtime) importDispute(st *State, now types.BlockNumber, set *types.DisputeStatementSet, out *Outcome) {
	n := len(rt.cfg.Validators)
	d := st.dispute(set.Session, set.CandidateHash)
	fresh := DisputeState{Session: set.Session, Candidate: set.CandidateHash, For: types.NewBitVec(n), Against: types.NewBitVec(n), Start: now}
	cur := fresh
	if d != nil {
		cur = *d
		cur.For, cur.Against, cur.Backers = d.For.Clone(), d.Against.Clone(), slices.Clone(d.Backers)
	}
	var newFor, newAgainst []types.ValidatorIndex
	for i := range set.Statements {
		e := &set.Statements[i]
		if e.Statement.Valid {
			cur.For.Set(int(e.ValidatorIndex), true)
			newFor = append(newFor, e.ValidatorIndex)
			if isBackingKind(&e.Statement) && !slices.Contains(cur.Backers, e.ValidatorIndex) {
				cur.Backers = append(cur.Backers, e.ValidatorIndex)
			}
		} else {
			cur.Against.Set(int(e.ValidatorIndex), true)
			newAgainst = append(newAgainst, e.ValidatorIndex)
		}
	}
	if len(cur.Backers) == 0 {
		out.MissingBackingVotes = append(out.MissingBackingVotes, set.CandidateHash)
		return
	}
	slices.Sort(cur.Backers)
	sm := supermajority(n)
	wasConcluded := cur.ConcludedAt != nil
	invalid := cur.Against.CountOnes() >= sm
	valid := cur.For.CountOnes() >= sm
	if !wasConcluded && (valid || invalid) {
		at := now
		cur.ConcludedAt = &at
	}
	// Losers are slashed when the dispute concludes, and late losers as
	// their votes arrive.
	punish := func(v types.ValidatorIndex, kind OffenceKind) {
		st.Offences = append(st.Offences, Offence{Session: set.Session, Candidate: set.CandidateHash, Validator: v, Kind: kind, At: now})
		out.Slashed = append(out.Slashed, Offence{Session: set.Session, Candidate: set.CandidateHash, Validator: v, Kind: kind, At: now})
		// Only a current-session offence disables at once; an older one
		// becomes an unapplied slash.
		if kind == ForInvalidBacked && set.Session == st.Session {
			st.disable(v)
		}
	}
	switch {
	case invalid && !wasConcluded:
		for _, i := range cur.For.Ones() {
			kind := ForInvalidApproved
			if slices.Contains(cur.Backers, types.ValidatorIndex(i)) {
				kind = ForInvalidBacked
			}
			punish(types.ValidatorIndex(i), kind)
		}
	case invalid:
		for _, v := range newFor {
			kind := ForInvalidApproved
			if slices.Contains(cur.Backers, v) {
				kind = ForInvalidBacked
			}
			punish(v, kind)
		}
	case valid && !wasConcluded:
		for _, i := range cur.Against.Ones() {
			punish(types.ValidatorIndex(i), AgainstValid)
		}
	case valid:
		for _, v := range newAgainst {
			punish(v, AgainstValid)
		}
	}
	if d == nil {
		i, _ := slices.BinarySearchFunc(st.Disputes, cur, func(a, b DisputeState) int {
			return disputeKeyCmp(a.Session, a.Candidate, b.Session, b.Candidate)
		})
		st.Disputes = slices.Insert(st.Disputes, i, cur)
	} else {
		*d = cur
	}
	out.DisputesImported++
	// f+1 votes against a candidate this chain included: revert to the
	// block before its inclusion and freeze.
	if at, local := st.inclusion(set.Session, set.CandidateHash); local && !st.Frozen && cur.Against.CountOnes() > byzantineThreshold(n) {
		st.Frozen = true
		st.RevertTo = at - min(at, 1)
		out.Frozen = true
	}
}
