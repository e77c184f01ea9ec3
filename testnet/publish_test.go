package testnet

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TestPublishesBacking: a node gossips its votes for a candidate only when
// it hosts one of the group's first minimum-backing-votes + 1 backers (3
// with the default of 2); for a candidate the checkers find invalid only
// the first minimum-backing-votes positions back it at all.
func TestPublishesBacking(t *testing.T) {
	g, err := NewGenesis(12, 2, 2, 1000, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.rt.MinimumBackingVotes(); got != 2 {
		t.Fatalf("minimum backing votes %d, the cases assume 2", got)
	}
	group := []types.ValidatorIndex{7, 3, 9, 1, 4}
	valid := &Candidate{Group: group}
	valid.Receipt.Descriptor.ParaID = 2000
	valid.Receipt.Descriptor.PovHash = povHash(2000, valid.Receipt.Descriptor.ParaHead, true)
	invalid := &Candidate{Group: group}
	invalid.Receipt.Descriptor.ParaID = 2000
	cases := []struct {
		name   string
		cand   *Candidate
		hosted []types.ValidatorIndex
		want   bool
	}{
		{"hosts the seconder", valid, []types.ValidatorIndex{7}, true},
		{"hosts the third backer", valid, []types.ValidatorIndex{9}, true},
		{"hosts only the fourth and fifth", valid, []types.ValidatorIndex{1, 4}, false},
		{"hosts none of the group", valid, []types.ValidatorIndex{0, 2, 5}, false},
		{"hosts the fifth and the second", valid, []types.ValidatorIndex{4, 3}, true},
		{"invalid: hosts the second backer", invalid, []types.ValidatorIndex{3}, true},
		{"invalid: the third does not back", invalid, []types.ValidatorIndex{9}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kp := &types.Keypair{}
			hosted := func(v types.ValidatorIndex) *types.Keypair {
				for _, h := range tc.hosted {
					if h == v {
						return kp
					}
				}
				return nil
			}
			if got := publishesBacking(g, tc.cand, hosted); got != tc.want {
				t.Fatalf("publishes %v, want %v", got, tc.want)
			}
		})
	}
}

// publishKeys are n hosted validators 0..n-1 with keys from fixed seeds.
func publishKeys(t *testing.T, n int) []hostedKey {
	t.Helper()
	keys := make([]hostedKey, n)
	for i := range keys {
		var seed [32]byte
		seed[0], seed[1] = byte(i), byte(i>>8)
		kp, err := types.KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = hostedKey{index: types.ValidatorIndex(i), kp: kp}
	}
	return keys
}

// TestPublishBitfieldsConcurrent: every hosted validator's bitfield is
// published once, signed over the payload in the leaf's context, from
// exactly maxPublishers goroutines at once when there are more
// bitfields than that.
func TestPublishBitfieldsConcurrent(t *testing.T) {
	const n = 3*maxPublishers + 5
	keys := publishKeys(t, n)
	payload := types.NewBitVec(7)
	payload.Set(2, true)
	sctx := types.SigningContext{SessionIndex: 4, ParentHash: types.Blake2_256([]byte("leaf"))}

	var mu sync.Mutex
	got := map[types.ValidatorIndex]int{}
	var inflight, most atomic.Int32
	gate := make(chan struct{})
	full := make(chan struct{})
	var fullOnce sync.Once
	publish := func(_ context.Context, leaf types.Hash, bf types.UncheckedSignedAvailabilityBitfield) error {
		k := inflight.Add(1)
		defer inflight.Add(-1)
		for m := most.Load(); k > m && !most.CompareAndSwap(m, k); m = most.Load() {
		}
		if k == maxPublishers {
			fullOnce.Do(func() { close(full) })
		}
		<-gate
		if leaf != sctx.ParentHash {
			t.Errorf("published for %x, want the leaf %x", leaf, sctx.ParentHash)
		}
		key, err := types.ParsePublicKey(keys[bf.ValidatorIndex].kp.Public())
		if err != nil {
			t.Error(err)
		} else if !key.Verify(types.BitfieldSigningPayload(payload, sctx), bf.Signature) {
			t.Errorf("validator %d: signature does not verify", bf.ValidatorIndex)
		}
		mu.Lock()
		got[bf.ValidatorIndex]++
		mu.Unlock()
		return nil
	}
	done := make(chan bool)
	go func() {
		done <- publishBitfields(context.Background(), keys, payload, sctx, func() bool { return true }, publish)
	}()
	select {
	case <-full:
	case <-time.After(time.Minute):
		t.Fatalf("never %d publishes in flight (most %d)", maxPublishers, most.Load())
	}
	close(gate)
	if !<-done {
		t.Fatal("publishBitfields reported the leaf stale")
	}
	if m := most.Load(); m != maxPublishers {
		t.Fatalf("at most %d publishes in flight, want %d", m, maxPublishers)
	}
	if len(got) != n {
		t.Fatalf("%d validators published, want %d", len(got), n)
	}
	for v, c := range got {
		if c != 1 {
			t.Fatalf("validator %d published %d times", v, c)
		}
	}
}

// TestPublishBitfieldsStopsWhenStale: once the leaf is no longer the
// node's (or ctx ends), no further bitfield is published and the caller
// hears false.
func TestPublishBitfieldsStopsWhenStale(t *testing.T) {
	keys := publishKeys(t, 2*maxPublishers)
	sctx := types.SigningContext{SessionIndex: 1, ParentHash: types.Blake2_256([]byte("leaf"))}
	payload := types.NewBitVec(3)

	t.Run("leaf replaced after the fifth publish", func(t *testing.T) {
		var published atomic.Int32
		var isLeaf atomic.Bool
		isLeaf.Store(true)
		publish := func(context.Context, types.Hash, types.UncheckedSignedAvailabilityBitfield) error {
			if published.Add(1) == 5 {
				isLeaf.Store(false)
			}
			return nil
		}
		if publishBitfields(context.Background(), keys, payload, sctx, isLeaf.Load, publish) {
			t.Fatal("true for a replaced leaf")
		}
		// Each publisher that saw the leaf current may have published
		// one more; none started after it saw it replaced.
		if p := published.Load(); p < 5 || p > 5+maxPublishers-1 {
			t.Fatalf("%d published", p)
		}
	})
	t.Run("not the leaf before signing", func(t *testing.T) {
		publish := func(context.Context, types.Hash, types.UncheckedSignedAvailabilityBitfield) error {
			t.Error("published for a leaf that was replaced")
			return nil
		}
		if publishBitfields(context.Background(), keys, payload, sctx, func() bool { return false }, publish) {
			t.Fatal("true for a replaced leaf")
		}
	})
	t.Run("context ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		publish := func(context.Context, types.Hash, types.UncheckedSignedAvailabilityBitfield) error {
			t.Error("published after the context ended")
			return nil
		}
		if publishBitfields(ctx, keys, payload, sctx, func() bool { return true }, publish) {
			t.Fatal("true with the context ended")
		}
	})
}
