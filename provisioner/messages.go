package provisioner

import (
	"sync"
	"sync/atomic"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Signal is an overseer signal: ActiveLeavesUpdate or Conclude.
type Signal interface{ isSignal() }

// ActivatedLeaf is a new head of the relay chain.
type ActivatedLeaf struct {
	Hash   types.Hash
	Number types.BlockNumber
}

// ActiveLeavesUpdate starts a job for every activated leaf and ends the jobs
// of the deactivated ones (deactivations are applied first).
type ActiveLeavesUpdate struct {
	Activated   []ActivatedLeaf
	Deactivated []types.Hash
}

// Conclude stops every job: held requests are answered with
// ErrShuttingDown, subscriptions are closed, and nothing is accepted after.
type Conclude struct{}

func (ActiveLeavesUpdate) isSignal() {}
func (Conclude) isSignal()           {}

// Message is a ProvisionerMessage: RequestInherentData or ProvisionableData.
type Message interface{ isMessage() }

// RequestInherentData asks for the parachains inherent of a block built on
// RelayParent. Exactly one InherentResponse is sent on Reply, which must have
// room for it (a buffer of at least one): the provisioner never blocks on a
// reply, and a reply that does not fit is dropped.
type RequestInherentData struct {
	RelayParent types.Hash
	Reply       chan<- InherentResponse
}

// ProvisionableData hands one piece of data for a relay parent to its job.
type ProvisionableData struct {
	RelayParent types.Hash
	Data        Data
}

func (RequestInherentData) isMessage() {}
func (ProvisionableData) isMessage()   {}

// Data is one piece of provisionable data: *SignedBitfield,
// *BackedCandidate, *DisputeStatements or *MisbehaviorReport. The provisioner
// keeps what it is given without copying it, so the sender must not modify
// it afterwards; subscribers receive the same value and must treat it as
// read-only too.
type Data interface{ kind() string }

// SignedBitfield is a validator's signed availability bitfield for the relay
// parent. Its signature is the network layer's to check.
type SignedBitfield struct {
	Bitfield types.UncheckedSignedAvailabilityBitfield
}

// BackedCandidate is a candidate backed by its group (the network layer
// checks the votes). ValidationData, when the sender has it (Polkadot's
// Seconded statements carry it), names the parent head the candidate builds
// on; the provisioner checks it against the descriptor and uses it to chain
// several candidates of one para (elastic scaling). Without it the candidate
// can only start a chain.
type BackedCandidate struct {
	Candidate      types.BackedCandidate
	ValidationData *PersistedValidationData
}

// DisputeStatements are signed statements about one candidate in one
// session.
type DisputeStatements struct {
	Set types.DisputeStatementSet
}

// MisbehaviorReport is a self-contained proof that one validator signed
// two contradicting statements about a candidate. The provisioner verifies
// it with the session's keys and, if it holds, puts both statements on chain
// in a dispute statement set selected before any other dispute. (The
// signing-context relay parent of a backing statement is the statement's
// Hash.)
type MisbehaviorReport struct {
	Report types.MisbehaviorReport
}

func (*SignedBitfield) kind() string    { return "bitfield" }
func (*BackedCandidate) kind() string   { return "backed_candidate" }
func (*DisputeStatements) kind() string { return "dispute_statements" }
func (*MisbehaviorReport) kind() string { return "misbehavior_report" }

// InherentResponse answers RequestInherentData: either the inherent for the
// relay parent with its SCALE encoding, or an error wrapping one of the
// package's sentinels (ErrUnknownLeaf, ErrLeafDeactivated, ErrShuttingDown,
// ErrAssemblyTimeout, ErrChainView, ErrTooManyRequests). Data shares memory
// with the provisioner's state and must not be modified.
type InherentResponse struct {
	RelayParent types.Hash
	Data        *types.InherentData
	Encoded     []byte
	Err         error
}

// Subscription delivers every piece of provisionable data accepted for one
// relay parent, as it arrives: the spec's channel to a block author. It
// never slows the provisioner: a subscriber whose buffer is full loses the
// subscription. When C is closed, Err says why (ErrSlowSubscriber,
// ErrLeafDeactivated, ErrShuttingDown or ErrUnsubscribed).
type Subscription struct {
	relayParent types.Hash
	c           chan Data
	cancelled   atomic.Bool

	mu  sync.Mutex
	err error
}

func newSubscription(rp types.Hash, buffer int) *Subscription {
	return &Subscription{relayParent: rp, c: make(chan Data, buffer)}
}

// C is the delivery channel. Items are shared, read-only values.
func (s *Subscription) C() <-chan Data { return s.c }

// RelayParent is the leaf the subscription follows.
func (s *Subscription) RelayParent() types.Hash { return s.relayParent }

// Err is why C was closed; nil while it is open.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Cancel ends the subscription. C is closed, with Err ErrUnsubscribed, by
// the provisioner at its next delivery or when the leaf ends; the
// subscriber need not drain it.
func (s *Subscription) Cancel() { s.cancelled.Store(true) }

// close is called by the provisioner's goroutine only, once.
func (s *Subscription) close(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.c)
}

// deliver sends d without blocking; false means the subscription is over
// (cancelled or too slow) and has been closed.
func (s *Subscription) deliver(d Data) bool {
	if s.cancelled.Load() {
		s.close(ErrUnsubscribed)
		return false
	}
	select {
	case s.c <- d:
		return true
	default:
		s.close(ErrSlowSubscriber)
		return false
	}
}
