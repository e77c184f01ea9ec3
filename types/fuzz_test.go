package types

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
)

type wireValue interface {
	Encoder
	Decoder
	EncodedSizer
}

// fuzzCanonical is the invariant every wire type holds: decoding never
// panics, and whatever decodes re-encodes to exactly the input (so only
// canonical encodings are accepted) with EncodedSize telling its length.
func fuzzCanonical(t *testing.T, data []byte, v wireValue) {
	if err := DecodeWithLimits(data, v, codec.DefaultLimits); err != nil {
		var de *codec.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("decode error is not a *codec.DecodeError: %v", err)
		}
		return
	}
	out := Encode(v)
	if !bytes.Equal(out, data) {
		t.Fatalf("accepted non-canonical input:\n in: %x\nout: %x", data, out)
	}
	if n := v.EncodedSize(); n != len(out) {
		t.Fatalf("EncodedSize %d, encoding is %d bytes", n, len(out))
	}
}

// seedsFrom adds the hex of every vector field named key in files matching
// pattern, plus every candidate-level key in the real vectors.
func seedsFrom(f *testing.F, pattern string, keys ...string) {
	files, _ := filepath.Glob(filepath.Join(interopDir, pattern))
	for _, file := range files {
		m := loadVector(f, file)
		for _, k := range keys {
			if s, ok := m[k].(string); ok {
				f.Add(mustHex(f, s))
			}
			if cs, ok := m["candidates"].([]any); ok {
				for _, c := range cs {
					if s, ok := c.(map[string]any)[k].(string); ok {
						f.Add(mustHex(f, s))
					}
				}
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x02, 0x00, 0x00, 0x80})
}

func FuzzInherentData(f *testing.F) {
	seedsFrom(f, "*/*.json", "hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(InherentData)) })
}

func FuzzSignedBitfield(f *testing.F) {
	seedsFrom(f, "generated/signed_bitfield_*.json", "hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(UncheckedSignedAvailabilityBitfield)) })
}

func FuzzBackedCandidate(f *testing.F) {
	seedsFrom(f, "*/*.json", "hex", "backed_candidate_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(BackedCandidate)) })
}

func FuzzCandidateReceipt(f *testing.F) {
	seedsFrom(f, "*/*.json", "candidate_receipt_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(candidateReceiptSized)) })
}

func FuzzCommittedCandidateReceipt(f *testing.F) {
	seedsFrom(f, "*/*.json", "committed_candidate_receipt_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(CommittedCandidateReceipt)) })
}

func FuzzCandidateCommitments(f *testing.F) {
	seedsFrom(f, "generated/*.json", "commitments_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(CandidateCommitments)) })
}

func FuzzDisputeStatementSet(f *testing.F) {
	seedsFrom(f, "generated/dispute_statement_set_*.json", "hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(DisputeStatementSet)) })
}

func FuzzHeader(f *testing.F) {
	seedsFrom(f, "generated/parent_header.json", "hex")
	seedsFrom(f, "real/*.json", "block_header_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(Header)) })
}

func FuzzInherentDataMap(f *testing.F) {
	seedsFrom(f, "generated/para_inherent_extrinsic.json", "sp_inherents_inherent_data_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(inherentDataMapSized)) })
}

func FuzzParaInherentExtrinsic(f *testing.F) {
	seedsFrom(f, "*/*.json", "extrinsic_hex", "extrinsic_v4_hex", "extrinsic_v5_bare_hex")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(ParaInherentExtrinsic)) })
}

func FuzzMisbehaviorReport(f *testing.F) {
	f.Add(Encode(&MisbehaviorReport{
		Session: 3, ValidatorIndex: 7,
		First:  SignedDisputeStatement{Statement: DisputeStatement{Valid: true, Kind: ValidBackingSeconded}},
		Second: SignedDisputeStatement{Statement: DisputeStatement{Valid: false, Kind: InvalidExplicit}},
	}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(misbehaviorReportSized)) })
}

func FuzzCoreState(f *testing.F) {
	f.Add([]byte{2})
	f.Add([]byte{1, 0xd0, 0x07, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCanonical(t, b, new(coreStateSized)) })
}

// Types whose size is fixed or rarely needed get EncodedSize here, from
// their encoding, so the fuzz invariant covers them too.
type (
	candidateReceiptSized  struct{ CandidateReceipt }
	inherentDataMapSized   struct{ InherentDataMap }
	misbehaviorReportSized struct{ MisbehaviorReport }
	coreStateSized         struct{ CoreState }
)

func (c *candidateReceiptSized) EncodedSize() int  { return CandidateDescriptorSize + 32 }
func (c *inherentDataMapSized) EncodedSize() int   { return len(Encode(&c.InherentDataMap)) }
func (c *misbehaviorReportSized) EncodedSize() int { return len(Encode(&c.MisbehaviorReport)) }
func (c *coreStateSized) EncodedSize() int         { return len(Encode(&c.CoreState)) }
