package codec

import "encoding/binary"

// Writer appends SCALE encodings to a byte slice. Encoding never fails: the
// values our types hold are always representable.
type Writer struct {
	buf []byte
}

// NewWriter returns a writer whose buffer starts with room for n bytes.
func NewWriter(n int) *Writer { return &Writer{buf: make([]byte, 0, n)} }

// WriterOn returns a writer that appends to b.
func WriterOn(b []byte) *Writer { return &Writer{buf: b} }

// Bytes returns the encoding written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Len is the number of bytes written so far.
func (w *Writer) Len() int { return len(w.buf) }

// Grow makes room for n more bytes.
func (w *Writer) Grow(n int) {
	if cap(w.buf)-len(w.buf) < n {
		nb := make([]byte, len(w.buf), 2*cap(w.buf)+n)
		copy(nb, w.buf)
		w.buf = nb
	}
}

func (w *Writer) U8(v uint8)   { w.buf = append(w.buf, v) }
func (w *Writer) U16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

func (w *Writer) Bool(v bool) {
	if v {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Raw appends b as is (fixed-size arrays).
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// Bytes appends a Vec<u8>: compact length, then the bytes.
func (w *Writer) VecU8(b []byte) {
	w.buf = AppendCompact(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// Compact appends a compact integer in its shortest form.
func (w *Writer) Compact(v uint64) { w.buf = AppendCompact(w.buf, v) }

// AppendCompact appends the shortest compact encoding of v to dst.
func AppendCompact(dst []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(dst, byte(v<<2))
	case v < 1<<14:
		return binary.LittleEndian.AppendUint16(dst, uint16(v<<2|1))
	case v < 1<<30:
		return binary.LittleEndian.AppendUint32(dst, uint32(v<<2|2))
	}
	n := 8
	for n > 4 && byte(v>>(8*(n-1))) == 0 {
		n--
	}
	dst = append(dst, byte((n-4)<<2|3))
	for i := 0; i < n; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// CompactSize is the length of the compact encoding of v.
func CompactSize(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	}
	n := 8
	for n > 4 && byte(v>>(8*(n-1))) == 0 {
		n--
	}
	return n + 1
}
