package provisioner

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// disputeHarness has sessions 1..8 of n validators and one active leaf.
func disputeHarness(t *testing.T, n int, cfg Config) (*harness, types.Hash) {
	t.Helper()
	h := newHarness(t, cfg)
	for s := types.SessionIndex(1); s <= 8; s++ {
		h.addSession(s, fakeIDs(n), 5)
	}
	leaf := h.addLeaf(leafHash, leafNumber, 1, nil)
	h.activate(leaf)
	return h, leaf.Hash
}

func TestWorthKeeping(t *testing.T) {
	// Five validators: for = {0, 2, 4}, against = {1, 4}.
	oc := onchainState(5, 0, 0, 0, false)
	for _, v := range []int{0, 2, 4} {
		oc.ValidatorsFor.Set(v, true)
	}
	for _, v := range []int{1, 4} {
		oc.ValidatorsAgainst.Set(v, true)
	}
	empty := OnChainDispute{}
	tests := []struct {
		name string
		vote types.DisputeStatementEntry
		oc   *OnChainDispute
		keep bool
	}{
		{"valid vote the chain has", explicitVote(true, 0), &oc, false},
		{"valid vote the chain lacks", explicitVote(true, 3), &oc, true},
		{"invalid vote the chain has", explicitVote(false, 1), &oc, false},
		{"invalid vote the chain lacks", explicitVote(false, 3), &oc, true},
		{"double vote the chain has on both sides", explicitVote(false, 4), &oc, false},
		{"double vote the chain has one side of", explicitVote(false, 0), &oc, true},
		{"backing vote is always kept", backingVote(0, leafHash), &oc, true},
		{"empty on-chain state", explicitVote(false, 0), &empty, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := worthKeeping(&tc.vote, tc.oc); got != tc.keep {
				t.Fatalf("worthKeeping = %v, want %v", got, tc.keep)
			}
		})
	}
}

func TestDisputePartitions(t *testing.T) {
	const n = 10 // byzantine threshold 3, supermajority 7
	now := t0.Add(time.Hour)
	rec := func(valid, invalid int, concludedAgo time.Duration) *disputeRecord {
		r := newDisputeRecord(DisputeKey{Session: 1}, n)
		for _, e := range append(votes(true, 0, valid), votes(false, n-invalid, n)...) {
			r.add(e, now.Add(-concludedAgo))
		}
		return r
	}
	known := func(forTo, againstFrom int, concluded bool) *OnChainDispute {
		d := onchainState(n, forTo, againstFrom, n, concluded)
		return &d
	}
	misbehaving := rec(3, 1, 0)
	misbehaving.misbehavior = true
	lone := rec(1, 1, 0)
	lone.misbehavior = true
	tests := []struct {
		name string
		r    *disputeRecord
		oc   *OnChainDispute
		want int
	}{
		{"verified misbehaviour in a confirmed dispute", misbehaving, nil, partMisbehavior},
		{"verified misbehaviour alone: unconfirmed", lone, nil, -1},
		{"one side only, unknown on chain", rec(5, 0, 0), nil, -1},
		{"one side here, the other on chain", rec(5, 0, 0), known(0, n-1, false), partActiveUnconcluded},
		{"unconfirmed, unknown on chain", rec(2, 1, 0), nil, -1},
		// The runtime counts the participants after import: the on-chain
		// voters join ours. 3 of 10 is not more than the byzantine
		// threshold; 4 is.
		{"unconfirmed, known on chain with no new voter", rec(2, 1, 0), known(1, n, false), -1},
		{"unconfirmed here, confirmed with the on-chain voters", rec(2, 1, 0), known(3, n, false), partActiveUnconcluded},
		{"confirmed, unknown on chain", rec(3, 1, 0), nil, partActiveUnknown},
		{"just concluded, unknown on chain", rec(8, 1, time.Second), nil, partActiveUnknown},
		{"concluded long ago, unknown on chain", rec(8, 1, 200*time.Second), nil, partInactiveUnknown},
		{"concluded long ago, unconcluded on chain", rec(8, 1, 200*time.Second), known(3, n, false), partInactiveUnconcluded},
		{"concluded long ago, concluded on chain", rec(8, 1, 200*time.Second), known(7, n, false), partInactiveConcluded},
		{"active, concluded on chain", rec(5, 1, 0), known(8, n, true), partActiveConcluded},
		{"active, 6 of 10 for on chain: unconcluded", rec(5, 1, 0), known(6, n-1, false), partActiveUnconcluded},
		{"on-chain conclusion recorded by the runtime", rec(5, 1, 0), known(2, n, true), partActiveConcluded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Block 100: the on-chain conclusions (at block 3) are within
			// the default post-conclusion period of 100 blocks.
			rules := disputeRules{now: now, activeFor: DefaultActiveDisputeDuration, blockNumber: 100, postConclusion: DefaultDisputePostConclusionPeriod}
			if got := partition(tc.r, tc.oc, rules); got != tc.want {
				t.Fatalf("partition = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("a double vote on chain counts towards conclusion", func(t *testing.T) {
		// Nine validators, supermajority 7: 7 for, validator 0 also against.
		d := onchainState(9, 7, 0, 1, false)
		if !d.concluded() {
			t.Fatal("7 of 9 for, one of them also against, should be concluded")
		}
	})
}

// TestDisputeSelectionFlow: one dispute of each kind, priorities, vote
// filtering, and the (session, candidate) order of the result.
func TestDisputeSelectionFlow(t *testing.T) {
	const n = 10
	h, leaf := disputeHarness(t, n, Config{})
	c := func(i int) types.Hash { return testHash("disputed", i) }
	// D and E conclude (7 valid) now and become inactive later.
	h.mustProvide(leaf, disputeSet(4, c(4), votes(true, 0, 8), votes(false, 8, 9)))
	h.mustProvide(leaf, disputeSet(5, c(5), votes(true, 0, 8), votes(false, 8, 9)))
	h.clock.Advance(200 * time.Second)
	// A: active, confirmed, unknown on chain: all 8 votes.
	h.mustProvide(leaf, disputeSet(1, c(1), votes(true, 0, 6), votes(false, 6, 8)))
	// B: active, on chain unconcluded with 0..2 for: 3 valid + 1 invalid are new.
	h.mustProvide(leaf, disputeSet(2, c(2), votes(true, 0, 6), votes(false, 6, 7)))
	// C: active, concluded on chain (0..7 for): only 8 and 9 are new.
	h.mustProvide(leaf, disputeSet(3, c(3), votes(true, 0, 9), votes(false, 9, 10)))
	// F: unconfirmed (2 voters), unknown on chain: left out.
	h.mustProvide(leaf, disputeSet(6, c(6), votes(true, 0, 1), votes(false, 1, 2)))
	h.setOnchain(leaf, map[DisputeKey]OnChainDispute{
		{2, c(2)}: onchainState(n, 3, 0, 0, false),
		{3, c(3)}: onchainState(n, 8, 0, 0, true),
		{4, c(4)}: onchainState(n, 7, 0, 0, true), // D: inactive, concluded on chain: dropped
	})

	// The leaf was activated 200 s ago: its PRE_PROPOSE has passed.
	resp := <-h.request(leaf)
	if resp.Err != nil {
		t.Fatal(resp.Err)
	}
	got := map[types.SessionIndex]int{}
	var order []types.SessionIndex
	for _, s := range resp.Data.Disputes {
		got[s.Session] = len(s.Statements)
		order = append(order, s.Session)
		checkStatementOrder(t, s)
	}
	want := map[types.SessionIndex]int{1: 8, 2: 4, 3: 2, 5: 9}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("selected (session: votes) %v, want %v", got, want)
	}
	if fmt.Sprint(order) != "[1 2 3 5]" {
		t.Fatalf("order %v, want ascending sessions", order)
	}
	for part, wantN := range map[string]float64{
		"inactive_unknown_onchain":         1,
		"inactive_concluded_known_onchain": 1,
		"active_unknown_onchain":           1,
		"active_unconcluded_onchain":       1,
		"active_concluded_onchain":         1,
	} {
		if v := metricValue(t, h.p.m.partitioned.WithLabelValues(part)); v != wantN {
			t.Errorf("partition %s counted %v, want %v", part, v, wantN)
		}
	}
	if v := metricValue(t, h.p.m.disputeSets); v != 4 {
		t.Errorf("dispute statement sets metric = %v, want 4", v)
	}
	if v := metricValue(t, h.p.m.disputeStatements.WithLabelValues("invalid")); v != 2+1+1+1 {
		t.Errorf("invalid statements metric = %v, want 5", v)
	}
}

// checkStatementOrder: valid statements first, then invalid, each side by
// ascending validator index without repeats.
func checkStatementOrder(t testing.TB, s types.DisputeStatementSet) {
	t.Helper()
	seenInvalid := false
	last := int64(-1)
	for _, st := range s.Statements {
		if !st.Statement.Valid && !seenInvalid {
			seenInvalid, last = true, -1
		}
		if st.Statement.Valid && seenInvalid {
			t.Fatalf("valid statement after an invalid one in %s", s.CandidateHash)
		}
		if int64(st.ValidatorIndex) <= last {
			t.Fatalf("statements not in ascending validator order in %s", s.CandidateHash)
		}
		last = int64(st.ValidatorIndex)
	}
}

func TestDisputeVoteCap(t *testing.T) {
	const n = 10
	c := func(i int) types.Hash { return testHash("capped", i) }
	t.Run("whole disputes until the next one does not fit", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{MaxDisputeVotes: 20})
		for i := 1; i <= 5; i++ {
			h.mustProvide(leaf, disputeSet(types.SessionIndex(i), c(i), votes(true, 0, 5), votes(false, 5, 8)))
		}
		got := h.inherent(leaf).Disputes
		if len(got) != 2 || got[0].Session != 1 || got[1].Session != 2 {
			t.Fatalf("selected %d disputes, want sessions 1 and 2", len(got))
		}
		for _, s := range got {
			if len(s.Statements) != 8 {
				t.Fatalf("dispute %d has %d of its 8 votes", s.Session, len(s.Statements))
			}
		}
	})
	t.Run("exactly the cap fits", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{MaxDisputeVotes: 16})
		for i := 1; i <= 3; i++ {
			h.mustProvide(leaf, disputeSet(types.SessionIndex(i), c(i), votes(true, 0, 5), votes(false, 5, 8)))
		}
		if got := h.inherent(leaf).Disputes; len(got) != 2 {
			t.Fatalf("selected %d disputes, want 2", len(got))
		}
	})
	t.Run("a lower priority never jumps a dispute that did not fit", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{MaxDisputeVotes: 12})
		// Session 1 and 2: active, unknown on chain, 8 votes each.
		h.mustProvide(leaf, disputeSet(1, c(1), votes(true, 0, 5), votes(false, 5, 8)))
		h.mustProvide(leaf, disputeSet(2, c(2), votes(true, 0, 5), votes(false, 5, 8)))
		// Session 3: concluded on chain, 2 new votes: would fit, lower priority.
		h.mustProvide(leaf, disputeSet(3, c(3), votes(true, 0, 9), votes(false, 9, 10)))
		h.setOnchain(leaf, map[DisputeKey]OnChainDispute{{3, c(3)}: onchainState(n, 8, 0, 0, true)})
		got := h.inherent(leaf).Disputes
		if len(got) != 1 || got[0].Session != 1 {
			t.Fatalf("selected %d disputes, want only session 1", len(got))
		}
	})
	t.Run("many disputes fill the cap in priority order", func(t *testing.T) {
		const perPartition, limit = 15, 200
		h, leaf := disputeHarness(t, n, Config{MaxDisputeVotes: limit, MaxDisputes: 100})
		onchain := map[DisputeKey]OnChainDispute{}
		i := 0
		add := func(s types.SessionIndex, oc *OnChainDispute) {
			i++
			h.mustProvide(leaf, disputeSet(s, c(i), votes(true, 0, 9), votes(false, 9, 10)))
			if oc != nil {
				onchain[DisputeKey{s, c(i)}] = *oc
			}
		}
		unconcluded := onchainState(n, 4, 0, 0, false) // 6 new votes each
		concluded := onchainState(n, 8, 0, 0, true)    // 2 new votes each
		for k := 0; k < perPartition; k++ {
			add(3, &concluded)   // active, concluded on chain: last
			add(2, &unconcluded) // active, unconcluded on chain: second
			add(1, nil)          // active, unknown on chain (10 votes each): first
		}
		h.setOnchain(leaf, onchain)
		total, sessions := 0, map[types.SessionIndex]int{}
		for _, s := range h.inherent(leaf).Disputes {
			total += len(s.Statements)
			sessions[s.Session]++
		}
		// 15 x 10 unknown, then 8 of the unconcluded (6 each): 198; the
		// ninth would pass 200, and the concluded ones never get a turn.
		if total > limit || total < limit-n {
			t.Fatalf("%d votes selected, want between %d and %d", total, limit-n, limit)
		}
		if sessions[1] != perPartition || sessions[2] != 8 || sessions[3] != 0 {
			t.Fatalf("selected per session %v, want 15 of session 1, 8 of session 2, none of session 3", sessions)
		}
	})
}

func TestDisputeUnconfirmed(t *testing.T) {
	const n = 10
	h, leaf := disputeHarness(t, n, Config{})
	known, unknown := testHash("unconfirmed", 1), testHash("unconfirmed", 2)
	h.mustProvide(leaf, disputeSet(1, known, votes(true, 0, 1), votes(false, 1, 2)))
	h.mustProvide(leaf, disputeSet(2, unknown, votes(true, 0, 1), votes(false, 1, 2)))
	// On chain: validators 5 and 6 against, so 4 participants after
	// import, more than the byzantine threshold of 3 (a dispute gets on
	// chain only confirmed).
	h.setOnchain(leaf, map[DisputeKey]OnChainDispute{{1, known}: onchainState(n, 0, 5, 7, false)})
	got := h.inherent(leaf).Disputes
	if len(got) != 1 || got[0].CandidateHash != known || len(got[0].Statements) != 2 {
		t.Fatalf("got %d disputes, want only the one known on chain with its 2 votes", len(got))
	}
}

func TestDisputeNothingNewIsSkipped(t *testing.T) {
	const n = 10
	h, leaf := disputeHarness(t, n, Config{})
	c := testHash("settled", 1)
	h.mustProvide(leaf, disputeSet(1, c, votes(true, 0, 4), votes(false, 9, 10)))
	oc := onchainState(n, 4, 9, 10, false)
	h.setOnchain(leaf, map[DisputeKey]OnChainDispute{{1, c}: oc})
	if got := h.inherent(leaf).Disputes; len(got) != 0 {
		t.Fatalf("got %d disputes; every vote is on chain already", len(got))
	}
}

func TestDisputeVoteStore(t *testing.T) {
	const n = 10
	c := testHash("stored", 1)
	t.Run("a backing vote replaces an explicit valid vote, not the reverse", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{})
		h.mustProvide(leaf, disputeSet(1, c, votes(true, 0, 4), votes(false, 4, 5)))
		h.mustProvide(leaf, disputeSet(1, c, []types.DisputeStatementEntry{backingVote(0, leafHash)}))
		err := h.provide(leaf, disputeSet(1, c, votes(true, 0, 1)))
		if !errors.Is(err, ErrInvalidData) || discarded(h, "dispute_statements", reasonDuplicate) != 1 {
			t.Fatalf("explicit vote after a backing vote: got %v, want a duplicate", err)
		}
		got := h.inherent(leaf).Disputes
		if len(got) != 1 || got[0].Statements[0].Statement.Kind != types.ValidBackingSeconded {
			t.Fatalf("validator 0's vote should be the backing vote")
		}
	})
	t.Run("the first invalid vote of a validator stays", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{})
		first := explicitVote(false, 7)
		second := first
		second.Signature[63] = 9
		h.mustProvide(leaf, disputeSet(1, c, votes(true, 0, 4), []types.DisputeStatementEntry{first}))
		if err := h.provide(leaf, disputeSet(1, c, []types.DisputeStatementEntry{second})); err == nil {
			t.Fatal("second invalid vote of validator 7 accepted")
		}
		got := h.inherent(leaf).Disputes
		if last := got[0].Statements[len(got[0].Statements)-1]; last.Signature != first.Signature {
			t.Fatal("the first invalid vote was replaced")
		}
	})
	t.Run("statements of unknown validators and kinds are skipped", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{})
		bad := explicitVote(false, n)
		odd := explicitVote(false, 3)
		odd.Statement.Kind = 5
		h.mustProvide(leaf, disputeSet(1, c, votes(true, 0, 4), []types.DisputeStatementEntry{bad, odd}, votes(false, 4, 5)))
		got := h.inherent(leaf).Disputes
		if len(got) != 1 || len(got[0].Statements) != 5 {
			t.Fatalf("want the 5 good statements only")
		}
		if err := h.provide(leaf, disputeSet(2, c, []types.DisputeStatementEntry{bad})); !errors.Is(err, ErrInvalidData) {
			t.Fatalf("a set of nothing usable: got %v", err)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{})
		err := h.provide(leaf, disputeSet(99, c, votes(true, 0, 4)))
		if !errors.Is(err, ErrInvalidData) || discarded(h, "dispute_statements", reasonUnknownSession) != 1 {
			t.Fatalf("got %v, want unknown_session", err)
		}
	})
	t.Run("disputes are bounded", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{MaxDisputes: 2})
		h.mustProvide(leaf, disputeSet(1, testHash("bounded", 1), votes(true, 0, 1)))
		h.mustProvide(leaf, disputeSet(1, testHash("bounded", 2), votes(true, 0, 1)))
		err := h.provide(leaf, disputeSet(1, testHash("bounded", 3), votes(true, 0, 1)))
		if !errors.Is(err, ErrInvalidData) || discarded(h, "dispute_statements", reasonDisputeLimit) != 1 {
			t.Fatalf("got %v, want dispute_limit", err)
		}
		// More votes for a dispute already held still count.
		h.mustProvide(leaf, disputeSet(1, testHash("bounded", 1), votes(false, 1, 2)))
	})
	t.Run("signatures checked when asked", func(t *testing.T) {
		keys, ids := validatorSet(t, 4)
		h := newHarness(t, Config{VerifyDisputeStatements: true})
		h.addSession(1, ids, 2)
		leaf := h.addLeaf(leafHash, leafNumber, 1, nil)
		h.activate(leaf)
		good := types.SignDisputeStatement(keys[0], types.DisputeStatement{Valid: true}, c, 1, 0)
		forged := types.SignDisputeStatement(keys[1], types.DisputeStatement{Valid: false}, c, 1, 2) // signed by 1, claims 2
		h.mustProvide(leaf.Hash, disputeSet(1, c, []types.DisputeStatementEntry{good, forged}))
		if v := discarded(h, "dispute_statements", reasonBadSignature); v != 0 {
			t.Fatalf("a set with one good statement counted as discarded")
		}
		rec := h.p.disputes[DisputeKey{1, c}]
		if len(rec.valid) != 1 || len(rec.invalid) != 0 {
			t.Fatalf("kept %d valid and %d invalid votes, want only the good one", len(rec.valid), len(rec.invalid))
		}
	})
}

func TestDisputeInactiveAfterActiveDuration(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		after time.Duration
		part  string
	}{
		{DefaultActiveDisputeDuration - time.Second, "active_unknown_onchain"},
		{DefaultActiveDisputeDuration, "active_unknown_onchain"},
		{DefaultActiveDisputeDuration + time.Second, "inactive_unknown_onchain"},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			h, leaf := disputeHarness(t, n, Config{})
			h.mustProvide(leaf, disputeSet(1, testHash("aging", 1), votes(true, 0, 7), votes(false, 7, 8)))
			h.clock.Advance(tc.after)
			<-h.request(leaf)
			if v := metricValue(t, h.p.m.partitioned.WithLabelValues(tc.part)); v != 1 {
				t.Fatalf("not in partition %s", tc.part)
			}
		})
	}
}

// TestDisputesOutliveLeaves: votes given for one leaf go into the next
// leaf's inherent; disputes past the dispute window are refused and
// forgotten.
func TestDisputesOutliveLeaves(t *testing.T) {
	const n = 10
	h := newHarness(t, Config{})
	for _, s := range []types.SessionIndex{3, 4, 10} {
		h.addSession(s, fakeIDs(n), 5)
	}
	first := h.addLeaf(testHash("leaf", 1), 1, 4, nil)
	second := h.addLeaf(testHash("leaf", 2), 2, 4, nil)
	later := h.addLeaf(testHash("leaf", 3), 3, 10, nil)
	h.activate(first)
	old, recent := testHash("old", 1), testHash("recent", 1)
	h.mustProvide(first.Hash, disputeSet(3, old, votes(true, 0, 4), votes(false, 4, 5)))
	h.mustProvide(first.Hash, disputeSet(4, recent, votes(true, 0, 4), votes(false, 4, 5)))
	h.p.HandleSignal(h.ctx, ActiveLeavesUpdate{Activated: []ActivatedLeaf{second}, Deactivated: []types.Hash{first.Hash}})
	if got := h.inherent(second.Hash).Disputes; len(got) != 2 {
		t.Fatalf("the next leaf's inherent has %d disputes, want both", len(got))
	}
	// Session 10: session 3 is past the window of 6, session 4 is not.
	h.activate(later)
	if got := h.inherent(later.Hash).Disputes; len(got) != 1 || got[0].CandidateHash != recent {
		t.Fatalf("want only the dispute within the window, got %d", len(got))
	}
	err := h.provide(later.Hash, disputeSet(3, testHash("old", 2), votes(true, 0, 4), votes(false, 4, 5)))
	if !errors.Is(err, ErrInvalidData) || discarded(h, "dispute_statements", reasonAncientSession) != 1 {
		t.Fatalf("a dispute past the window: got %v", err)
	}
}
