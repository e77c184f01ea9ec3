package provisioner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// orderHash is a candidate hash whose first byte is b, so that the
// expected hash order is readable.
func orderHash(b byte) types.Hash { return types.Hash{b} }

// describeSets names sets as session/first hash byte.
func describeSets(sets []types.DisputeStatementSet) string {
	parts := make([]string, len(sets))
	for i, s := range sets {
		parts[i] = fmt.Sprintf("%d/%02x", s.Session, s.CandidateHash[0])
	}
	return strings.Join(parts, " ")
}

// TestOrderDisputes is the runtime's dispute_ordering_compare: local
// disputes (candidate included on this chain) first by inclusion height,
// then by candidate hash whatever the session; remote ones after by
// session, then candidate hash.
func TestOrderDisputes(t *testing.T) {
	k := func(s types.SessionIndex, b byte) DisputeKey {
		return DisputeKey{Session: s, CandidateHash: orderHash(b)}
	}
	tests := []struct {
		name     string
		sets     []DisputeKey
		included map[DisputeKey]types.BlockNumber
		want     string
	}{
		{"all remote: session, then hash", []DisputeKey{k(2, 0x01), k(1, 0x09), k(1, 0x03)}, nil, "1/03 1/09 2/01"},
		{"a local one goes first, whatever its session",
			[]DisputeKey{k(1, 0x01), k(3, 0x09), k(1, 0x05)}, map[DisputeKey]types.BlockNumber{k(3, 0x09): 50}, "3/09 1/01 1/05"},
		{"locals by inclusion height, not session",
			[]DisputeKey{k(1, 0x01), k(2, 0x02), k(3, 0x03)},
			map[DisputeKey]types.BlockNumber{k(1, 0x01): 90, k(2, 0x02): 70, k(3, 0x03): 80}, "2/02 3/03 1/01"},
		{"locals of one height by hash, not session",
			[]DisputeKey{k(1, 0x07), k(4, 0x02), k(2, 0x05)},
			map[DisputeKey]types.BlockNumber{k(1, 0x07): 60, k(4, 0x02): 60, k(2, 0x05): 60}, "4/02 2/05 1/07"},
		{"the inclusion of another session's candidate does not count",
			[]DisputeKey{k(2, 0x01), k(1, 0x02)}, map[DisputeKey]types.BlockNumber{k(1, 0x01): 10}, "1/02 2/01"},
		{"locals then remotes",
			[]DisputeKey{k(1, 0x01), k(5, 0x0a), k(1, 0x02), k(2, 0x0b)},
			map[DisputeKey]types.BlockNumber{k(5, 0x0a): 12, k(2, 0x0b): 11}, "2/0b 5/0a 1/01 1/02"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sets := make([]types.DisputeStatementSet, len(tc.sets))
			for i, key := range tc.sets {
				sets[i] = types.DisputeStatementSet{Session: key.Session, CandidateHash: key.CandidateHash}
			}
			orderDisputes(sets, tc.included)
			if got := describeSets(sets); got != tc.want {
				t.Fatalf("order %s, want %s", got, tc.want)
			}
		})
	}
}

// TestInherentOrdersLocalDisputesFirst: the inherent's disputes come in
// the runtime's order, with the chain view's inclusion heights; each
// dispute is asked about once per leaf; and when the chain view fails the
// disputes go out in the remote order rather than not at all, and are
// asked about again.
func TestInherentOrdersLocalDisputesFirst(t *testing.T) {
	const n = 10 // byzantine threshold 3: 4 participants confirm
	a, b, c := orderHash(0x0a), orderHash(0x0b), orderHash(0x0c)
	h, leaf := disputeHarness(t, n, Config{})
	h.chain.mu.Lock()
	h.chain.leaves[leaf].included = map[DisputeKey]types.BlockNumber{
		{Session: 2, CandidateHash: c}: 120,
		{Session: 1, CandidateHash: b}: 100,
	}
	h.chain.mu.Unlock()
	for _, d := range []struct {
		s    types.SessionIndex
		hash types.Hash
	}{{1, a}, {1, b}, {2, c}} {
		h.mustProvide(leaf, disputeSet(d.s, d.hash, votes(true, 0, 3), votes(false, 3, 5)))
	}
	if got, want := describeSets(h.inherent(leaf).Disputes), "1/0b 2/0c 1/0a"; got != want {
		t.Fatalf("disputes %s, want %s", got, want)
	}
	if got := describeSets(h.inherent(leaf).Disputes); got != "1/0b 2/0c 1/0a" {
		t.Fatalf("second assembly: disputes %s", got)
	}
	h.chain.mu.Lock()
	asked := len(h.chain.includedAsked)
	h.chain.mu.Unlock()
	if asked != 3 || h.chain.callCount("IncludedAt") != 1 {
		t.Fatalf("IncludedAt called %d times for %d disputes, want once for 3", h.chain.callCount("IncludedAt"), asked)
	}

	t.Run("chain view failure", func(t *testing.T) {
		h, leaf := disputeHarness(t, n, Config{})
		h.chain.mu.Lock()
		h.chain.leaves[leaf].included = map[DisputeKey]types.BlockNumber{{Session: 2, CandidateHash: c}: 120}
		h.chain.mu.Unlock()
		h.chain.setFailure("IncludedAt", errBoom)
		h.mustProvide(leaf, disputeSet(1, a, votes(true, 0, 3), votes(false, 3, 5)))
		h.mustProvide(leaf, disputeSet(2, c, votes(true, 0, 3), votes(false, 3, 5)))
		if got, want := describeSets(h.inherent(leaf).Disputes), "1/0a 2/0c"; got != want {
			t.Fatalf("disputes %s, want %s (remote order)", got, want)
		}
		h.chain.setFailure("IncludedAt", nil)
		if got, want := describeSets(h.inherent(leaf).Disputes), "2/0c 1/0a"; got != want {
			t.Fatalf("after recovery: disputes %s, want %s", got, want)
		}
		if got := h.chain.callCount("IncludedAt"); got != 2 {
			t.Fatalf("IncludedAt called %d times, want 2", got)
		}
	})
}
