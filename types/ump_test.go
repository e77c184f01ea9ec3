package types

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestCheckUMPSignals covers the runtime's parse_ump_signals: separator,
// count, duplicates, decoding, version rules and the claim-queue core check.
// Para 7's claim queue: depth 0 cores {7, 3, 5} (sorted 3, 5, 7), depth 1
// core {4}; para 8: depth 0 core {2}.
func TestCheckUMPSignals(t *testing.T) {
	cq := func(para ParaID, depth uint8) []CoreIndex {
		switch {
		case para == 7 && depth == 0:
			return []CoreIndex{7, 3, 5}
		case para == 7 && depth == 1:
			return []CoreIndex{4}
		case para == 8 && depth == 0:
			return []CoreIndex{2}
		}
		return nil
	}
	sel := SelectCoreSignal
	peer := func(n int) []byte { return ApprovedPeerSignal(make([]byte, n)) }
	msgs := func(m ...[]byte) [][]byte { return m }
	sep := []byte{}
	tests := []struct {
		name    string
		ump     [][]byte
		version DescriptorVersion
		para    ParaID
		core    CoreIndex
		want    error
		// what comes back on success
		selectCore *SelectCore
		peerLen    int // -1: none
	}{
		{"v1 without signals", msgs([]byte("xcm")), DescriptorV1, 7, 0, nil, nil, -1},
		{"v1 with a separator and no signal", msgs([]byte("xcm"), sep), DescriptorV1, 7, 0, nil, nil, -1},
		{"v1 with a signal", msgs(sep, sel(0, 0)), DescriptorV1, 7, 3, ErrUMPSignalWithV1Descriptor, nil, -1},
		{"v2 without signals, one core", nil, DescriptorV2, 8, 2, nil, nil, -1},
		{"v2 without signals, one core, wrong", nil, DescriptorV2, 8, 3, ErrCoreIndexMismatch, nil, -1},
		{"v2 without signals, several cores, one of them", nil, DescriptorV2, 7, 5, nil, nil, -1},
		{"v2 without signals, several cores, none of them", nil, DescriptorV2, 7, 4, ErrInvalidCoreIndex, nil, -1},
		{"v2 selector 0 picks the lowest core", msgs(sep, sel(0, 0)), DescriptorV2, 7, 3, nil, &SelectCore{0, 0}, -1},
		{"v2 selector wraps: 4 mod 3 = 1", msgs([]byte("xcm"), sep, sel(4, 0)), DescriptorV2, 7, 5, nil, &SelectCore{4, 0}, -1},
		{"v2 selector picks another core", msgs(sep, sel(2, 0)), DescriptorV2, 7, 5, ErrCoreIndexMismatch, nil, -1},
		{"v2 offset 1", msgs(sep, sel(9, 1)), DescriptorV2, 7, 4, nil, &SelectCore{9, 1}, -1},
		{"v2 offset with no assignment", msgs(sep, sel(0, 2)), DescriptorV2, 7, 4, ErrNoAssignment, nil, -1},
		{"v2 para not in the claim queue", nil, DescriptorV2, 9, 0, ErrNoAssignment, nil, -1},
		{"v2 both signals", msgs(sep, peer(32), sel(1, 0)), DescriptorV2, 7, 5, nil, &SelectCore{1, 0}, 32},
		{"v2 approved peer of 64 bytes", msgs(sep, peer(64)), DescriptorV2, 8, 2, nil, nil, 64},
		{"v2 approved peer of 0 bytes", msgs(sep, peer(0)), DescriptorV2, 8, 2, nil, nil, 0},
		{"approved peer of 65 bytes", msgs(sep, peer(65)), DescriptorV2, 8, 2, ErrUMPSignalDecode, nil, -1},
		{"three signals", msgs(sep, sel(0, 0), peer(1), peer(2)), DescriptorV2, 7, 3, ErrTooManyUMPSignals, nil, -1},
		{"duplicate before too many", msgs(sep, sel(0, 0), sel(1, 0), peer(2)), DescriptorV2, 7, 3, ErrDuplicateUMPSignal, nil, -1},
		{"duplicate peer", msgs(sep, peer(1), peer(1)), DescriptorV2, 8, 2, ErrDuplicateUMPSignal, nil, -1},
		{"unknown variant 2", msgs(sep, []byte{2, 0, 0}), DescriptorV2, 8, 2, ErrUMPSignalDecode, nil, -1},
		{"truncated SelectCore", msgs(sep, []byte{0, 1}), DescriptorV2, 8, 2, ErrUMPSignalDecode, nil, -1},
		{"empty signal after the separator", msgs(sep, sep), DescriptorV2, 8, 2, ErrUMPSignalDecode, nil, -1},
		{"non-canonical compact length", msgs(sep, []byte{1, 0x01, 0x00}), DescriptorV2, 8, 2, ErrUMPSignalDecode, nil, -1},
		// The runtime decodes a signal with Decode::decode, which leaves
		// trailing bytes unread rather than refusing them.
		{"trailing bytes after a signal", msgs(sep, []byte{0, 1, 0, 0xff}), DescriptorV2, 7, 5, nil, &SelectCore{1, 0}, -1},
		{"only the first empty message separates", msgs([]byte("a"), sep, sel(0, 0), sep), DescriptorV2, 7, 3, ErrUMPSignalDecode, nil, -1},
		{"v3 with SelectCore", msgs(sep, sel(0, 0)), DescriptorV3, 8, 2, nil, &SelectCore{0, 0}, -1},
		{"v3 with only ApprovedPeer", msgs(sep, peer(3)), DescriptorV3, 8, 2, nil, nil, 3},
		{"v3 without signals", msgs([]byte("xcm")), DescriptorV3, 8, 2, ErrNoUMPSignalWithV3Descriptor, nil, -1},
		{"v3 with a separator only", msgs(sep), DescriptorV3, 8, 2, ErrNoUMPSignalWithV3Descriptor, nil, -1},
		{"unknown version", nil, DescriptorUnknown, 8, 2, ErrUnknownDescriptorVersion, nil, -1},
		{"decode errors come before version errors", msgs(sep, []byte{7}), DescriptorUnknown, 8, 2, ErrUMPSignalDecode, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := CandidateCommitments{UpwardMessages: tc.ump, HeadData: []byte{1}}
			got, err := CheckUMPSignals(&c, tc.version, tc.para, tc.core, cq)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if (got.SelectCore == nil) != (tc.selectCore == nil) || (got.SelectCore != nil && *got.SelectCore != *tc.selectCore) {
				t.Errorf("SelectCore %v, want %v", got.SelectCore, tc.selectCore)
			}
			if pl := len(got.ApprovedPeer); (got.ApprovedPeer == nil && tc.peerLen != -1) || (got.ApprovedPeer != nil && pl != tc.peerLen) {
				t.Errorf("ApprovedPeer %x, want %d bytes", got.ApprovedPeer, tc.peerLen)
			}
		})
	}
}

func TestUMPSignalEncodings(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{SelectCoreSignal(0, 0), "000000"},
		{SelectCoreSignal(0xab, 1), "00ab01"},
		{ApprovedPeerSignal(nil), "0100"},
		{ApprovedPeerSignal([]byte{0xde, 0xad}), "0108dead"},
		{ApprovedPeerSignal(make([]byte, 64)), "010101" + fmt.Sprintf("%0128x", 0)},
	} {
		if g := fmt.Sprintf("%x", tc.got); g != tc.want {
			t.Errorf("got %s, want %s", g, tc.want)
		}
	}
}

// TestCheckUMPSignalsDoesNotKeepTheLookupsSlice: the sorted copy is ours;
// the caller's claim queue is left as it was.
func TestCheckUMPSignalsDoesNotKeepTheLookupsSlice(t *testing.T) {
	cores := []CoreIndex{9, 1}
	c := CandidateCommitments{UpwardMessages: [][]byte{{}, SelectCoreSignal(0, 0)}}
	if _, err := CheckUMPSignals(&c, DescriptorV2, 1, 1, func(ParaID, uint8) []CoreIndex { return cores }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cores, []CoreIndex{9, 1}) {
		t.Fatalf("lookup slice changed: %v", cores)
	}
}
