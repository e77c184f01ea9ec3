package runtime

import (
	"encoding/binary"

	"github.com/polkadot-provisioner/provisioner/types"
)

// rng is a deterministic stream of numbers: blake2-256 of (seed, counter).
// The runtime seeds ChaCha from BABE randomness; the testnet has none, so
// it seeds from the parent hash, the runtime's own fallback. The stream
// differs from ChaCha's, so choices under weight pressure are Polkadot's
// rules with a different (still seeded) draw.
type rng struct {
	seed    types.Hash
	counter uint64
	buf     []byte
}

func newRNG(seed types.Hash) *rng { return &rng{seed: seed} }

func (r *rng) u64() uint64 {
	if len(r.buf) < 8 {
		var b [40]byte
		copy(b[:32], r.seed[:])
		binary.LittleEndian.PutUint64(b[32:], r.counter)
		r.counter++
		h := types.Blake2_256(b[:])
		r.buf = h[:]
	}
	v := binary.LittleEndian.Uint64(r.buf[:8])
	r.buf = r.buf[8:]
	return v
}

// intn is uniform in [0, n) for n > 0 (rejection sampling).
func (r *rng) intn(n int) int {
	limit := ^uint64(0) - ^uint64(0)%uint64(n)
	for {
		if v := r.u64(); v < limit {
			return int(v % uint64(n))
		}
	}
}

// shuffle is Fisher-Yates.
func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}
