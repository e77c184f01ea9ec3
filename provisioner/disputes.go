package provisioner

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// disputeRecord holds the votes a job knows about one candidate in one
// session: at most one valid and one invalid vote per validator (a
// validator with both has double-voted).
type disputeRecord struct {
	key     DisputeKey
	n       int // validators in the session
	valid   map[types.ValidatorIndex]types.DisputeStatementEntry
	invalid map[types.ValidatorIndex]types.DisputeStatementEntry
	// misbehavior: a verified report put both votes of an offender here.
	misbehavior bool
	// concludedAt is when one side first reached the supermajority here.
	concludedAt time.Time
	// sorted caches the statements in the order they go on chain (valid
	// then invalid, each by validator index). It is rebuilt as a new slice
	// after a change, never modified, so inherents may share it.
	sorted []types.DisputeStatementEntry
}

func newDisputeRecord(key DisputeKey, n int) *disputeRecord {
	return &disputeRecord{
		key:     key,
		n:       n,
		valid:   make(map[types.ValidatorIndex]types.DisputeStatementEntry),
		invalid: make(map[types.ValidatorIndex]types.DisputeStatementEntry),
	}
}

func isBackingVote(s *types.DisputeStatement) bool {
	return s.Valid && (s.Kind == types.ValidBackingSeconded || s.Kind == types.ValidBackingValid)
}

// wellFormed rejects statement kinds the runtime does not know.
func wellFormed(s *types.DisputeStatement) bool {
	if s.Valid {
		return s.Kind <= types.ValidApprovalCheckingMultipleCandidates
	}
	return s.Kind == types.InvalidExplicit
}

// add records e and reports whether anything changed. As Polkadot's
// dispute coordinator does, a backing vote replaces another valid vote of
// the same validator (backing votes are the ones that get backers slashed);
// otherwise the first vote of each side stays.
func (r *disputeRecord) add(e types.DisputeStatementEntry, now time.Time) bool {
	side := r.invalid
	if e.Statement.Valid {
		side = r.valid
	}
	if old, ok := side[e.ValidatorIndex]; ok && !(isBackingVote(&e.Statement) && !isBackingVote(&old.Statement)) {
		return false
	}
	side[e.ValidatorIndex] = e
	r.sorted = nil
	if r.concludedAt.IsZero() && r.n > 0 {
		if sm := supermajority(r.n); len(r.valid) >= sm || len(r.invalid) >= sm {
			r.concludedAt = now
		}
	}
	return true
}

// statements returns the cached on-chain order of the record's votes.
func (r *disputeRecord) statements() []types.DisputeStatementEntry {
	if r.sorted != nil {
		return r.sorted
	}
	out := make([]types.DisputeStatementEntry, 0, len(r.valid)+len(r.invalid))
	for _, side := range []map[types.ValidatorIndex]types.DisputeStatementEntry{r.valid, r.invalid} {
		start := len(out)
		for _, e := range side {
			out = append(out, e)
		}
		slices.SortFunc(out[start:], func(a, b types.DisputeStatementEntry) int {
			return cmp.Compare(a.ValidatorIndex, b.ValidatorIndex)
		})
	}
	r.sorted = out
	return out
}

// voters is the number of distinct validators with a vote here.
func (r *disputeRecord) voters() int {
	n := len(r.valid)
	for v := range r.invalid {
		if _, ok := r.valid[v]; !ok {
			n++
		}
	}
	return n
}

// addDisputes records a set of dispute statements. Statements by validators
// outside the session, of unknown kinds or (when verification is on) with
// bad signatures are skipped; the set is refused only if nothing in it is
// new.
func (p *Provisioner) addDisputes(ctx context.Context, set *types.DisputeStatementSet) string {
	if p.ancientSession(set.Session) {
		return reasonAncientSession
	}
	sess, err := p.sessionFor(ctx, set.Session)
	if err != nil {
		return reasonUnknownSession
	}
	key := DisputeKey{Session: set.Session, CandidateHash: set.CandidateHash}
	rec, existed := p.disputes[key]
	if !existed {
		if len(p.disputes) >= p.cfg.MaxDisputes {
			return reasonDisputeLimit
		}
		rec = newDisputeRecord(key, sess.validators())
	}
	now := p.cfg.Clock.Now()
	added, skipped := 0, ""
	for i := range set.Statements {
		e := &set.Statements[i]
		switch {
		case int64(e.ValidatorIndex) >= int64(sess.validators()):
			skipped = reasonValidatorIndex
			continue
		case !wellFormed(&e.Statement):
			skipped = reasonMalformed
			continue
		case p.cfg.VerifyDisputeStatements:
			v := sess.verifier(e.ValidatorIndex, p.cfg.VerifierFor)
			if v == nil || !e.Verify(v, set.CandidateHash, set.Session) {
				skipped = reasonBadSignature
				continue
			}
		}
		if rec.add(*e, now) {
			added++
		}
	}
	if added == 0 {
		if skipped != "" {
			return skipped
		}
		return reasonDuplicate
	}
	if !existed {
		p.disputes[key] = rec
	}
	return ""
}

// ancientSession reports whether disputes of session s are past the
// runtime's dispute window, seen from the newest session of an active leaf.
func (p *Provisioner) ancientSession(s types.SessionIndex) bool {
	return int64(s)+int64(p.cfg.DisputeWindow) < int64(p.newestSession)
}

// pruneDisputes forgets the disputes of sessions past the window.
func (p *Provisioner) pruneDisputes() {
	for key := range p.disputes {
		if r := p.disputes[key]; p.ancientSession(key.Session) {
			if r.misbehavior {
				p.m.misbehaviorExpired.Inc()
			}
			delete(p.disputes, key)
		}
	}
}

// sessionFor fetches a session's info within ChainTimeout.
func (p *Provisioner) sessionFor(ctx context.Context, idx types.SessionIndex) (*session, error) {
	if s, ok := p.cache[idx]; ok {
		return s, nil
	}
	ctx, stop := withClockTimeout(ctx, p.cfg.Clock, p.cfg.ChainTimeout, errChainTimeout)
	defer stop()
	return p.session(ctx, idx)
}

// Dispute partitions, in the order they are selected. After the verified
// misbehaviour reports come Polkadot's partitions in Polkadot's priority;
// the last is never selected.
const (
	partMisbehavior = iota
	partInactiveUnknown
	partInactiveUnconcluded
	partActiveUnknown
	partActiveUnconcluded
	partActiveConcluded
	partInactiveConcluded // dropped: settled on chain, nothing to add
	numPartitions
)

// partitionNames are the "partition" label values (Polkadot's, plus ours).
var partitionNames = [numPartitions]string{
	"misbehavior",
	"inactive_unknown_onchain",
	"inactive_unconcluded_known_onchain",
	"active_unknown_onchain",
	"active_unconcluded_onchain",
	"active_concluded_onchain",
	"inactive_concluded_known_onchain",
}

type disputeSelection struct {
	sets           []types.DisputeStatementSet
	partitions     [numPartitions]int
	valid, invalid int
	// waiting counts, by reason, the disputes holding a verified
	// misbehaviour report that the runtime would not keep yet.
	waiting map[string]int
}

// Why the runtime's filter_dispute_data would drop a set: the "reason"
// label of the misbehaviour-waiting metric.
const (
	refuseOneSided     = "one_sided"
	refuseUnconfirmed  = "unconfirmed"
	refuseConcludedOld = "concluded_long_ago"
)

var waitingReasons = []string{refuseOneSided, refuseUnconfirmed, refuseConcludedOld}

// disputeRules are the inputs of the runtime's and Polkadot's rules.
type disputeRules struct {
	now       time.Time
	activeFor time.Duration
	maxVotes  int
	// blockNumber is the block under construction; postConclusion the
	// chain's dispute_post_conclusion_acceptance_period.
	blockNumber    types.BlockNumber
	postConclusion types.BlockNumber
}

// refusal says why the runtime's filter_dispute_data would drop the set
// the record makes ("" when it keeps it). The runtime judges the dispute
// as it stands after importing the set: votes on both sides, more
// participants than the byzantine threshold (n-1)/3 (which a dispute known
// on chain already has), and no conclusion on chain longer ago than the
// post-conclusion acceptance period. (An unknown session is refused before:
// such statements are never stored.)
func refusal(r *disputeRecord, oc *OnChainDispute, blockNumber, postConclusion types.BlockNumber) string {
	hasFor := len(r.valid) > 0 || (oc != nil && oc.ValidatorsFor.CountOnes() > 0)
	hasAgainst := len(r.invalid) > 0 || (oc != nil && oc.ValidatorsAgainst.CountOnes() > 0)
	if !hasFor || !hasAgainst {
		return refuseOneSided
	}
	if r.participants(oc) <= byzantineThreshold(r.n) {
		return refuseUnconfirmed
	}
	if oc != nil && oc.ConcludedAt != nil && uint64(*oc.ConcludedAt)+uint64(postConclusion) < uint64(blockNumber) {
		return refuseConcludedOld
	}
	return ""
}

// participants counts the validators with a vote here or on chain.
func (r *disputeRecord) participants(oc *OnChainDispute) int {
	n := r.voters()
	if oc == nil {
		return n
	}
	seen := func(v int) bool {
		_, a := r.valid[types.ValidatorIndex(v)]
		_, b := r.invalid[types.ValidatorIndex(v)]
		return a || b
	}
	for v := 0; v < max(oc.ValidatorsFor.Len, oc.ValidatorsAgainst.Len); v++ {
		if (bitGet(oc.ValidatorsFor, v) || bitGet(oc.ValidatorsAgainst, v)) && !seen(v) {
			n++
		}
	}
	return n
}

// partition classifies a record the runtime keeps (see refusal; -1 for
// one it refuses). Disputes holding a verified misbehaviour report come
// first; then Polkadot's partitions.
func partition(r *disputeRecord, oc *OnChainDispute, rules disputeRules) int {
	if refusal(r, oc, rules.blockNumber, rules.postConclusion) != "" {
		return -1
	}
	if r.misbehavior {
		return partMisbehavior
	}
	concluded := !r.concludedAt.IsZero()
	inactive := concluded && rules.now.Sub(r.concludedAt) > rules.activeFor
	switch {
	case inactive && oc == nil:
		return partInactiveUnknown
	case inactive && oc.concluded():
		return partInactiveConcluded
	case inactive:
		return partInactiveUnconcluded
	case oc == nil:
		return partActiveUnknown
	case oc.concluded():
		return partActiveConcluded
	default:
		return partActiveUnconcluded
	}
}

// worthKeeping is Polkadot's rule for a vote on a dispute the chain knows:
// backing votes always (they are what slashes backers); otherwise only a
// vote the chain has not seen, or one that contradicts the validator's
// on-chain vote, unless the chain already has it on both sides.
func worthKeeping(e *types.DisputeStatementEntry, oc *OnChainDispute) bool {
	if isBackingVote(&e.Statement) {
		return true
	}
	v := int(e.ValidatorIndex)
	inFor, inAgainst := bitGet(oc.ValidatorsFor, v), bitGet(oc.ValidatorsAgainst, v)
	switch {
	case inFor && inAgainst:
		return false
	case e.Statement.Valid && inAgainst, !e.Statement.Valid && inFor:
		return true
	}
	return !inFor && !inAgainst
}

// bitGet is BitVec.Get that tolerates a vector shorter than its length.
func bitGet(v types.BitVec, i int) bool {
	return i >= 0 && i < v.Len && i/8 < len(v.Bytes) && v.Bytes[i/8]&(1<<(i%8)) != 0
}

// selectDisputes is Polkadot's prioritized selection over the records the
// runtime would keep (see refusal): partition, drop the votes the chain already has (except backing
// votes), then take whole disputes in priority order, (session, candidate)
// order within a partition, until the next one would pass maxVotes; never a
// dispute in part. A dispute left with no vote to add is skipped (Polkadot
// sends it empty). The result is sorted by (session, candidate hash): the
// runtime's dispute_ordering_compare when every dispute is remote;
// orderDisputes then moves the local ones first.
func selectDisputes(records map[DisputeKey]*disputeRecord, onchain map[DisputeKey]OnChainDispute, rules disputeRules) disputeSelection {
	sel := disputeSelection{waiting: make(map[string]int)}
	maxVotes := rules.maxVotes
	var buckets [numPartitions][]*disputeRecord
	for key, r := range records {
		var oc *OnChainDispute
		if d, ok := onchain[key]; ok {
			oc = &d
		}
		if p := partition(r, oc, rules); p >= 0 {
			buckets[p] = append(buckets[p], r)
			sel.partitions[p]++
		} else if r.misbehavior {
			sel.waiting[refusal(r, oc, rules.blockNumber, rules.postConclusion)]++
		}
	}
	total := 0
	sets := make([]types.DisputeStatementSet, 0, len(records))
fill:
	for p := range partInactiveConcluded {
		b := buckets[p]
		slices.SortFunc(b, func(x, y *disputeRecord) int { return compareKeys(x.key, y.key) })
		for _, r := range b {
			stmts := r.statements()
			if d, ok := onchain[r.key]; ok {
				stmts = filterKnown(stmts, &d)
			}
			if total+len(stmts) > maxVotes {
				break fill
			}
			if len(stmts) == 0 {
				continue
			}
			total += len(stmts)
			sets = append(sets, types.DisputeStatementSet{CandidateHash: r.key.CandidateHash, Session: r.key.Session, Statements: stmts})
			for i := range stmts {
				if stmts[i].Statement.Valid {
					sel.valid++
				} else {
					sel.invalid++
				}
			}
		}
	}
	slices.SortFunc(sets, func(a, b types.DisputeStatementSet) int {
		return compareKeys(DisputeKey{a.Session, a.CandidateHash}, DisputeKey{b.Session, b.CandidateHash})
	})
	sel.sets = sets
	return sel
}

func compareKeys(a, b DisputeKey) int {
	if c := cmp.Compare(a.Session, b.Session); c != 0 {
		return c
	}
	return cmp.Compare(string(a.CandidateHash[:]), string(b.CandidateHash[:]))
}

// filterKnown drops the votes worthKeeping rejects; it returns stmts itself
// when it keeps them all.
func filterKnown(stmts []types.DisputeStatementEntry, oc *OnChainDispute) []types.DisputeStatementEntry {
	for i := range stmts {
		if worthKeeping(&stmts[i], oc) {
			continue
		}
		out := append(make([]types.DisputeStatementEntry, 0, len(stmts)-1), stmts[:i]...)
		for k := i + 1; k < len(stmts); k++ {
			if worthKeeping(&stmts[k], oc) {
				out = append(out, stmts[k])
			}
		}
		return out
	}
	return stmts
}

// orderDisputes sorts a block's dispute sets as the runtime's
// dispute_ordering_compare does before it deduplicates and weighs them:
// local disputes (the candidate was included on this chain; included
// gives the height) first, the earlier inclusion first, then by candidate
// hash; remote ones after, by session, then candidate hash. Since 2026 enter
// refuses an inherent that create_inherent would have reordered
// (InherentDataFilteredDuringExecution), so any other order loses the block.
func orderDisputes(sets []types.DisputeStatementSet, included map[DisputeKey]types.BlockNumber) {
	slices.SortFunc(sets, func(a, b types.DisputeStatementSet) int {
		ha, la := included[DisputeKey{a.Session, a.CandidateHash}]
		hb, lb := included[DisputeKey{b.Session, b.CandidateHash}]
		switch {
		case la && !lb:
			return -1
		case lb && !la:
			return 1
		case la:
			if c := cmp.Compare(ha, hb); c != 0 {
				return c
			}
			return cmp.Compare(string(a.CandidateHash[:]), string(b.CandidateHash[:]))
		}
		return compareKeys(DisputeKey{a.Session, a.CandidateHash}, DisputeKey{b.Session, b.CandidateHash})
	})
}

// includedAt answers, from the job's cache and one bounded chain-view call
// for the disputes not asked about yet, which of the sets are local and at
// what height. A failed call leaves those disputes unknown (ordered as
// remote, asked again by the next assembly): as with the on-chain
// disputes, Polkadot goes on rather than failing the block, and the order
// is then wrong only if one of them is local.
func (p *Provisioner) includedAt(ctx context.Context, j *job, sets []types.DisputeStatementSet) map[DisputeKey]types.BlockNumber {
	if j.included == nil {
		j.included = make(map[DisputeKey]*types.BlockNumber)
	}
	var ask []DisputeKey
	for i := range sets {
		k := DisputeKey{Session: sets[i].Session, CandidateHash: sets[i].CandidateHash}
		if _, known := j.included[k]; !known {
			ask = append(ask, k)
		}
	}
	if len(ask) > 0 {
		leaf := j.leaf.Hash
		got, err := callChain(ctx, &p.calls, "included candidates", func(c context.Context) (map[DisputeKey]types.BlockNumber, error) {
			return p.cfg.Chain.IncludedAt(c, leaf, ask)
		})
		if err != nil {
			log.Warnw("fetching dispute inclusions failed; ordering them as remote", "leaf", leaf, "err", err)
		} else {
			for _, k := range ask {
				var at *types.BlockNumber
				if h, ok := got[k]; ok {
					at = &h
				}
				j.included[k] = at
			}
		}
	}
	out := make(map[DisputeKey]types.BlockNumber)
	for i := range sets {
		k := DisputeKey{Session: sets[i].Session, CandidateHash: sets[i].CandidateHash}
		if at := j.included[k]; at != nil {
			out[k] = *at
		}
	}
	return out
}
