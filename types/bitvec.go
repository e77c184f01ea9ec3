package types

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// BitVec is a BitVec<u8, Lsb0>: bit i lives in byte i/8 at bit position i%8.
// Bits past Len in the last byte are always zero, so the encoding of a value
// is unique.
type BitVec struct {
	Len   int
	Bytes []byte
}

// NewBitVec returns n zero bits.
func NewBitVec(n int) BitVec { return BitVec{Len: n, Bytes: make([]byte, (n+7)/8)} }

// BitVecFromBools builds a BitVec from one bool per bit.
func BitVecFromBools(b []bool) BitVec {
	v := NewBitVec(len(b))
	for i, set := range b {
		if set {
			v.Bytes[i/8] |= 1 << (i % 8)
		}
	}
	return v
}

// BitVecFromString builds a BitVec from "0101..." (char i = bit i).
func BitVecFromString(s string) (BitVec, error) {
	v := NewBitVec(len(s))
	for i, c := range s {
		switch c {
		case '1':
			v.Bytes[i/8] |= 1 << (i % 8)
		case '0':
		default:
			return BitVec{}, fmt.Errorf("bit string: %w: character %q at %d", codec.ErrInvalidValue, c, i)
		}
	}
	return v, nil
}

// Get reports bit i; bits outside the vector read as false.
func (v BitVec) Get(i int) bool {
	if i < 0 || i >= v.Len {
		return false
	}
	return v.Bytes[i/8]&(1<<(i%8)) != 0
}

// Set sets bit i to b. i must be below Len.
func (v BitVec) Set(i int, b bool) {
	if b {
		v.Bytes[i/8] |= 1 << (i % 8)
	} else {
		v.Bytes[i/8] &^= 1 << (i % 8)
	}
}

// CountOnes is the number of set bits.
func (v BitVec) CountOnes() int {
	n := 0
	for _, b := range v.Bytes {
		n += bits.OnesCount8(b)
	}
	return n
}

// Ones returns the indices of the set bits in ascending order.
func (v BitVec) Ones() []int {
	out := make([]int, 0, v.CountOnes())
	for i := 0; i < v.Len; i++ {
		if v.Get(i) {
			out = append(out, i)
		}
	}
	return out
}

// Clone returns a deep copy.
func (v BitVec) Clone() BitVec {
	return BitVec{Len: v.Len, Bytes: append([]byte(nil), v.Bytes...)}
}

// Equal reports whether two bit vectors hold the same bits.
func (v BitVec) Equal(o BitVec) bool {
	return v.Len == o.Len && string(v.Bytes) == string(o.Bytes)
}

// String renders the bits as "0101..." (char i = bit i).
func (v BitVec) String() string {
	var sb strings.Builder
	sb.Grow(v.Len)
	for i := 0; i < v.Len; i++ {
		if v.Get(i) {
			sb.WriteByte('1')
		} else {
			sb.WriteByte('0')
		}
	}
	return sb.String()
}

// Encode appends Compact(bit length) and the bytes.
func (v *BitVec) Encode(w *codec.Writer) {
	w.Compact(uint64(v.Len))
	w.Raw(v.Bytes[:(v.Len+7)/8])
}

// Decode reads a BitVec; the bit length is capped by the reader's
// MaxBitfieldBits, and padding bits past the length must be zero.
func (v *BitVec) Decode(r *codec.Reader) error {
	start := r.Offset()
	n := r.Compact("bitvec length")
	if r.Err() != nil {
		return r.Err()
	}
	if max := r.Lim.MaxBitfieldBits; max > 0 && n > uint64(max) {
		r.Fail("bitvec length", codec.ErrLimitExceeded, fmt.Sprintf("%d bits at offset %d, limit %d", n, start, max))
		return r.Err()
	}
	nb := (n + 7) / 8
	if nb > uint64(r.Remaining()) {
		r.Fail("bitvec bytes", codec.ErrTruncated, fmt.Sprintf("%d bits need %d bytes, have %d", n, nb, r.Remaining()))
		return r.Err()
	}
	b := r.Fixed("bitvec bytes", int(nb))
	if n%8 != 0 && b[len(b)-1]>>(n%8) != 0 {
		r.Fail("bitvec padding", codec.ErrNonCanonical, "bits set past the bit length")
		return r.Err()
	}
	v.Len, v.Bytes = int(n), b
	return nil
}
