package types

import (
	"fmt"

	voisr "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
)

// BatchVerifier verifies many sr25519 signatures (signing context
// "substrate") at once with curve25519-voi's batch equation: one
// multiscalar multiplication over all items instead of one double-scalar
// multiplication each: per signature about 1.8x faster than single
// verification at 256 items when every signature is good.
//
// A failed batch only says that some item is bad; Verify then checks each
// item on its own, reusing the work done in Add, so it always returns the
// same per-item results as PublicKey.Verify (a batch of all-good signatures
// is accepted with the same result, and a forgery survives the random
// linear combination with probability at most 2^-128). With the fallback,
// a batch of 256 with one bad item costs about 1.1x as much as verifying
// every item alone (measured: 31.9 us/item against 29.5 us single and
// 16.7 us for a good batch), so batch only where a burst of signatures is
// already queued, and keep items from a source that sent bad signatures
// out of batches so that it cannot slow the others down.
//
// The zero value is ready to use. A BatchVerifier is not safe for
// concurrent use; Reset makes it reusable without reallocating.
type BatchVerifier struct {
	voi *voisr.BatchVerifier
	// slot maps item i to its index in voi, or -1 when Add already found
	// it invalid (nil key, malformed signature). Keeping such items out of
	// voi matters: voi skips the batch equation and verifies everything one
	// by one as soon as one added entry is malformed.
	slot []int
	n    int // entries in voi
}

// NewBatchVerifier returns a BatchVerifier with room for capacity items.
func NewBatchVerifier(capacity int) *BatchVerifier {
	capacity = max(capacity, 0)
	return &BatchVerifier{
		voi:  voisr.NewBatchVerifierWithCapacity(capacity),
		slot: make([]int, 0, capacity),
	}
}

// Add queues the signature sig of payload by key. It does the per-item
// part of the work (transcript hashing, decompressing R) right away, so
// payload is not retained and may be reused once Add returns. A nil key or
// a malformed signature makes the item invalid without affecting the
// others.
func (b *BatchVerifier) Add(key *PublicKey, payload []byte, sig [64]byte) {
	if key == nil || key.pk == nil {
		b.slot = append(b.slot, -1)
		return
	}
	s, err := decodeSr25519Signature(sig)
	if err != nil {
		b.slot = append(b.slot, -1)
		return
	}
	if b.voi == nil {
		b.voi = voisr.NewBatchVerifier()
	}
	b.voi.Add(key.pk, key.ctx.NewTranscriptBytes(payload), s)
	b.slot = append(b.slot, b.n)
	b.n++
}

// Len returns the number of items added since the last Reset.
func (b *BatchVerifier) Len() int { return len(b.slot) }

// Verify checks every item added since the last Reset and returns one
// result per item, in the order of Add: valid[i] is what
// PublicKey.Verify would say about item i. err is nil if every item is
// valid (an empty batch included), otherwise it wraps ErrInvalidSignature
// and says how many items failed and which was first.
//
// Verify does not reset the batch; calling it again repeats the work.
func (b *BatchVerifier) Verify() (valid []bool, err error) {
	valid = make([]bool, len(b.slot))
	var voiValid []bool
	if b.n > 0 {
		// A nil reader makes voi draw the batch's random weights from
		// crypto/rand, which is what keeps a forged batch from balancing out.
		_, voiValid = b.voi.Verify(nil)
	}
	bad, first := 0, -1
	for i, s := range b.slot {
		valid[i] = s >= 0 && voiValid[s]
		if !valid[i] {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if bad > 0 {
		return valid, fmt.Errorf("%w: %d of %d signatures in the batch (first: item %d)", ErrInvalidSignature, bad, len(b.slot), first)
	}
	return valid, nil
}

// Reset empties the batch, keeping its allocated space.
func (b *BatchVerifier) Reset() {
	if b.voi != nil {
		b.voi.Reset()
	}
	b.slot = b.slot[:0]
	b.n = 0
}
