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
// allowed relay parents; the on-chain disputes at the first request), the
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
// (time_out_at <= leaf number + 1) — then for next_up_on_time_out. A para
// with k such cores gets a chain of up to k candidates (elastic scaling):
// each with the leaf or an allowed ancestor as relay parent, the first
// building on what the para still has on cores, each next one on the
// previous, each on its own core (the core of a v2 descriptor or of an
// injected core index, or any core of the para for a v1 candidate). Chaining
// needs the parent head, which a BackedCandidate carries in its
// PersistedValidationData; a candidate without it can only start a chain.
// At most one candidate with new validation code goes into a block; a later
// one is dropped with the rest of its para's chain. The order is the
// runtime's: ascending para id, a para's chain in chain order (the runtime
// rebuilds the list from a map keyed by para id and, since 2026, refuses an
// inherent it would have changed).
//
// Disputes follow Polkadot's prioritized selection: disputes are
// partitioned (inactive unknown on chain, inactive unconcluded on chain,
// active unknown, active unconcluded, active concluded on chain; inactive
// and concluded on chain is dropped), unconfirmed disputes unknown on chain
// are left out, votes the chain already has are dropped except backing
// votes, and whole disputes are taken in that priority until the next would
// pass the vote cap (default 200,000), never a dispute in part. Disputes
// built from verified misbehaviour reports come before all of them. The
// result is sorted by (session, candidate hash).
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
//     relay parent as itself or an allowed ancestor: feed it to each such
//     leaf (jobs do not share candidates). Dispute statements and
//     misbehaviour reports may name any active leaf. The provisioner takes the value as is and never
//     copies or modifies it: do not modify it after Feed. Signatures of
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
// polkadot_parachain_fetched_onchain_disputes; and ours:
// polkadot_parachain_provisioner_discarded_data_total{kind,reason},
// polkadot_parachain_provisioner_active_jobs,
// polkadot_parachain_provisioner_subscriptions_closed_total{reason}.
// Logs go through go-log's "provisioner" logger.
package provisioner
