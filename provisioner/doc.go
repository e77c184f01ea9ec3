// Package provisioner is the Polkadot provisioner subsystem: it collects,
// per active leaf (relay parent), everything a relay-chain block author
// needs for the parachains inherent — signed availability bitfields, backed
// candidates, dispute statements and misbehaviour reports — and, when a
// block author asks, selects what goes into the block and returns the
// ParaInherentData with its SCALE encoding.
//
// # Design
//
// The package knows nothing of sockets or libp2p. Provisioner is a
// deterministic state machine in the style of etcd-io/raft: it is driven by
// signals (ActiveLeavesUpdate, Conclude), messages (RequestInherentData,
// ProvisionableData) and Tick, it reads time only from an injected Clock and
// the chain only through an injected ChainView, and every behaviour can be
// tested with a ManualClock and a fake chain, without sleeping. Subsystem
// runs a Provisioner on one goroutine and is what the rest of the node talks
// to.
//
// Each active leaf has a job: the leaf's chain state (loaded once at
// activation: header, availability cores, session validators and groups,
// allowed relay parents, backing state; the on-chain disputes at the first
// request), the
// bitfields and backed candidates provided for it, the requests waiting for
// PRE_PROPOSE and the block authors subscribed to it. Data for a relay
// parent without a job is discarded and counted. Deactivation ends the job
// and frees it. Dispute votes (from dispute statements and verified
// misbehaviour reports) are accepted through any active leaf but kept by
// the Provisioner across leaves, as Polkadot's dispute coordinator keeps
// them: a dispute lasts many blocks, and its activity window (180 s) is
// longer than a leaf's life. They are bounded (MaxDisputes, one valid and
// one invalid vote per validator) and forgotten once their session leaves
// the runtime's dispute window (DisputeWindow sessions).
//
// # Timing
//
// A request for a leaf is held until PRE_PROPOSE (default 2 s) after the
// leaf's activation, so that bitfields can arrive, then answered from the
// data held at that moment; later requests are answered at once, each from
// a fresh selection. A request for an unknown or deactivated leaf is
// answered at once with ErrUnknownLeaf or ErrLeafDeactivated. An assembly is
// bounded (default 500 ms): past the bound the answer is ErrAssemblyTimeout.
// Chain-view calls run on their own goroutines so that a slow chain view
// never holds the subsystem past these bounds; Conclude (and Run's context
// ending) answers every held request with ErrShuttingDown, closes every
// subscription, and waits at most ConcludeGrace (default 1 s) for abandoned
// chain-view calls before Run returns.
//
// # Selection
//
// Bitfields are selected exactly as Polkadot does: only those whose length
// is the number of cores and that set no bit on a core that is not
// Occupied, at most one per validator (the one with more set bits, the
// first among equals), in ascending validator order. The job applies the
// rule as bitfields arrive, which both bounds its memory and gives the same
// result.
//
// Backed candidates: a core counts for a para when Scheduled for it, when
// Occupied and made available by the selected bitfields together with the
// runtime's availability record (the runtime's supermajority n - (n-1)/3;
// the Rust node's 3*ones >= 2*n asks one vote less when n % 3 == 0) — then
// for next_up_on_available —, or when Occupied, not available and timed out
// (time_out_at <= leaf number + 1) — then for next_up_on_time_out. Chains
// are what prospective-parachains offers: the chain view's BackingState
// gives per para its required parent (head on chain), its chain of
// candidates pending availability, the minimum relay-parent number, the
// head-data and code size limits, the validation code hash, and the claim
// queue. A para's chain starts on the head of its last pending candidate
// (else its head on chain) and is void when a pending candidate times out
// in this block; each next candidate builds on the previous one; relay
// parents are allowed ones (the leaf or an allowed ancestor) and never move
// backwards; each candidate takes its own core (its v2 or v3 descriptor's
// or its injected core index, or any core of its para for a v1 candidate); at a
// fork the lower candidate hash wins (greedily, as fork_selection_rule);
// the chain is no longer than the para's free cores nor its claim-queue
// depth. Chaining needs the parent head, which a BackedCandidate carries in
// its PersistedValidationData (checked against the descriptor and the relay
// parent's number). Disabled validators' votes are stripped (from a copy)
// and a candidate left with fewer than min(group size,
// minimum_backing_votes) votes is dropped with the rest of its chain, the
// group being the one assigned to its core at relay_parent_number + 1. At
// most one candidate with new validation code goes into a block; a later
// one is dropped with the rest of its para's chain. The order is the
// runtime's: ascending para id, a para's chain in chain order (the runtime
// rebuilds the list from a map keyed by para id and, since 2026, refuses an
// inherent it would have changed).
//
// Before any of that, a candidate passes the runtime's
// sanitize_backed_candidate_v2_v3 on arrival, or is never kept (counted in
// polkadot_parachain_provisioner_discarded_data_total by reason): the
// descriptor is read with the session's node features
// (ChainView.NodeFeatures; CandidateReceiptV3, bit 4, gives V3 its layout),
// an unknown version is refused, a V3 scheduling parent must be an allowed
// relay parent as well, a V2 or V3 descriptor's session and scheduling
// session must be the session of the block under construction, and the
// UMP signals must pass parse_ump_signals against the claim queue at the
// scheduling parent (the relay parent but for V3): BackingState.ClaimQueue
// for the leaf, RelayParent.ClaimQueue for an allowed ancestor. Where the
// view cannot tell that claim queue, the checks that need none (the
// signals' form and count, none with V1, some with V3) still apply.
//
// A job keeps per para only candidates that may join such a chain: at most
// MaxCandidatesPerDepth forks at each depth of the tree rooted at the
// required parent, no deeper than the claim-queue depth, evicting the
// highest candidate hash (the fork the rule drops first), plus as many not
// yet connected (a child may arrive before its parent), so a flood of junk
// never keeps a connected candidate out and arriving first wins nothing.
// A chain view that cannot tell the constraints (a replay of a recorded
// block) says so with BackingState.ParasUnknown: then any candidate whose
// parent no held candidate produces may start a chain, after what stays on
// cores, and each such assembly is counted
// (polkadot_parachain_provisioner_unknown_constraints_total). A live view
// never sets it, and a para it does not list gets nothing.
//
// Disputes follow Polkadot's prioritized selection over the sets the
// runtime keeps (filter_dispute_data, judged after import: votes on both
// sides, more participants than the byzantine threshold (n-1)/3 counting
// the on-chain voters, not concluded on chain more than
// DisputePostConclusionPeriod blocks ago, a session within the dispute
// window): disputes are partitioned (inactive unknown on chain, inactive
// unconcluded on chain, active unknown, active unconcluded, active
// concluded on chain; inactive and concluded on chain is dropped), votes
// the chain already has are dropped except backing votes, and whole
// disputes are taken in that priority until the next would pass the vote
// cap (default 200,000), never a dispute in part. A verified misbehaviour
// report's two votes join the dispute of its candidate (Polkadot slashes
// only through disputes); such a dispute, once the runtime would keep it,
// comes before all others. Until then it waits, counted by reason in
// polkadot_parachain_provisioner_misbehavior_waiting, and is forgotten
// (polkadot_parachain_provisioner_misbehavior_expired_total) when its
// session leaves the dispute window. The result is in the runtime's
// dispute_ordering_compare order: local disputes (the candidate was
// included on the leaf's chain, ChainView.IncludedAt) first by inclusion
// height then candidate hash, then remote ones by (session, candidate
// hash).
//
// # For the network layer
//
// The network layer holds a Subsystem as three narrow interfaces:
//
//   - Feeder: Feed(ctx, relayParent, data) queues one decoded, validated
//     piece of data (*SignedBitfield, *BackedCandidate, *DisputeStatements
//     or *MisbehaviorReport) for the job of relayParent. It does not wait
//     for processing. A bitfield belongs to the leaf it was signed for. A
//     backed candidate may go into a block on any active leaf that has its
//     relay parent as itself or an allowed ancestor: feed it once, for any
//     active leaf or for its own relay parent, and the provisioner gives it
//     to every such leaf (each keeps it once, by candidate hash), and to
//     the leaves activated later while its relay parent is allowed. Dispute
//     statements and misbehaviour reports may name any active leaf. The
//     provisioner takes the value as is and never copies or modifies it: do
//     not modify it after Feed. Signatures of
//     bitfields, backing votes and dispute statements are the network
//     layer's to check (the provisioner re-checks dispute statements only
//     with Config.VerifyDisputeStatements); misbehaviour reports are always
//     verified here, with the session's keys.
//   - InherentSource: RequestInherentData(ctx, relayParent) waits for the
//     answer: the inherent and its encoding, or an error wrapping one of
//     the package's sentinels.
//   - AuthorStream: Subscribe(ctx, relayParent, buffer) returns a
//     Subscription whose channel carries every piece of data the job
//     accepts, as it arrives; a subscriber that lets its buffer fill loses
//     the subscription (Err says ErrSlowSubscriber) and never slows the
//     subsystem.
//
// The chain follower drives the Subsystem with ActiveLeaves and Conclude.
//
// # Observability
//
// Metrics (registered on Config.Registerer, never on the global registry)
// carry Polkadot's names where Polkadot has the metric:
// polkadot_parachain_inherent_data_requests_total{success},
// polkadot_parachain_provisioner_request_inherent_data_time,
// polkadot_parachain_provisioner_provisionable_data_time,
// polkadot_parachain_provisioner_inherent_data_response_bitfields_sent (the
// bitfields actually put in the inherent),
// polkadot_parachain_inherent_data_dispute_statement_sets,
// polkadot_parachain_inherent_data_dispute_statements{validity},
// polkadot_parachain_provisioner_partitioned_disputes{partition},
// polkadot_parachain_fetched_onchain_disputes,
// polkadot_parachain_provisioner_backable_vs_in_block (histogram, Polkadot's
// buckets -100..100: the candidates this node held backable for a leaf's
// parent, counted when that leaf ends, minus the candidates the leaf block
// backed); and ours:
// polkadot_parachain_provisioner_discarded_data_total{kind,reason},
// polkadot_parachain_provisioner_active_jobs,
// polkadot_parachain_provisioner_subscriptions_closed_total{reason},
// polkadot_parachain_provisioner_unknown_constraints_total,
// polkadot_parachain_provisioner_misbehavior_waiting{reason},
// polkadot_parachain_provisioner_misbehavior_expired_total.
// Logs go through go-log's "provisioner" logger.
package provisioner
