// Package runtime is the testnet's relay-chain runtime: a deterministic
// model of Polkadot's scheduler, inclusion, paras_inherent, disputes and
// session pallets, written as a pure state machine (no sockets, no sleeps,
// no wall clock, no global state). A State is the runtime storage after a
// block; Runtime.CreateInherent and Runtime.Enter run a block's parachains
// inherent on the parent's State the way paras_inherent's create_inherent
// and enter do, and the query methods answer what Polkadot's runtime APIs
// answer (availability_cores, claim_queue, backing_constraints,
// disabled_validators, ...), so the testnet can hand them to the
// provisioner and to gossip validation.
//
// Signatures (bitfields, backing votes, dispute statements) are verified
// as the runtime's are; a node may inject a SignatureCache
// (Runtime.WithSignatureCache) of signatures its gossip already verified,
// which spares the work but never changes what is accepted, and the
// signatures an inherent certainly checks are verified as one batch.
//
// The facts it follows are in ../shared/research/modern-polkadot.md
// (sections 2 to 6); where the model departs from Polkadot, the comment at
// the departure says why.
package runtime
