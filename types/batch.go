package types

import (
	"crypto/rand"
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// BatchVerifier verifies many sr25519 signatures (signing context
// "substrate") at once: one multi-scalar multiplication over all items,
//
//	[-sum(z_i s_i)]B + sum([z_i]R_i) + sum([z_i k_i]A_i) == identity,
//
// instead of one multiplication each, where z_i are independent random
// 128-bit scalars (never zero) drawn from crypto/rand for every Verify. A
// bad item makes the sum the identity with probability at most 2^-128, so
// a batch is accepted exactly when every item is valid, with overwhelming
// probability; Ristretto is a prime-order group, so there is no cofactor
// to tell the batch and single equations apart.
//
// The per-item work (decoding s, decompressing R, the challenge k) is a
// PreparedSignature: Add does it on the caller's goroutine, and a caller
// that has many goroutines prepares with PrepareSignature on each and
// queues with AddPrepared, leaving the batch only the multiplication.
// Measured on the 2-core AMD EPYC this was tuned on (one core, all
// signatures good): a single Verify takes 25-27 us (curve25519-voi's own
// sr25519 the same, go-schnorrkel 58-65), of which preparing is 4.9 us;
// the equation alone takes 10 us per signature at 64 items, 8.5 at 256
// and 7 at 1,024 (BenchmarkBatchVerifyPrepared). The equation is
// curve.RistrettoPoint.MultiscalarMulVartime: above 190 terms (95 items)
// curve25519-voi runs Pippenger's method, which has no use for the keys'
// precomputed tables (ExpandedMultiscalarMulVartime with them measured
// 15-20% slower at 128 to 1,024 items), and below it Straus's, where they
// measured within noise of no tables (2 to 94 items).
//
// A failed batch only says that some item is bad; Verify then checks each
// item alone, reusing its prepared R and k, so it always returns the same
// per-item results as PublicKey.Verify. A batch with a bad item therefore
// costs its equation on top of the single checks (about 1.4x the single
// checks' multiplications at 256 items): batch only where a burst of
// signatures is already queued, and keep items from a source that sent
// bad signatures out of batches so that it cannot slow the others down.
// Items known to be invalid before any arithmetic (nil key, malformed
// signature) stay out of the equation and cost nothing.
//
// The zero value is ready to use. A BatchVerifier is not safe for
// concurrent use; Reset makes it reusable without reallocating.
type BatchVerifier struct {
	items []PreparedSignature // key nil: known invalid (nil key, malformed)

	// Buffers of the equation, kept across Reset.
	idx     []int // the items that can be valid
	zbytes  []byte
	coeffs  []scalar.Scalar
	scalars []*scalar.Scalar
	points  []*curve.RistrettoPoint
}

// NewBatchVerifier returns a BatchVerifier with room for capacity items.
func NewBatchVerifier(capacity int) *BatchVerifier {
	capacity = max(capacity, 0)
	return &BatchVerifier{items: make([]PreparedSignature, 0, capacity)}
}

// Add queues the signature sig of payload by key. It prepares the item
// right away (PrepareSignature), so payload is not retained and may be
// reused once Add returns. A nil key or a malformed signature makes the
// item invalid without affecting the others.
func (b *BatchVerifier) Add(key *PublicKey, payload []byte, sig [64]byte) {
	b.items = append(b.items, PreparedSignature{})
	if key != nil && key.ok {
		// An error leaves the item's key nil: invalid.
		_ = b.items[len(b.items)-1].prepare(key, payload, &sig)
	}
}

// AddPrepared queues a signature prepared by PrepareSignature (copying
// it). A zero PreparedSignature, which is what PrepareSignature returns
// with an error, is an invalid item.
func (b *BatchVerifier) AddPrepared(ps *PreparedSignature) {
	b.items = append(b.items, *ps)
}

// Len returns the number of items added since the last Reset.
func (b *BatchVerifier) Len() int { return len(b.items) }

// Verify checks every item added since the last Reset and returns one
// result per item, in the order of Add: valid[i] is what
// PublicKey.Verify would say about item i. err is nil if every item is
// valid (an empty batch included), otherwise it wraps ErrInvalidSignature
// and says how many items failed and which was first.
//
// Verify does not reset the batch; calling it again repeats the work
// (with new random weights).
func (b *BatchVerifier) Verify() (valid []bool, err error) {
	valid = make([]bool, len(b.items))
	b.idx = b.idx[:0]
	for i := range b.items {
		if b.items[i].key != nil {
			b.idx = append(b.idx, i)
		}
	}
	switch {
	case len(b.idx) == 1:
		// The equation costs more than a single check for one item.
		valid[b.idx[0]] = b.items[b.idx[0]].check()
	case len(b.idx) > 1 && b.equation():
		for _, i := range b.idx {
			valid[i] = true
		}
	default:
		// Some item is bad: the single checks say which.
		for _, i := range b.idx {
			valid[i] = b.items[i].check()
		}
	}
	bad, first := 0, -1
	for i, ok := range valid {
		if !ok {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if bad > 0 {
		return valid, fmt.Errorf("%w: %d of %d signatures in the batch (first: item %d)", ErrInvalidSignature, bad, len(b.items), first)
	}
	return valid, nil
}

// equation evaluates the batch equation over the items b.idx names (at
// least one): true when every one of them is valid, false (with
// overwhelming probability) when one is not.
func (b *BatchVerifier) equation() bool {
	m := len(b.idx)
	terms := 1 + 2*m
	b.zbytes = grow(b.zbytes, 16*m)
	b.coeffs = grow(b.coeffs, terms)
	b.scalars = grow(b.scalars, terms)
	b.points = grow(b.points, terms)
	// One read for every weight: crypto/rand never fails (it panics
	// rather than return short).
	if _, err := rand.Read(b.zbytes); err != nil {
		panic("types: crypto/rand: " + err.Error())
	}

	bc := &b.coeffs[0]
	bc.Zero()
	b.scalars[0], b.points[0] = bc, curve.RISTRETTO_BASEPOINT_POINT
	var buf [32]byte
	for j, i := range b.idx {
		it := &b.items[i]
		z, zk := &b.coeffs[1+j], &b.coeffs[1+m+j]
		// z_j: 128 random bits, below the group order as it is; a zero
		// weight would leave its item unchecked, so it becomes 1 (an
		// event of probability 2^-128 that costs nothing to handle).
		copy(buf[:16], b.zbytes[16*j:16*j+16])
		if buf == ([32]byte{}) {
			buf[0] = 1
		}
		if _, err := z.SetBits(buf[:]); err != nil {
			panic("types: batch weight: " + err.Error()) // only for a wrong length
		}
		var zsj scalar.Scalar
		bc.Add(bc, zsj.Mul(z, &it.s))
		zk.Mul(z, &it.k)
		b.scalars[1+j], b.points[1+j] = z, &it.r
		b.scalars[1+m+j], b.points[1+m+j] = zk, &it.key.a
	}
	bc.Neg(bc)
	var sum curve.RistrettoPoint
	ok := sum.MultiscalarMulVartime(b.scalars, b.points).IsIdentity()
	// Keep no pointers into the items past the call.
	clear(b.points)
	return ok
}

// grow returns s resized to n, reallocating only when its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Reset empties the batch, keeping its allocated space.
func (b *BatchVerifier) Reset() {
	clear(b.items) // drop the key pointers
	b.items = b.items[:0]
}
