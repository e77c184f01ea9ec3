package types

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// umpSentinels are the only errors CheckUMPSignals may return.
var umpSentinels = []error{
	ErrUMPSignalWithV1Descriptor, ErrNoUMPSignalWithV3Descriptor, ErrTooManyUMPSignals,
	ErrDuplicateUMPSignal, ErrUMPSignalDecode, ErrCoreIndexMismatch, ErrNoAssignment,
	ErrInvalidCoreIndex, ErrUnknownDescriptorVersion,
}

// FuzzCommittedReceiptV3 decodes a committed receipt and checks its UMP
// signals with the V3 feature off and on: nothing panics, every error is
// one of the sentinels, V1 never comes back with signals and V3 never
// without, and the descriptor prints as JSON in both modes.
func FuzzCommittedReceiptV3(f *testing.F) {
	seedsFrom(f, "*/*.json", "committed_candidate_receipt_hex")
	var d CandidateDescriptor
	if err := Decode(mustHex(f, goldenV3Descriptor), &d); err != nil {
		f.Fatal(err)
	}
	for _, ump := range [][][]byte{
		{{}, SelectCoreSignal(0, 0)},
		{[]byte("xcm"), {}, SelectCoreSignal(1, 0), ApprovedPeerSignal(make([]byte, 32))},
		{{}, ApprovedPeerSignal([]byte{1, 2, 3})},
		{{}, SelectCoreSignal(0, 0), SelectCoreSignal(0, 0)},
		{{}, SelectCoreSignal(0, 0), ApprovedPeerSignal(nil), ApprovedPeerSignal(nil)},
		{{}, {2}},
		{{}, {1, 0x01, 0x01}},
		nil,
	} {
		for _, desc := range []CandidateDescriptor{d, NewCandidateDescriptorV2(1000, Hash{1}, 2, 11925, Hash{}, Hash{}, Hash{}, Hash{}, Hash{})} {
			r := CommittedCandidateReceipt{Descriptor: desc, Commitments: CandidateCommitments{UpwardMessages: ump, HeadData: []byte{1}}}
			f.Add(Encode(&r))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r CommittedCandidateReceipt
		if DecodeWithLimits(b, &r, codec.DefaultLimits) != nil {
			return
		}
		cq := func(_ Hash, para ParaID, depth uint8) []CoreIndex {
			if depth > 1 {
				return nil
			}
			return []CoreIndex{CoreIndex(para % 5), CoreIndex(depth + 2)}
		}
		for _, v3 := range []bool{false, true} {
			sig, err := r.CheckUMPSignals(v3, cq)
			version := r.Descriptor.VersionWith(v3)
			if err != nil {
				known := false
				for _, s := range umpSentinels {
					known = known || errors.Is(err, s)
				}
				if !known {
					t.Fatalf("v3=%v: error %v is no sentinel", v3, err)
				}
			} else if version == DescriptorV1 && !sig.Empty() || version == DescriptorV3 && sig.Empty() {
				t.Fatalf("v3=%v: %v accepted with signals %+v", v3, version, sig)
			}
			if _, err := json.Marshal(JSONValue(&r, JSONOptions{CandidateReceiptV3: v3})); err != nil {
				t.Fatalf("JSON: %v", err)
			}
		}
	})
}

// FuzzDescriptorVersionV3 holds the version rules against each other: the
// feature-off rule is Version; with the feature on, V1 is decided by bytes
// 44..60 alone; a descriptor V2 without the feature stays V2 with it; and a
// V3 reading needs the feature.
func FuzzDescriptorVersionV3(f *testing.F) {
	f.Add(mustHex(f, goldenV3Descriptor))
	files := []string{"real/polkadot-28490503-para-inherent.json", "real/polkadot-22887036-para-inherent.json"}
	for _, file := range files {
		m := loadVector(f, interopDir+"/"+file)
		for _, c := range m["candidates"].([]any) {
			f.Add(mustHex(f, c.(map[string]any)["candidate_receipt_hex"].(string))[:CandidateDescriptorSize])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d CandidateDescriptor
		if DecodeWithLimits(b, &d, codec.DefaultLimits) != nil {
			return
		}
		off, on := d.VersionWith(false), d.VersionWith(true)
		if off != d.Version() {
			t.Fatalf("VersionWith(false) %v, Version %v", off, d.Version())
		}
		v1 := false
		for _, x := range b[44:60] {
			v1 = v1 || x != 0
		}
		if (on == DescriptorV1) != v1 {
			t.Fatalf("feature on: %v, bytes 44..60 non-zero: %v", on, v1)
		}
		if off == DescriptorV2 && on != DescriptorV2 || off == DescriptorV3 {
			t.Fatalf("off %v, on %v", off, on)
		}
		if on == DescriptorV3 && d.SchedulingParent(true) != d.Layout().SchedulingParent {
			t.Fatal("V3 scheduling parent is not bytes 164..196")
		}
		if string(Encode(&d)) != string(b) {
			t.Fatal("descriptor does not re-encode to its bytes")
		}
	})
}
