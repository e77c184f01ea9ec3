package provisioner

import (
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestBitfieldSelection covers Polkadot's bitfield selection: one per
// validator, bits only on occupied cores, more set bits win, the first of
// equals stays, ascending validator order, wrong lengths dropped.
func TestBitfieldSelection(t *testing.T) {
	const n = 10
	occ := func() types.CoreState { return occupied(1, n) }
	tests := []struct {
		name   string
		cores  []types.CoreState
		feed   []*SignedBitfield
		reject map[int]string // index in feed -> discard reason
		want   []*SignedBitfield
	}{
		{
			name:  "one per validator",
			cores: []types.CoreState{occ(), occ()},
			feed:  []*SignedBitfield{bitfield(0, "11"), bitfield(1, "11"), bitfield(1, "11")},
			reject: map[int]string{
				2: reasonSuperseded,
			},
			want: []*SignedBitfield{bitfield(0, "11"), bitfield(1, "11")},
		},
		{
			name:  "bits only on occupied cores",
			cores: []types.CoreState{freeCore(), scheduled(7), occ()},
			feed:  []*SignedBitfield{bitfield(0, "100"), bitfield(1, "010"), bitfield(2, "001"), bitfield(3, "000")},
			reject: map[int]string{
				0: reasonUnoccupied,
				1: reasonUnoccupied,
			},
			want: []*SignedBitfield{bitfield(2, "001"), bitfield(3, "000")},
		},
		{
			name:   "more set bits win",
			cores:  []types.CoreState{occ(), occ()},
			feed:   []*SignedBitfield{bitfield(1, "10"), bitfield(1, "11")},
			reject: map[int]string{},
			want:   []*SignedBitfield{bitfield(1, "11")},
		},
		{
			name:   "fewer set bits never replace",
			cores:  []types.CoreState{occ(), occ()},
			feed:   []*SignedBitfield{bitfield(1, "11"), bitfield(1, "01")},
			reject: map[int]string{1: reasonSuperseded},
			want:   []*SignedBitfield{bitfield(1, "11")},
		},
		{
			name:  "ties keep the first",
			cores: []types.CoreState{occ(), occ()},
			feed:  []*SignedBitfield{bitfield(4, "10"), bitfield(4, "01")},
			reject: map[int]string{
				1: reasonSuperseded,
			},
			want: []*SignedBitfield{bitfield(4, "10")},
		},
		{
			name:  "out of order input, ascending output, best per validator",
			cores: []types.CoreState{occ(), occ(), occ(), occ()},
			feed: []*SignedBitfield{
				bitfield(3, "0010"), bitfield(3, "1111"), bitfield(0, "1010"), bitfield(2, "0010"), bitfield(1, "0100"),
			},
			reject: map[int]string{},
			want:   []*SignedBitfield{bitfield(0, "1010"), bitfield(1, "0100"), bitfield(2, "0010"), bitfield(3, "1111")},
		},
		{
			name:  "wrong length and unknown validator dropped",
			cores: []types.CoreState{occ(), occ()},
			feed:  []*SignedBitfield{bitfield(0, "1"), bitfield(1, "111"), bitfield(n, "11"), bitfield(2, "01")},
			reject: map[int]string{
				0: reasonLength,
				1: reasonLength,
				2: reasonValidatorIndex,
			},
			want: []*SignedBitfield{bitfield(2, "01")},
		},
		{
			name:   "a wrong bitfield never displaces a valid one",
			cores:  []types.CoreState{freeCore(), occ()},
			feed:   []*SignedBitfield{bitfield(5, "01"), bitfield(5, "11")},
			reject: map[int]string{1: reasonUnoccupied},
			want:   []*SignedBitfield{bitfield(5, "01")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.addSession(1, fakeIDs(n), 5)
			leaf := h.addLeaf(testHash("leaf", 1), 100, 1, tc.cores)
			h.activate(leaf)
			for i, bf := range tc.feed {
				err := h.provide(leaf.Hash, bf)
				reason, rejected := tc.reject[i]
				switch {
				case rejected && !errors.Is(err, ErrInvalidData):
					t.Fatalf("bitfield %d: got %v, want rejection (%s)", i, err, reason)
				case rejected && discarded(h, "bitfield", reason) == 0:
					t.Fatalf("bitfield %d: discard reason %q not counted", i, reason)
				case !rejected && err != nil:
					t.Fatalf("bitfield %d: %v", i, err)
				}
			}
			got := h.inherent(leaf.Hash).Bitfields
			if len(got) != len(tc.want) {
				t.Fatalf("selected %d bitfields, want %d", len(got), len(tc.want))
			}
			for i := range got {
				w := tc.want[i].Bitfield
				if got[i].ValidatorIndex != w.ValidatorIndex || !got[i].Payload.Equal(w.Payload) {
					t.Errorf("bitfield %d: got validator %d %s, want validator %d %s", i,
						got[i].ValidatorIndex, got[i].Payload, w.ValidatorIndex, w.Payload)
				}
			}
		})
	}
}

// TestBitfieldsSentMetricCountsSelected: the metric counts the bitfields in
// the inherent, not the ones held (Polkadot counts the latter).
func TestBitfieldsSentMetricCountsSelected(t *testing.T) {
	h := newHarness(t, Config{})
	h.addSession(1, fakeIDs(4), 2)
	leaf := h.addLeaf(testHash("leaf", 1), 10, 1, []types.CoreState{occupied(1, 4), freeCore()})
	h.activate(leaf)
	h.mustProvide(leaf.Hash, bitfield(0, "10"))
	h.mustProvide(leaf.Hash, bitfield(1, "10"))
	_ = h.provide(leaf.Hash, bitfield(2, "01")) // bit on a free core: not sent
	h.inherent(leaf.Hash)
	if got := histogramSum(t, h, "polkadot_parachain_provisioner_inherent_data_response_bitfields_sent"); got != 2 {
		t.Fatalf("bitfields sent = %v, want 2", got)
	}
}
