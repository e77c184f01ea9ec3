package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Limits caps what a decode accepts beyond what the input bytes can back.
// A zero field means "no cap beyond the input length".
type Limits struct {
	MaxMessageSize  int // whole input, in bytes
	MaxBitfieldBits int // bits in any BitVec
	MaxVotes        int // validity votes of one backed candidate
	MaxStatements   int // statements of one dispute statement set
	MaxDigestItems  int // digest items of one header
	MaxItems        int // any other sequence (bitfields, candidates, messages)
}

// DefaultLimits are generous enough for any real relay-chain block (the
// largest real inherents are well under 1 MiB; a code upgrade is at most a
// few MiB) while keeping a hostile input from asking for more.
var DefaultLimits = Limits{
	MaxMessageSize:  16 << 20,
	MaxBitfieldBits: 1 << 16,
	MaxVotes:        1024,
	MaxStatements:   100_000,
	MaxDigestItems:  256,
	MaxItems:        1 << 20,
}

// Reader decodes SCALE from a byte slice. Errors are sticky: after the first
// failure every read returns a zero value and lengths read as zero, so no
// allocation is ever sized from a value read after an error. Slices returned
// by Fixed and Bytes alias the input.
type Reader struct {
	buf []byte
	off int
	err error
	Lim Limits
}

// NewReader returns a reader over b. It fails at once when b is larger than
// lim.MaxMessageSize.
func NewReader(b []byte, lim Limits) *Reader {
	r := &Reader{buf: b, Lim: lim}
	if lim.MaxMessageSize > 0 && len(b) > lim.MaxMessageSize {
		r.Fail("message", ErrOversize, fmt.Sprintf("%d bytes, limit %d", len(b), lim.MaxMessageSize))
	}
	return r
}

// Reset points the reader at b, clearing any error.
func (r *Reader) Reset(b []byte) {
	r.buf, r.off, r.err = b, 0, nil
	if r.Lim.MaxMessageSize > 0 && len(b) > r.Lim.MaxMessageSize {
		r.Fail("message", ErrOversize, fmt.Sprintf("%d bytes, limit %d", len(b), r.Lim.MaxMessageSize))
	}
}

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Remaining is the number of bytes left.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Fail records err (if none is recorded yet) as a *DecodeError at the
// current offset.
func (r *Reader) Fail(what string, err error, detail string) {
	if r.err == nil {
		r.err = &DecodeError{Offset: r.off, What: what, Err: err, Detail: detail}
	}
}

// Finish returns the first error, or ErrTrailingBytes when input remains.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.buf) {
		r.Fail("end of value", ErrTrailingBytes, fmt.Sprintf("%d bytes left", len(r.buf)-r.off))
	}
	return r.err
}

// Fixed returns the next n bytes (aliasing the input), or nil on error.
func (r *Reader) Fixed(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.Fail(what, ErrTruncated, fmt.Sprintf("need %d bytes, have %d", n, len(r.buf)-r.off))
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Array32 fills dst from the next 32 bytes.
func (r *Reader) Array32(what string, dst *[32]byte) {
	if b := r.Fixed(what, 32); b != nil {
		copy(dst[:], b)
	}
}

// Array64 fills dst from the next 64 bytes.
func (r *Reader) Array64(what string, dst *[64]byte) {
	if b := r.Fixed(what, 64); b != nil {
		copy(dst[:], b)
	}
}

func (r *Reader) U8(what string) uint8 {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.buf) {
		r.Fail(what, ErrTruncated, "need 1 byte, have 0")
		return 0
	}
	v := r.buf[r.off]
	r.off++
	return v
}

func (r *Reader) U16(what string) uint16 {
	if b := r.Fixed(what, 2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *Reader) U32(what string) uint32 {
	if r.err == nil && len(r.buf)-r.off >= 4 {
		v := binary.LittleEndian.Uint32(r.buf[r.off:])
		r.off += 4
		return v
	}
	if b := r.Fixed(what, 4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *Reader) U64(what string) uint64 {
	if b := r.Fixed(what, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// Bool reads a bool: only 0x00 and 0x01 are valid.
func (r *Reader) Bool(what string) bool {
	switch b := r.U8(what); {
	case r.err != nil:
		return false
	case b <= 1:
		return b == 1
	default:
		r.off--
		r.Fail(what, ErrBadBool, fmt.Sprintf("0x%02x", b))
		return false
	}
}

// OptionTag reads an Option's tag: false for None, true for Some.
func (r *Reader) OptionTag(what string) bool {
	switch b := r.U8(what); {
	case r.err != nil:
		return false
	case b <= 1:
		return b == 1
	default:
		r.off--
		r.Fail(what, ErrBadOptionTag, fmt.Sprintf("0x%02x", b))
		return false
	}
}

// Variant reads an enum index and fails with ErrUnknownVariant unless ok
// reports it valid.
func (r *Reader) Variant(what string, ok func(uint8) bool) uint8 {
	start := r.off
	v := r.U8(what)
	if r.err == nil && !ok(v) {
		r.off = start
		r.Fail(what, ErrUnknownVariant, fmt.Sprintf("index %d", v))
	}
	return v
}

// Compact reads a compact integer that must fit in 64 bits and be in its
// shortest form.
func (r *Reader) Compact(what string) uint64 {
	if r.err != nil {
		return 0
	}
	start := r.off
	b0 := r.U8(what)
	if r.err != nil {
		return 0
	}
	var v uint64
	switch b0 & 3 {
	case 0:
		return uint64(b0 >> 2)
	case 1:
		b := r.Fixed(what, 1)
		if b == nil {
			return 0
		}
		v = uint64(binary.LittleEndian.Uint16([]byte{b0, b[0]}) >> 2)
		if v < 1<<6 {
			r.off = start
			r.Fail(what, ErrNonCanonicalCompact, fmt.Sprintf("%d in two bytes", v))
			return 0
		}
	case 2:
		b := r.Fixed(what, 3)
		if b == nil {
			return 0
		}
		v = uint64(binary.LittleEndian.Uint32([]byte{b0, b[0], b[1], b[2]}) >> 2)
		if v < 1<<14 {
			r.off = start
			r.Fail(what, ErrNonCanonicalCompact, fmt.Sprintf("%d in four bytes", v))
			return 0
		}
	default:
		n := int(b0>>2) + 4
		if n > 8 {
			r.off = start
			r.Fail(what, ErrLimitExceeded, fmt.Sprintf("compact of %d bytes does not fit 64 bits", n))
			return 0
		}
		b := r.Fixed(what, n)
		if b == nil {
			return 0
		}
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if b[n-1] == 0 || v < 1<<30 {
			r.off = start
			r.Fail(what, ErrNonCanonicalCompact, fmt.Sprintf("%d in %d-byte big-integer form", v, n))
			return 0
		}
	}
	return v
}

// CompactU32 reads a compact integer that must fit in a u32.
func (r *Reader) CompactU32(what string) uint32 {
	start := r.off
	v := r.Compact(what)
	if v > math.MaxUint32 {
		r.off = start
		r.Fail(what, ErrInvalidValue, fmt.Sprintf("%d does not fit u32", v))
		return 0
	}
	return uint32(v)
}

// Len reads a sequence length and checks it before anything is allocated:
// it must not exceed max (when max > 0) and the remaining input must be able
// to hold that many elements of at least minElem bytes each.
func (r *Reader) Len(what string, minElem, max int) int {
	start := r.off
	n := r.Compact(what)
	if r.err != nil {
		return 0
	}
	if max > 0 && n > uint64(max) {
		r.off = start
		r.Fail(what, ErrLimitExceeded, fmt.Sprintf("length %d, limit %d", n, max))
		return 0
	}
	if minElem < 1 {
		minElem = 1
	}
	if rem := uint64(len(r.buf) - r.off); n > rem/uint64(minElem) {
		r.off = start
		r.Fail(what, ErrTruncated, fmt.Sprintf("length %d needs at least %d bytes, have %d", n, n*uint64(minElem), rem))
		return 0
	}
	return int(n)
}

// Bytes reads a Vec<u8> (aliasing the input). max caps its length when > 0.
func (r *Reader) Bytes(what string, max int) []byte {
	n := r.Len(what, 1, max)
	if r.err != nil {
		return nil
	}
	return r.Fixed(what, n)
}
