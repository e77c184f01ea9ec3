package types

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/ChainSafe/gossamer/pkg/scale"
)

// The baseline: plain Go structs mirroring the same wire layout, decoded and
// encoded by gossamer's reflection codec. Only BitVec needs a hand-written
// rule (its byte count follows from its bit count, which no plain struct
// can say); it still reads through gossamer's decoder.

type mBitVec struct {
	Len   uint
	Bytes []byte
}

func (b mBitVec) MarshalSCALE() ([]byte, error) {
	l, err := scale.Marshal(b.Len)
	return append(l, b.Bytes...), err
}

func (b *mBitVec) UnmarshalSCALE(r io.Reader) error {
	if err := scale.NewDecoder(r).Decode(&b.Len); err != nil {
		return err
	}
	b.Bytes = make([]byte, (b.Len+7)/8)
	_, err := io.ReadFull(r, b.Bytes)
	return err
}

var errMirrorVariant = errors.New("mirror: unknown variant")

type (
	mPreRuntime struct {
		Engine [4]byte
		Data   []byte
	}
	mConsensus  mPreRuntime
	mSeal       mPreRuntime
	mOther      []byte
	mEnvUpdated struct{}
	mDigestItem struct{ v any }
)

func (m mDigestItem) Value() (any, error) { return m.v, nil }
func (m mDigestItem) IndexValue() (uint, any, error) {
	switch m.v.(type) {
	case mOther:
		return 0, m.v, nil
	case mConsensus:
		return 4, m.v, nil
	case mSeal:
		return 5, m.v, nil
	case mPreRuntime:
		return 6, m.v, nil
	case mEnvUpdated:
		return 8, m.v, nil
	}
	return 0, nil, errMirrorVariant
}
func (m mDigestItem) ValueAt(i uint) (any, error) {
	switch i {
	case 0:
		return mOther(nil), nil
	case 4:
		return mConsensus{}, nil
	case 5:
		return mSeal{}, nil
	case 6:
		return mPreRuntime{}, nil
	case 8:
		return mEnvUpdated{}, nil
	}
	return nil, errMirrorVariant
}
func (m *mDigestItem) SetValue(v any) error { m.v = v; return nil }

type (
	mImplicit    [64]byte
	mExplicit    [64]byte
	mAttestation struct{ v any }
)

func (m mAttestation) Value() (any, error) { return m.v, nil }
func (m mAttestation) IndexValue() (uint, any, error) {
	switch m.v.(type) {
	case mImplicit:
		return 1, m.v, nil
	case mExplicit:
		return 2, m.v, nil
	}
	return 0, nil, errMirrorVariant
}
func (m mAttestation) ValueAt(i uint) (any, error) {
	switch i {
	case 1:
		return mImplicit{}, nil
	case 2:
		return mExplicit{}, nil
	}
	return nil, errMirrorVariant
}
func (m *mAttestation) SetValue(v any) error { m.v = v; return nil }

type (
	mVExplicit        struct{}
	mVBackingSeconded [32]byte
	mVBackingValid    [32]byte
	mVApproval        struct{}
	mVApprovalMulti   [][32]byte
	mValidKind        struct{ v any }
	mInvalidExplicit  struct{}
	mInvalidKind      struct{ v any }
	mDisputeStatement struct{ v any }
)

func (m mValidKind) Value() (any, error) { return m.v, nil }
func (m mValidKind) IndexValue() (uint, any, error) {
	switch m.v.(type) {
	case mVExplicit:
		return 0, m.v, nil
	case mVBackingSeconded:
		return 1, m.v, nil
	case mVBackingValid:
		return 2, m.v, nil
	case mVApproval:
		return 3, m.v, nil
	case mVApprovalMulti:
		return 4, m.v, nil
	}
	return 0, nil, errMirrorVariant
}
func (m mValidKind) ValueAt(i uint) (any, error) {
	switch i {
	case 0:
		return mVExplicit{}, nil
	case 1:
		return mVBackingSeconded{}, nil
	case 2:
		return mVBackingValid{}, nil
	case 3:
		return mVApproval{}, nil
	case 4:
		return mVApprovalMulti(nil), nil
	}
	return nil, errMirrorVariant
}
func (m *mValidKind) SetValue(v any) error { m.v = v; return nil }

func (m mInvalidKind) Value() (any, error)            { return m.v, nil }
func (m mInvalidKind) IndexValue() (uint, any, error) { return 0, m.v, nil }
func (m mInvalidKind) ValueAt(i uint) (any, error) {
	if i == 0 {
		return mInvalidExplicit{}, nil
	}
	return nil, errMirrorVariant
}
func (m *mInvalidKind) SetValue(v any) error { m.v = v; return nil }

func (m mDisputeStatement) Value() (any, error) { return m.v, nil }
func (m mDisputeStatement) IndexValue() (uint, any, error) {
	switch m.v.(type) {
	case mValidKind:
		return 0, m.v, nil
	case mInvalidKind:
		return 1, m.v, nil
	}
	return 0, nil, errMirrorVariant
}
func (m mDisputeStatement) ValueAt(i uint) (any, error) {
	switch i {
	case 0:
		return mValidKind{}, nil
	case 1:
		return mInvalidKind{}, nil
	}
	return nil, errMirrorVariant
}
func (m *mDisputeStatement) SetValue(v any) error { m.v = v; return nil }

type mInherentData struct {
	Bitfields []struct {
		Payload        mBitVec
		ValidatorIndex uint32
		Signature      [64]byte
	}
	BackedCandidates []struct {
		Candidate struct {
			Descriptor struct {
				ParaID      uint32
				RelayParent [32]byte
				Collator    [32]byte
				PVDHash     [32]byte
				PovHash     [32]byte
				ErasureRoot [32]byte
				Signature   [64]byte
				ParaHead    [32]byte
				CodeHash    [32]byte
			}
			Commitments struct {
				UpwardMessages     [][]byte
				HorizontalMessages []struct {
					Recipient uint32
					Data      []byte
				}
				NewValidationCode *[]byte
				HeadData          []byte
				ProcessedDownward uint32
				HrmpWatermark     uint32
			}
		}
		ValidityVotes    []mAttestation
		ValidatorIndices mBitVec
	}
	Disputes []struct {
		CandidateHash [32]byte
		Session       uint32
		Statements    []struct {
			Statement      mDisputeStatement
			ValidatorIndex uint32
			Signature      [64]byte
		}
	}
	ParentHeader struct {
		ParentHash     [32]byte
		Number         uint
		StateRoot      [32]byte
		ExtrinsicsRoot [32]byte
		Digest         []mDigestItem
	}
}

// benchInherent is the real Polkadot #28,490,503 parachains inherent.
func benchInherent(tb testing.TB) []byte {
	m := loadVector(tb, filepath.Join(interopDir, "real/polkadot-28490503-para-inherent.json"))
	return mustHex(tb, m["hex"].(string))
}

// TestGossamerMirrorSameBytes makes sure the baseline decodes and encodes
// the very bytes our codec does, so the benchmark compares like with like.
func TestGossamerMirrorSameBytes(t *testing.T) {
	for _, f := range vectorFiles(t, "real/*-para-inherent.json") {
		b := mustHex(t, loadVector(t, f)["hex"].(string))
		var m mInherentData
		if err := scale.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: gossamer decode: %v", f, err)
		}
		out, err := scale.Marshal(m)
		if err != nil {
			t.Fatalf("%s: gossamer encode: %v", f, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("%s: gossamer mirror re-encodes %d bytes, input %d", f, len(out), len(b))
		}
	}
	// Our types inside gossamer's reflection codec give the same bytes too.
	b := benchInherent(t)
	var wrapped struct{ Data InherentData }
	if err := scale.Unmarshal(b, &wrapped); err != nil {
		t.Fatalf("gossamer decode of our type: %v", err)
	}
	out, err := scale.Marshal(wrapped)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("gossamer encode of our type: %v, equal=%v", err, bytes.Equal(out, b))
	}
	// gossamer accepts trailing bytes; our UnmarshalSCALE is reached through
	// it and consumes exactly the value, so a trailing byte is left unread
	// there, while our own Decode rejects it.
	if err := Decode(append(bytes.Clone(b), 0), new(InherentData)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func BenchmarkDecodeInherent(b *testing.B) {
	data := benchInherent(b)
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var d InherentData
			if err := Decode(data, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gossamer-reflection", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m mInherentData
			if err := scale.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("memcpy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		dst := make([]byte, len(data))
		for b.Loop() {
			copy(dst, data)
		}
	})
}

func BenchmarkEncodeInherent(b *testing.B) {
	data := benchInherent(b)
	var d InherentData
	if err := Decode(data, &d); err != nil {
		b.Fatal(err)
	}
	var m mInherentData
	if err := scale.Unmarshal(data, &m); err != nil {
		b.Fatal(err)
	}
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if out := Encode(&d); len(out) != len(data) {
				b.Fatal(fmt.Sprint("length ", len(out)))
			}
		}
	})
	b.Run("gossamer-reflection", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := scale.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
