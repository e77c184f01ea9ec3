package types

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
)

func TestBitVecEncoding(t *testing.T) {
	cases := []struct {
		bits string
		hex  string
	}{
		{"", "00"},
		{"1", "0401"},
		{"10000000", "2001"},
		{"110000000", "240300"},
		{"000000001", "240001"},
		{"111111111111", "30ff0f"},
	}
	for _, c := range cases {
		v, err := BitVecFromString(c.bits)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(Encode(&v)); got != c.hex {
			t.Errorf("%q encodes to %s, want %s", c.bits, got, c.hex)
		}
		var back BitVec
		if err := Decode(mustHex(t, c.hex), &back); err != nil || back.String() != c.bits {
			t.Errorf("%s decodes to %q, %v", c.hex, back.String(), err)
		}
	}
}

func TestBitVecRejects(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		lim  codec.Limits
		want error
	}{
		{"padding bit set", "0403", codec.DefaultLimits, codec.ErrNonCanonical},
		{"bytes missing", "2400", codec.DefaultLimits, codec.ErrTruncated},
		{"over the bit limit", "40ffff", codec.Limits{MaxBitfieldBits: 15}, codec.ErrLimitExceeded},
		{"huge length, no bytes", "03ffffffff", codec.DefaultLimits, codec.ErrLimitExceeded},
	}
	for _, c := range cases {
		var v BitVec
		if err := DecodeWithLimits(mustHex(t, c.hex), &v, c.lim); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestCoreIndexInjection(t *testing.T) {
	group, _ := BitVecFromString("10110")
	for _, core := range []CoreIndex{0, 1, 13, 200, 255} {
		inj, err := InjectCoreIndex(group, core)
		if err != nil || inj.Len != 13 {
			t.Fatalf("inject %d: %v len %d", core, err, inj.Len)
		}
		g, c, ok := ExtractCoreIndex(inj)
		if !ok || c != core || !g.Equal(group) {
			t.Fatalf("extract: %s %d %v, want %s %d", g, c, ok, group, core)
		}
	}
	if _, err := InjectCoreIndex(group, 256); !errors.Is(err, codec.ErrInvalidValue) {
		t.Fatalf("core 256: %v", err)
	}
	// 13 bits from a real block: group 11001, core 2.
	v, _ := BitVecFromString("1100101000000")
	if g, c, _ := ExtractCoreIndex(v); g.String() != "11001" || c != 2 {
		t.Fatalf("got %s core %d", g, c)
	}
}

func TestDescriptorVersionRule(t *testing.T) {
	v2 := NewCandidateDescriptorV2(2000, Hash{1}, 7, 42, Hash{2}, Hash{3}, Hash{4}, Hash{5}, Hash{6})
	if v2.Version() != DescriptorV2 {
		t.Fatalf("v2 reads as %s", v2.Version())
	}
	if c, ok := v2.CoreIndex(); !ok || c != 7 {
		t.Fatalf("core %d %v", c, ok)
	}
	if s, ok := v2.SessionIndex(); !ok || s != 42 {
		t.Fatalf("session %d %v", s, ok)
	}
	unknown := v2
	unknown.Collator[0] = 1
	if unknown.Version() != DescriptorUnknown {
		t.Fatalf("version byte 1 with zero reserved reads as %s", unknown.Version())
	}
	v1 := v2
	v1.Collator[31] = 1
	if v1.Version() != DescriptorV1 {
		t.Fatalf("reserved1 non-zero reads as %s", v1.Version())
	}
	v1 = v2
	v1.Signature[63] = 1
	if v1.Version() != DescriptorV1 {
		t.Fatalf("reserved2 non-zero reads as %s", v1.Version())
	}
	if _, ok := v1.CoreIndex(); ok {
		t.Fatal("v1 descriptor has no core index")
	}
}

func TestEmptyInherentIs101Bytes(t *testing.T) {
	d := InherentData{}
	if n := len(Encode(&d)); n != 101 {
		t.Fatalf("empty inherent = %d bytes, want 101", n)
	}
}

func TestDecodeLimits(t *testing.T) {
	// A backed candidate whose votes exceed MaxVotes is refused before the
	// votes are read.
	bc := BackedCandidate{ValidityVotes: make([]ValidityAttestation, 5), ValidatorIndices: NewBitVec(5)}
	for i := range bc.ValidityVotes {
		bc.ValidityVotes[i].Kind = AttestationExplicit
	}
	lim := codec.DefaultLimits
	lim.MaxVotes = 4
	if err := DecodeWithLimits(Encode(&bc), new(BackedCandidate), lim); !errors.Is(err, codec.ErrLimitExceeded) {
		t.Fatalf("votes over limit: %v", err)
	}
	h := Header{Digest: make([]DigestItem, 3)}
	lim.MaxDigestItems = 2
	if err := DecodeWithLimits(Encode(&h), new(Header), lim); !errors.Is(err, codec.ErrLimitExceeded) {
		t.Fatalf("digest over limit: %v", err)
	}
	lim.MaxMessageSize = 10
	if err := DecodeWithLimits(Encode(&h), new(Header), lim); !errors.Is(err, codec.ErrOversize) {
		t.Fatalf("oversize: %v", err)
	}
	// An unknown digest kind names the field and the offset.
	b := Encode(&Header{Digest: []DigestItem{{Kind: DigestOther}}})
	b[len(b)-2] = 3
	err := Decode(b, new(Header))
	if !errors.Is(err, codec.ErrUnknownVariant) || err.Error() != "decode header: unknown enum variant at offset 98 reading digest item: index 3" {
		t.Fatalf("unknown digest kind: %v", err)
	}
}
