package types

import (
	"bytes"
	"fmt"
	"io"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// Encoder is a type with a SCALE encoding.
type Encoder interface {
	Encode(w *codec.Writer)
}

// Decoder is a type that decodes itself from untrusted SCALE.
type Decoder interface {
	Decode(r *codec.Reader) error
}

// Encode returns the SCALE encoding of v.
func Encode(v Encoder) []byte {
	n := 256
	if s, ok := v.(EncodedSizer); ok {
		n = s.EncodedSize()
	}
	w := codec.NewWriter(n)
	v.Encode(w)
	return w.Bytes()
}

// Decode decodes b into v with codec.DefaultLimits. The input must hold
// exactly one value. The decoded value does not alias b.
func Decode(b []byte, v Decoder) error { return DecodeWithLimits(b, v, codec.DefaultLimits) }

// DecodeWithLimits decodes b into v, enforcing lim. Byte slices of the value
// alias one private copy of b, so decoding costs one allocation for all the
// variable-length byte fields together.
func DecodeWithLimits(b []byte, v Decoder, lim codec.Limits) error {
	if lim.MaxMessageSize > 0 && len(b) > lim.MaxMessageSize {
		return codec.NewReader(b, lim).Err()
	}
	return DecodeOwned(bytes.Clone(b), v, lim)
}

// DecodeOwned is DecodeWithLimits for a buffer the caller hands over: the
// value aliases b, which must not be modified afterwards.
func DecodeOwned(b []byte, v Decoder, lim codec.Limits) error {
	r := codec.NewReader(b, lim)
	if r.Err() == nil {
		v.Decode(r)
	}
	if err := r.Finish(); err != nil {
		return fmt.Errorf("decode %s: %w", typeName(v), err)
	}
	return nil
}

// unmarshalSCALE lets gossamer's reflection codec (scale.Unmarshal) decode
// our types through our bounded decoder. gossamer hands a *bytes.Buffer
// over the rest of its input; we decode from its remaining bytes and consume
// exactly what the value used.
func unmarshalSCALE(rd io.Reader, v Decoder) error {
	buf, ok := rd.(interface {
		Bytes() []byte
		Next(int) []byte
	})
	if !ok {
		return fmt.Errorf("decode %s: %w: reader %T does not expose its buffer", typeName(v), codec.ErrInvalidValue, rd)
	}
	rest := bytes.Clone(buf.Bytes())
	r := codec.NewReader(rest, codec.DefaultLimits)
	if r.Err() == nil {
		v.Decode(r)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("decode %s: %w", typeName(v), err)
	}
	buf.Next(r.Offset())
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case *InherentData:
		return "inherent data"
	case *UncheckedSignedAvailabilityBitfield:
		return "signed bitfield"
	case *BackedCandidate:
		return "backed candidate"
	case *CandidateReceipt:
		return "candidate receipt"
	case *CommittedCandidateReceipt:
		return "committed candidate receipt"
	case *CandidateCommitments:
		return "candidate commitments"
	case *DisputeStatementSet:
		return "dispute statement set"
	case *Header:
		return "header"
	case *InherentDataMap:
		return "inherent data map"
	case *ParaInherentExtrinsic:
		return "extrinsic"
	}
	return fmt.Sprintf("%T", v)
}
