package runtime

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// mapCache is a SignatureCache that knows exactly what it was given and
// counts its answers.
type mapCache struct {
	known        map[string]bool
	hits, misses int
}

func newMapCache() *mapCache { return &mapCache{known: map[string]bool{}} }

func (m *mapCache) Known(key *types.PublicKey, payload []byte, sig [64]byte) bool {
	ok := m.known[types.SignatureID(key, payload, sig)]
	if ok {
		m.hits++
	} else {
		m.misses++
	}
	return ok
}

func (m *mapCache) Add(key *types.PublicKey, payload []byte, sig [64]byte) {
	m.known[types.SignatureID(key, payload, sig)] = true
}

// sigConfig: 12 validators in 3 groups of 4, paras 100, 200 and 300 on
// cores 0, 1 and 2, so that a block holds 12 bitfields and 12 backing
// votes (batches of at least minBatch).
func sigConfig(t testing.TB) Config {
	cfg := Config{GroupSize: 4, Cores: 3, Schedule: [][]types.ParaID{{100}, {200}, {300}}, FirstSession: 1}
	for _, kp := range keypairs(t, 12) {
		cfg.Validators = append(cfg.Validators, kp.Public())
	}
	for _, p := range []types.ParaID{100, 200, 300} {
		cfg.Paras = append(cfg.Paras, ParaGenesis{ID: p, Head: paraHead(p), CodeHash: codeHash(p)})
	}
	return cfg
}

func forge(sig [64]byte) [64]byte {
	sig[5] ^= 1
	return sig
}

// TestSignatureCacheBitfieldVerdicts: with or without a cache, empty or
// holding what gossip verified, the runtime keeps and drops exactly the
// same bitfields; a signature the cache knows for another payload or
// another key is verified (and fails), while only the exact triple hits.
func TestSignatureCacheBitfieldVerdicts(t *testing.T) {
	h := newHarness(t, sigConfig(t))
	th, st := h.tip()
	ctx := types.SigningContext{SessionIndex: h.rt.SessionIndexForChild(st), ParentHash: th.Hash()}
	other := types.SigningContext{SessionIndex: ctx.SessionIndex, ParentHash: types.Blake2_256([]byte("another parent"))}
	cores := types.NewBitVec(3)
	sign := func(signer, index int, c types.SigningContext) types.UncheckedSignedAvailabilityBitfield {
		return types.SignBitfield(h.kps[signer], cores, types.ValidatorIndex(index), c)
	}
	valid := func(vs ...int) []types.UncheckedSignedAvailabilityBitfield {
		var out []types.UncheckedSignedAvailabilityBitfield
		for _, v := range vs {
			out = append(out, sign(v, v, ctx))
		}
		return out
	}
	forged := func(v int) types.UncheckedSignedAvailabilityBitfield {
		bf := sign(v, v, ctx)
		bf.Signature = forge(bf.Signature)
		return bf
	}
	cat := func(parts ...[]types.UncheckedSignedAvailabilityBitfield) []types.UncheckedSignedAvailabilityBitfield {
		return slices.Concat(parts...)
	}
	one := func(bf types.UncheckedSignedAvailabilityBitfield) []types.UncheckedSignedAvailabilityBitfield {
		return []types.UncheckedSignedAvailabilityBitfield{bf}
	}
	wrongLen := sign(11, 11, ctx)
	wrongLen.Payload = types.NewBitVec(4)
	cases := []struct {
		name     string
		bfs      []types.UncheckedSignedAvailabilityBitfield
		kept     []types.ValidatorIndex
		filtered map[string]int
	}{
		{"all valid, one batch", valid(all(12)...), idx(all(12)...), map[string]int{}},
		{"a forgery in the batch", cat(valid(0, 1, 2, 3, 4), one(forged(5)), valid(6, 7, 8, 9, 10, 11)),
			idx(0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11), map[string]int{BitfieldSignature: 1}},
		{"few, one at a time", cat(valid(0), one(forged(1)), valid(2)), idx(0, 2), map[string]int{BitfieldSignature: 1}},
		{"out of order and repeated", cat(valid(0, 1, 2, 3, 4, 5, 6, 7, 8), valid(3), valid(9, 9, 10, 11)),
			idx(all(12)...), map[string]int{BitfieldOrder: 2}},
		// The second bitfield of 9 is not in the batch (9 is not above the
		// first's index), yet reached: the first's signature failed.
		{"forged, then the same index validly", cat(valid(0, 1, 2, 3, 4, 5, 6, 7, 8), one(forged(9)), valid(9, 10, 11)),
			idx(all(12)...), map[string]int{BitfieldSignature: 1}},
		{"signed for another parent", cat(valid(0, 1, 2, 3, 4, 5, 6, 7, 8), one(sign(9, 9, other)), valid(10, 11)),
			idx(0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11), map[string]int{BitfieldSignature: 1}},
		{"another validator's signature", cat(valid(0, 1, 2, 3, 4, 5, 6, 7, 8), one(sign(3, 9, ctx)), valid(10, 11)),
			idx(0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11), map[string]int{BitfieldSignature: 1}},
		{"unknown index and wrong length", cat(valid(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), one(wrongLen), one(sign(11, 12, ctx))),
			idx(all(11)...), map[string]int{BitfieldLength: 1, BitfieldIndex: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// gossip holds what a node's gossip validation verified: every
			// signature valid for the payload it was signed over, which
			// for the odd ones is not the payload this block checks.
			gossip := newMapCache()
			for _, bf := range c.bfs {
				for signer := range h.kps {
					for _, sc := range []types.SigningContext{ctx, other} {
						p := types.BitfieldSigningPayload(bf.Payload, sc)
						if h.rt.keys[signer].Verify(p, bf.Signature) {
							gossip.Add(h.rt.keys[signer], p, bf.Signature)
						}
					}
				}
			}
			runtimes := []struct {
				name  string
				rt    *Runtime
				cache *mapCache
			}{
				{"no cache", h.rt, nil},
				{"empty cache", h.rt.WithSignatureCache(newMapCache()), nil},
				{"gossip cache", h.rt.WithSignatureCache(gossip), gossip},
			}
			for _, r := range runtimes {
				inh := h.inherent()
				inh.Bitfields = c.bfs
				kept, _, out, err := r.rt.CreateInherent(st, th, inh)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				var got []types.ValidatorIndex
				for _, bf := range kept.Bitfields {
					got = append(got, bf.ValidatorIndex)
				}
				if !slices.Equal(got, c.kept) || !maps.Equal(out.Filtered, c.filtered) {
					t.Errorf("%s: kept %v filtered %v, want %v %v", r.name, got, out.Filtered, c.kept, c.filtered)
				}
				if r.cache != nil {
					// Every kept bitfield was a hit; nothing else was.
					if r.cache.hits != len(c.kept) {
						t.Errorf("%s: %d hits, want %d (one per kept bitfield)", r.name, r.cache.hits, len(c.kept))
					}
				}
			}
		})
	}
}

func idx(vs ...int) []types.ValidatorIndex {
	out := make([]types.ValidatorIndex, len(vs))
	for i, v := range vs {
		out[i] = types.ValidatorIndex(v)
	}
	return out
}

// TestSignatureCacheExactTriple: the runtime takes the cache's word for
// exactly the triple it would verify. A cache that (wrongly) vouches for a
// forged signature makes the runtime keep it only when the entry names the
// block's payload, the validator's key and that signature; an entry that
// differs in any of them is not a hit.
func TestSignatureCacheExactTriple(t *testing.T) {
	h := newHarness(t, sigConfig(t))
	th, st := h.tip()
	ctx := types.SigningContext{SessionIndex: h.rt.SessionIndexForChild(st), ParentHash: th.Hash()}
	other := types.SigningContext{SessionIndex: ctx.SessionIndex, ParentHash: types.Blake2_256([]byte("another parent"))}
	bf := types.SignBitfield(h.kps[4], types.NewBitVec(3), 4, ctx)
	good := bf.Signature
	bf.Signature = forge(good)
	payload := types.BitfieldSigningPayload(bf.Payload, ctx)
	cases := []struct {
		name    string
		key     *types.PublicKey
		payload []byte
		sig     [64]byte
		kept    bool
	}{
		{"the exact triple", h.rt.keys[4], payload, bf.Signature, true},
		{"another payload", h.rt.keys[4], types.BitfieldSigningPayload(bf.Payload, other), bf.Signature, false},
		{"another key", h.rt.keys[5], payload, bf.Signature, false},
		{"another signature (the valid one)", h.rt.keys[4], payload, good, false},
	}
	for _, c := range cases {
		cache := newMapCache()
		cache.Add(c.key, c.payload, c.sig)
		inh := h.inherent()
		inh.Bitfields = []types.UncheckedSignedAvailabilityBitfield{bf}
		kept, _, out, err := h.rt.WithSignatureCache(cache).CreateInherent(st, th, inh)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := map[string]int{}
		if !c.kept {
			want[BitfieldSignature] = 1
		}
		if (len(kept.Bitfields) == 1) != c.kept || !maps.Equal(out.Filtered, want) || cache.hits != len(kept.Bitfields) {
			t.Errorf("%s: kept %d filtered %v hits %d, want kept %v", c.name, len(kept.Bitfields), out.Filtered, cache.hits, c.kept)
		}
	}
}

// TestSignatureCacheBackingVerdicts: backing votes, batched across
// candidates, give the same block or the same error with or without the
// cache, and a vote the cache knows for another relay parent still fails.
func TestSignatureCacheBackingVerdicts(t *testing.T) {
	h := newHarness(t, sigConfig(t))
	th, st := h.tip()
	session := h.rt.SessionIndexForChild(st)
	cands := func() []types.BackedCandidate {
		return []types.BackedCandidate{
			h.candidate(100, 0, 0, paraHead(100), candOpts{}),
			h.candidate(200, 1, 0, paraHead(200), candOpts{}),
			h.candidate(300, 2, 0, paraHead(300), candOpts{}),
		}
	}
	otherCtx := types.SigningContext{SessionIndex: session, ParentHash: types.Blake2_256([]byte("another relay parent"))}
	cases := []struct {
		name   string
		mutate func([]types.BackedCandidate) []types.BackedCandidate
		backed int
		err    bool
	}{
		{"three candidates, one batch", func(c []types.BackedCandidate) []types.BackedCandidate { return c }, 3, false},
		{"a forged vote in the batch", func(c []types.BackedCandidate) []types.BackedCandidate {
			c[1].ValidityVotes[2].Signature = forge(c[1].ValidityVotes[2].Signature)
			return c
		}, 0, true},
		{"a vote signed for another relay parent", func(c []types.BackedCandidate) []types.BackedCandidate {
			group := h.rt.Groups(session)[2]
			c[2].ValidityVotes[1] = types.SignBackingVote(h.kps[group[1]], false, c[2].Hash(), otherCtx)
			return c
		}, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bcs := c.mutate(cands())
			// What gossip verified: each vote under its signer's key for
			// the context it was signed in.
			gossip := newMapCache()
			for i := range bcs {
				for _, sc := range []types.SigningContext{{SessionIndex: session, ParentHash: th.Hash()}, otherCtx} {
					for _, v := range bcs[i].ValidityVotes {
						for k := range h.rt.keys {
							for _, kind := range []uint8{types.CompactSeconded, types.CompactValid} {
								p := types.BackingPayload(kind, bcs[i].Hash(), sc)
								if h.rt.keys[k].Verify(p, v.Signature) {
									gossip.Add(h.rt.keys[k], p, v.Signature)
								}
							}
						}
					}
				}
			}
			var first []byte
			for _, rt := range []*Runtime{h.rt, h.rt.WithSignatureCache(newMapCache()), h.rt.WithSignatureCache(gossip)} {
				inh := h.inherent()
				inh.BackedCandidates = bcs
				kept, _, _, err := rt.CreateInherent(st, th, inh)
				got := []byte(nil)
				switch {
				case c.err && err == nil, !c.err && err != nil:
					t.Fatalf("err = %v, want error %v", err, c.err)
				case err != nil:
					got = []byte(err.Error())
				default:
					if len(kept.BackedCandidates) != c.backed {
						t.Fatalf("backed %d, want %d", len(kept.BackedCandidates), c.backed)
					}
					got = types.Encode(kept)
				}
				if first == nil {
					first = got
				} else if !bytes.Equal(got, first) {
					t.Fatalf("verdicts differ: %q and %q", got, first)
				}
			}
			if !c.err && gossip.misses != 0 {
				t.Errorf("gossip cache: %d misses, want none", gossip.misses)
			}
		})
	}
}
