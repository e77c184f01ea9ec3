package types

import (
	"errors"
	"slices"
	"testing"
)

// TestClaimQueueCores: the runtime's transpose_claim_queue, looked up by
// para and depth.
func TestClaimQueueCores(t *testing.T) {
	cq := map[CoreIndex][]ParaID{0: {7, 8}, 1: {8, 7, 7}, 4: {7}, 5: nil}
	tests := []struct {
		para  ParaID
		depth uint8
		want  []CoreIndex
	}{
		{7, 0, []CoreIndex{0, 4}},
		{7, 1, []CoreIndex{1}},
		{7, 2, []CoreIndex{1}},
		{8, 0, []CoreIndex{1}},
		{8, 1, []CoreIndex{0}},
		{8, 2, nil},
		{9, 0, nil},
		{7, 255, nil},
	}
	lookup := ClaimQueueCores(cq)
	for _, tc := range tests {
		got := lookup(tc.para, tc.depth)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("para %d depth %d: cores %v, want %v", tc.para, tc.depth, got, tc.want)
		}
	}
	if ClaimQueueCores(nil) != nil {
		t.Error("a nil claim queue gives a lookup, want nil")
	}
	// A known empty queue is a lookup that assigns nothing.
	if _, err := CheckUMPSignals(&CandidateCommitments{}, DescriptorV2, 7, 0, ClaimQueueCores(map[CoreIndex][]ParaID{})); !errors.Is(err, ErrNoAssignment) {
		t.Errorf("empty claim queue: %v, want ErrNoAssignment", err)
	}
}

// TestParseUMPSignalsFor: what parse_ump_signals refuses without a claim
// queue, with the same errors CheckUMPSignals gives.
func TestParseUMPSignalsFor(t *testing.T) {
	sep := []byte{}
	tests := []struct {
		name    string
		ump     [][]byte
		version DescriptorVersion
		want    error
		sel     *SelectCore
	}{
		{"v1 without signals", [][]byte{[]byte("xcm")}, DescriptorV1, nil, nil},
		{"v1 with a signal", [][]byte{sep, SelectCoreSignal(1, 0)}, DescriptorV1, ErrUMPSignalWithV1Descriptor, nil},
		{"v2 without signals", nil, DescriptorV2, nil, nil},
		{"v2 with a selector no claim queue can refuse here", [][]byte{sep, SelectCoreSignal(200, 9)}, DescriptorV2, nil, &SelectCore{200, 9}},
		{"v3 without signals", [][]byte{[]byte("xcm"), sep}, DescriptorV3, ErrNoUMPSignalWithV3Descriptor, nil},
		{"v3 with a selector", [][]byte{sep, SelectCoreSignal(0, 1)}, DescriptorV3, nil, &SelectCore{0, 1}},
		{"unknown version", nil, DescriptorUnknown, ErrUnknownDescriptorVersion, nil},
		{"form before version: a bad signal on v1", [][]byte{sep, {5}}, DescriptorV1, ErrUMPSignalDecode, nil},
		{"form before version: too many on v3", [][]byte{sep, SelectCoreSignal(0, 0), ApprovedPeerSignal(nil), ApprovedPeerSignal([]byte{1})},
			DescriptorV3, ErrTooManyUMPSignals, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := CandidateCommitments{UpwardMessages: tc.ump}
			got, err := c.ParseUMPSignalsFor(tc.version)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			switch {
			case tc.sel == nil && got.SelectCore != nil:
				t.Fatalf("SelectCore %+v, want none", *got.SelectCore)
			case tc.sel != nil && (got.SelectCore == nil || *got.SelectCore != *tc.sel):
				t.Fatalf("SelectCore %v, want %+v", got.SelectCore, *tc.sel)
			}
		})
	}
}
