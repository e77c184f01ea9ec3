package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestCompactRoundTrip(t *testing.T) {
	cases := []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {1, "04"}, {63, "fc"}, {64, "0101"}, {16383, "fdff"}, {16384, "02000100"},
		{1<<30 - 1, "feffffff"}, {1 << 30, "0300000040"}, {1<<32 - 1, "03ffffffff"},
		{1 << 32, "070000000001"}, {1<<64 - 1, "13ffffffffffffffff"},
	}
	for _, c := range cases {
		got := hex.EncodeToString(AppendCompact(nil, c.v))
		if got != c.hex {
			t.Errorf("encode %d = %s, want %s", c.v, got, c.hex)
		}
		if CompactSize(c.v) != len(got)/2 {
			t.Errorf("CompactSize(%d) = %d", c.v, CompactSize(c.v))
		}
		b, _ := hex.DecodeString(c.hex)
		r := NewReader(b, DefaultLimits)
		if v := r.Compact("x"); v != c.v || r.Finish() != nil {
			t.Errorf("decode %s = %d, %v", c.hex, v, r.Err())
		}
	}
}

func TestReaderRejects(t *testing.T) {
	cases := []struct {
		name string
		in   string
		read func(r *Reader)
		want error
		msg  string
	}{
		{"compact 1 in two bytes", "0500", func(r *Reader) { r.Compact("n") }, ErrNonCanonicalCompact,
			"non-canonical compact integer at offset 0 reading n: 1 in two bytes"},
		{"compact 64 in four bytes", "02010000", func(r *Reader) { r.Compact("n") }, ErrNonCanonicalCompact, ""},
		{"big-int form with zero top byte", "070000000000", func(r *Reader) { r.Compact("n") }, ErrNonCanonicalCompact, ""},
		{"big-int form below 2^30", "0301000000", func(r *Reader) { r.Compact("n") }, ErrNonCanonicalCompact, ""},
		{"compact over 64 bits", "17000000000000000001", func(r *Reader) { r.Compact("n") }, ErrLimitExceeded, ""},
		{"u32 compact overflow", "070000000001", func(r *Reader) { r.CompactU32("n") }, ErrInvalidValue, ""},
		{"truncated u32", "010203", func(r *Reader) { r.U32("index") }, ErrTruncated,
			"input truncated at offset 0 reading index: need 4 bytes, have 3"},
		// gossamer allocates 512 MiB for this; we refuse before allocating.
		{"length prefix beyond input", "02000080", func(r *Reader) { r.Bytes("data", 0) }, ErrTruncated,
			"input truncated at offset 0 reading data: length 536870912 needs at least 536870912 bytes, have 0"},
		{"length over limit", "1000000000", func(r *Reader) { r.Len("votes", 1, 3) }, ErrLimitExceeded,
			"limit exceeded at offset 0 reading votes: length 4, limit 3"},
		{"bad option tag", "02", func(r *Reader) { r.OptionTag("code") }, ErrBadOptionTag,
			"bad option tag at offset 0 reading code: 0x02"},
		{"bad bool", "05", func(r *Reader) { r.Bool("flag") }, ErrBadBool, ""},
		{"unknown variant", "07", func(r *Reader) { r.Variant("kind", func(k uint8) bool { return k < 3 }) }, ErrUnknownVariant,
			"unknown enum variant at offset 0 reading kind: index 7"},
		{"trailing bytes", "0000", func(r *Reader) { r.U8("x") }, ErrTrailingBytes,
			"trailing bytes after value at offset 1 reading end of value: 1 bytes left"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(c.in)
			r := NewReader(b, DefaultLimits)
			c.read(r)
			err := r.Finish()
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.msg != "" && err.Error() != c.msg {
				t.Fatalf("message = %q\n          want %q", err.Error(), c.msg)
			}
		})
	}
}

func TestStickyErrorReadsZero(t *testing.T) {
	r := NewReader([]byte{1}, DefaultLimits)
	r.U32("a")
	if r.U8("b") != 0 || r.Len("c", 1, 0) != 0 || r.Bytes("d", 0) != nil || r.Offset() != 0 {
		t.Fatal("reads after an error must return zero values and consume nothing")
	}
}

func TestOversizeMessage(t *testing.T) {
	r := NewReader(make([]byte, 11), Limits{MaxMessageSize: 10})
	if !errors.Is(r.Err(), ErrOversize) {
		t.Fatalf("err = %v", r.Err())
	}
}

func TestWriter(t *testing.T) {
	w := NewWriter(0)
	w.U8(1)
	w.U16(0x0302)
	w.U32(0x07060504)
	w.U64(0x0f0e0d0c0b0a0908)
	w.Bool(true)
	w.VecU8([]byte{0xaa})
	w.Compact(64)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 4, 0xaa, 1, 1}
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("got %x, want %x", w.Bytes(), want)
	}
}
