package types

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// The worked V3 example of the facts sheet (research/modern-polkadot.md,
// section 1): real Polkadot block 28,490,503, candidate 0 (para 1000, core
// 2, session 11925, a V2 descriptor), with the version byte set to 1 and
// the scheduling parent set to the block's parent (the leaf its author
// built on). Everything else is the real descriptor's bytes.
const (
	goldenV3Descriptor = "" +
		"e803000052fea4c5f648771f5f0674b8286d5538a5d96566e6447be44786a601" +
		"b8298d45010200952e0000000000000000000000000000000000000000000000" +
		"00000000936e24ecbf87673f381d547ead30db4f90975d27b291933e97b2d38b" +
		"8b2bf778dae2eeadfc901f7eaa284bedc42922576af9a9112bdf8fb379a41037" +
		"5eff0e18e268ac53b54bd6b2caa58119eef5c6c46f2a1c56d0de32d6a6306550" +
		"5bf83f8dc3eff575c9a4959b9e124aa52cbc8627a7817a58bfae3d402434e461" +
		"1d6ae08400000000000000000000000000000000000000000000000000000000" +
		"00000000ead4ad53a520bfbfb130b0e16142102408f22c3123c9f572b0f9d46a" +
		"31d5a108274e1781dc36a23a922f9ec1e04afe0496a503612c4d57aa4fa0c8bf" +
		"55b1237a"
	v3RelayParent      = "0x52fea4c5f648771f5f0674b8286d5538a5d96566e6447be44786a601b8298d45"
	v3SchedulingParent = "0xc3eff575c9a4959b9e124aa52cbc8627a7817a58bfae3d402434e4611d6ae084"
	// The descriptor in the V3 layout, feature on: Rust field names in
	// field order.
	goldenV3JSON = `{"para_id":1000,` +
		`"relay_parent":"` + v3RelayParent + `",` +
		`"version":1,"core_index":2,"session_index":11925,"scheduling_session_offset":0,` +
		`"reserved1":"0x000000000000000000000000000000000000000000000000",` +
		`"persisted_validation_data_hash":"0x936e24ecbf87673f381d547ead30db4f90975d27b291933e97b2d38b8b2bf778",` +
		`"pov_hash":"0xdae2eeadfc901f7eaa284bedc42922576af9a9112bdf8fb379a410375eff0e18",` +
		`"erasure_root":"0xe268ac53b54bd6b2caa58119eef5c6c46f2a1c56d0de32d6a63065505bf83f8d",` +
		`"scheduling_parent":"` + v3SchedulingParent + `",` +
		`"reserved2":"0x0000000000000000000000000000000000000000000000000000000000000000",` +
		`"para_head":"0xead4ad53a520bfbfb130b0e16142102408f22c3123c9f572b0f9d46a31d5a108",` +
		`"validation_code_hash":"0x274e1781dc36a23a922f9ec1e04afe0496a503612c4d57aa4fa0c8bf55b1237a"}`
)

func hashFromHex(t testing.TB, s string) Hash {
	t.Helper()
	var h Hash
	copy(h[:], mustHex(t, s))
	return h
}

// realV2Candidate0 is the committed receipt of candidate 0 of block
// 28,490,503 as the block carries it.
func realV2Candidate0(t testing.TB) CommittedCandidateReceipt {
	t.Helper()
	m := loadVector(t, filepath.Join(interopDir, "real/polkadot-28490503-para-inherent.json"))
	c := m["candidates"].([]any)[0].(map[string]any)
	var r CommittedCandidateReceipt
	if err := Decode(mustHex(t, c["committed_candidate_receipt_hex"].(string)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestV3DescriptorGolden(t *testing.T) {
	real := realV2Candidate0(t)
	d := &real.Descriptor
	if v := d.Version(); v != DescriptorV2 {
		t.Fatalf("real descriptor is %v, want v2", v)
	}
	v3 := NewCandidateDescriptorV3(d.ParaID, d.RelayParent, 2, 11925, d.PersistedValidationDataHash,
		d.PovHash, d.ErasureRoot, d.ParaHead, d.ValidationCodeHash, hashFromHex(t, v3SchedulingParent))
	if got := Encode(&v3); string(got) != string(mustHex(t, goldenV3Descriptor)) {
		t.Fatalf("V3 descriptor\n got %x\nwant %s", got, goldenV3Descriptor)
	}
	// The V3 bytes differ from the real V2 ones exactly at byte 36 and in
	// 164..196.
	realBytes, v3Bytes := Encode(d), Encode(&v3)
	for i := range realBytes {
		differs := realBytes[i] != v3Bytes[i]
		if want := i == 36 || (i >= 164 && i < 196); differs != want {
			t.Fatalf("byte %d: differs=%v, want %v", i, differs, want)
		}
	}

	// Decoding is version-agnostic: the same 292 bytes, whatever the
	// feature; only their reading changes.
	var back CandidateDescriptor
	if err := Decode(mustHex(t, goldenV3Descriptor), &back); err != nil {
		t.Fatal(err)
	}
	if back != v3 {
		t.Fatal("decoded descriptor differs from the built one")
	}
	l := back.Layout()
	if l.Version != 1 || l.CoreIndex != 2 || l.SessionIndex != 11925 || l.SchedulingSessionOffset != 0 ||
		l.Reserved1 != [24]byte{} || l.Reserved2 != [32]byte{} || l.SchedulingParent.String() != v3SchedulingParent {
		t.Fatalf("layout %+v", l)
	}

	type getters struct {
		version    DescriptorVersion
		core       CoreIndex
		coreOK     bool
		session    SessionIndex
		sessionOK  bool
		schedParen string
		schedSess  SessionIndex
		schedOK    bool
	}
	for _, tc := range []struct {
		v3   bool
		want getters
	}{
		// Feature off: bytes 164..196 are not zero, so it reads as V1 (and
		// old nodes see a V1 candidate; UMP signals then make it invalid).
		{false, getters{DescriptorV1, 0, false, 0, false, v3RelayParent, 0, false}},
		{true, getters{DescriptorV3, 2, true, 11925, true, v3SchedulingParent, 11925, true}},
	} {
		core, coreOK := back.CoreIndexWith(tc.v3)
		sess, sessOK := back.SessionIndexWith(tc.v3)
		ss, ssOK := back.SchedulingSession(tc.v3)
		got := getters{back.VersionWith(tc.v3), core, coreOK, sess, sessOK, back.SchedulingParent(tc.v3).String(), ss, ssOK}
		if got != tc.want {
			t.Errorf("v3Enabled=%v: got %+v, want %+v", tc.v3, got, tc.want)
		}
	}

	b, err := json.Marshal(JSONValue(&back, JSONOptions{CandidateReceiptV3: true}))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != goldenV3JSON {
		t.Fatalf("V3 JSON\n got %s\nwant %s", b, goldenV3JSON)
	}
	// Without the feature the same bytes print as V1 (collator, signature).
	b, _ = json.Marshal(back)
	if !strings.Contains(string(b), `"collator":"0x010200952e000000`) || !strings.Contains(string(b), `"signature":"0xc3eff575`) {
		t.Fatalf("V1 JSON without the feature: %s", b)
	}
}

// TestV3CommittedReceiptGolden: the worked example as a full committed
// receipt. V3 requires a UMP signal, so the commitments gain the separator
// and SelectCore(0, 0): upward_messages goes from 0x00 (none) to 0x08 0x00
// 0x0c000000 (two messages: empty, then 00 00 00).
func TestV3CommittedReceiptGolden(t *testing.T) {
	real := realV2Candidate0(t)
	realCommitments := Encode(&real.Commitments)
	if realCommitments[0] != 0 {
		t.Fatalf("real candidate has upward messages: %x", realCommitments[:8])
	}
	var r CommittedCandidateReceipt
	if err := Decode(mustHex(t, goldenV3Descriptor), &r.Descriptor); err != nil {
		t.Fatal(err)
	}
	r.Commitments = real.Commitments
	r.Commitments.UpwardMessages = [][]byte{{}, SelectCoreSignal(0, 0)}
	want := goldenV3Descriptor + "08000c000000" + hx(realCommitments[1:])[2:]
	if got := hx(Encode(&r))[2:]; got != want {
		t.Fatalf("V3 committed receipt\n got %s\nwant %s", got, want)
	}

	// The claim queue at the scheduling parent gives para 1000 core 2 at
	// depth 0; the one at the relay parent gives it core 5.
	rp, sp := hashFromHex(t, v3RelayParent), hashFromHex(t, v3SchedulingParent)
	cq := func(block Hash, para ParaID, depth uint8) []CoreIndex {
		switch {
		case para != 1000 || depth != 0:
			return nil
		case block == sp:
			return []CoreIndex{2}
		case block == rp:
			return []CoreIndex{5}
		}
		return nil
	}
	sig, err := r.CheckUMPSignals(true, cq)
	if err != nil || sig.SelectCore == nil || *sig.SelectCore != (SelectCore{0, 0}) || sig.ApprovedPeer != nil {
		t.Fatalf("V3 with the feature on: %+v, %v", sig, err)
	}
	// Without the feature the descriptor is V1, and V1 may not carry signals.
	if _, err := r.CheckUMPSignals(false, cq); !errors.Is(err, ErrUMPSignalWithV1Descriptor) {
		t.Fatalf("feature off: %v, want ErrUMPSignalWithV1Descriptor", err)
	}
	// Without the signal the runtime refuses V3.
	r.Commitments.UpwardMessages = nil
	if _, err := r.CheckUMPSignals(true, cq); !errors.Is(err, ErrNoUMPSignalWithV3Descriptor) {
		t.Fatalf("no signal: %v, want ErrNoUMPSignalWithV3Descriptor", err)
	}
	// The real V2 candidate is checked against the relay parent's queue
	// (core 5 there, descriptor core 2).
	if _, err := real.CheckUMPSignals(true, cq); !errors.Is(err, ErrCoreIndexMismatch) {
		t.Fatalf("V2 against the relay parent's queue: %v, want ErrCoreIndexMismatch", err)
	}
}

// descriptorWith returns a zero-reserved V2 descriptor with the given bytes
// of its 292-byte encoding changed.
func descriptorWith(t testing.TB, set map[int]byte) CandidateDescriptor {
	t.Helper()
	d := NewCandidateDescriptorV2(7, Hash{1}, 3, 9, Hash{2}, Hash{3}, Hash{4}, Hash{5}, Hash{6})
	b := Encode(&d)
	for i, v := range set {
		b[i] = v
	}
	var out CandidateDescriptor
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDescriptorVersionRuleV3(t *testing.T) {
	tests := []struct {
		name    string
		set     map[int]byte
		off, on DescriptorVersion
	}{
		{"all reserved zero, version 0", nil, DescriptorV2, DescriptorV2},
		{"version 1, nothing else", map[int]byte{36: 1}, DescriptorUnknown, DescriptorV3},
		{"version 1 with a scheduling parent", map[int]byte{36: 1, 164: 0xaa, 195: 0xbb}, DescriptorV1, DescriptorV3},
		{"version 2", map[int]byte{36: 2}, DescriptorUnknown, DescriptorUnknown},
		{"version 255 with a scheduling parent", map[int]byte{36: 255, 170: 1}, DescriptorV1, DescriptorUnknown},
		{"offset byte 43", map[int]byte{43: 1}, DescriptorV1, DescriptorV2},
		{"byte 44: first of reserved1[0..16]", map[int]byte{44: 1}, DescriptorV1, DescriptorV1},
		{"byte 59: last of reserved1[0..16]", map[int]byte{59: 0x80}, DescriptorV1, DescriptorV1},
		{"byte 60: past the V3 V1-check", map[int]byte{60: 1}, DescriptorV1, DescriptorV2},
		{"byte 67: last of reserved1", map[int]byte{67: 1}, DescriptorV1, DescriptorV2},
		{"byte 196: first of reserved2", map[int]byte{196: 1}, DescriptorV1, DescriptorV2},
		{"byte 227: last of reserved2", map[int]byte{227: 1}, DescriptorV1, DescriptorV2},
		{"V3 with reserved1[0] set is V1", map[int]byte{36: 1, 44: 1}, DescriptorV1, DescriptorV1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := descriptorWith(t, tc.set)
			if got := d.VersionWith(false); got != tc.off || d.Version() != tc.off {
				t.Errorf("feature off: %v (Version %v), want %v", got, d.Version(), tc.off)
			}
			if got := d.VersionWith(true); got != tc.on {
				t.Errorf("feature on: %v, want %v", got, tc.on)
			}
		})
	}
}

func TestDescriptorGetters(t *testing.T) {
	sp := Hash{0xee}
	tests := []struct {
		name        string
		d           CandidateDescriptor
		v3          bool
		core        int64 // -1: none
		session     int64 // -1: none
		schedParent Hash
		schedSess   int64 // -1: none
	}{
		{"v2", NewCandidateDescriptorV2(7, Hash{1}, 3, 9, Hash{}, Hash{}, Hash{}, Hash{}, Hash{}), true, 3, 9, Hash{1}, 9},
		{"v3", NewCandidateDescriptorV3(7, Hash{1}, 4, 9, Hash{}, Hash{}, Hash{}, Hash{}, Hash{}, sp), true, 4, 9, sp, 9},
		{"v3 read with the feature off (v1)", NewCandidateDescriptorV3(7, Hash{1}, 4, 9, Hash{}, Hash{}, Hash{}, Hash{}, Hash{}, sp), false, -1, -1, Hash{1}, -1},
		{"v3 with offset 3", withOffset(NewCandidateDescriptorV3(7, Hash{1}, 4, 9, Hash{}, Hash{}, Hash{}, Hash{}, Hash{}, sp), 3), true, 4, 9, sp, 12},
		{"v3 offset saturates", withOffset(NewCandidateDescriptorV3(7, Hash{1}, 4, 0xffff_fffe, Hash{}, Hash{}, Hash{}, Hash{}, Hash{}, sp), 5), true, 4, 0xffff_fffe, sp, 0xffff_ffff},
		// Unknown keeps its core and session fields (only V1 has none) but
		// has no scheduling session, and schedules at its relay parent.
		{"unknown version", descriptorWith(t, map[int]byte{36: 9}), true, 3, 9, Hash{1}, -1},
	}
	opt := func(v uint32, ok bool) int64 {
		if !ok {
			return -1
		}
		return int64(v)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := tc.d.CoreIndexWith(tc.v3)
			s, sok := tc.d.SessionIndexWith(tc.v3)
			ss, ssok := tc.d.SchedulingSession(tc.v3)
			if opt(c, ok) != tc.core || opt(s, sok) != tc.session || tc.d.SchedulingParent(tc.v3) != tc.schedParent || opt(ss, ssok) != tc.schedSess {
				t.Fatalf("core %d session %d scheduling parent %s scheduling session %d",
					opt(c, ok), opt(s, sok), tc.d.SchedulingParent(tc.v3), opt(ss, ssok))
			}
		})
	}
}

func withOffset(d CandidateDescriptor, off uint8) CandidateDescriptor {
	d.Collator[7] = off
	return d
}

func TestCandidateReceiptV3Enabled(t *testing.T) {
	for _, tc := range []struct {
		bits string
		want bool
	}{
		{"", false},
		{"0001", false},       // CandidateReceiptV2 only
		{"00010", false},      // bit 4 present, clear
		{"00001", true},       // bit 4
		{"11111100", true},    // every feature up to FirstUnassigned
		{"111101111", false},  // all but bit 4
		{"0000100000", true},  // longer vector
		{"1111011111", false}, // longer, bit 4 clear
	} {
		bv, err := BitVecFromString(tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		if got := CandidateReceiptV3Enabled(bv); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.bits, got, tc.want)
		}
	}
}

// TestJSONOptionsReachNestedDescriptors: the V3 layout applies to every
// value that holds a descriptor, and the default JSON stays the V2 one.
func TestJSONOptionsReachNestedDescriptors(t *testing.T) {
	var d CandidateDescriptor
	if err := Decode(mustHex(t, goldenV3Descriptor), &d); err != nil {
		t.Fatal(err)
	}
	v2 := NewCandidateDescriptorV2(7, Hash{1}, 3, 9, Hash{}, Hash{}, Hash{}, Hash{}, Hash{})
	bc := BackedCandidate{Candidate: CommittedCandidateReceipt{Descriptor: d}, ValidatorIndices: NewBitVec(1)}
	values := []struct {
		name string
		v    any
	}{
		{"descriptor", d},
		{"receipt", &CandidateReceipt{Descriptor: d}},
		{"committed receipt", CommittedCandidateReceipt{Descriptor: d}},
		{"backed candidate", &bc},
		{"inherent data", &InherentData{BackedCandidates: []BackedCandidate{bc}}},
		{"occupied core", &OccupiedCore{CandidateDescriptor: d, Availability: NewBitVec(1)}},
		{"core state", CoreState{Kind: CoreOccupied, Occupied: &OccupiedCore{CandidateDescriptor: d, Availability: NewBitVec(1)}}},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			on, err := json.Marshal(JSONValue(tc.v, JSONOptions{CandidateReceiptV3: true}))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(on), goldenV3JSON) {
				t.Fatalf("feature on: no V3 layout in %s", on)
			}
			off, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			def, _ := json.Marshal(JSONValue(tc.v, JSONOptions{}))
			if string(off) != string(def) || strings.Contains(string(off), "scheduling_parent") || !strings.Contains(string(off), `"collator"`) {
				t.Fatalf("feature off: %s", off)
			}
		})
	}
	// A V2 descriptor with the feature on prints in the V3 layout too (the
	// V3 runtime's struct), with a zero scheduling parent.
	b, _ := json.Marshal(JSONValue(v2, JSONOptions{CandidateReceiptV3: true}))
	if !strings.Contains(string(b), `"version":0,"core_index":3,"session_index":9,"scheduling_session_offset":0,`) ||
		!strings.Contains(string(b), `"scheduling_parent":"0x0000000000000000000000000000000000000000000000000000000000000000"`) {
		t.Fatalf("V2 with the feature on: %s", b)
	}
	b, _ = json.Marshal(v2)
	if !strings.Contains(string(b), `"version":0,"core_index":3,"session_index":9,"reserved1":"0x00000000000000000000000000000000000000000000000000",`) {
		t.Fatalf("V2 with the feature off: %s", b)
	}
}
