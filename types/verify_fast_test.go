package types

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	voisr "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
)

// The package verifies sr25519 itself (PreparedSignature, BatchVerifier)
// on curve25519-voi's curve primitives. These tests pin that it accepts
// exactly what go-schnorrkel and voi's own sr25519 accept, alone and in
// batches, valid or not.

// voiRefVerify is curve25519-voi's sr25519 verification of the raw bytes,
// with the signing context "substrate": the reference for ours.
func voiRefVerify(pub, payload, sig []byte) bool {
	pk, err := voisr.NewPublicKeyFromBytes(pub)
	if err != nil {
		return false
	}
	s, err := voisr.NewSignatureFromBytes(sig)
	if err != nil {
		return false
	}
	return pk.Verify(voisr.NewSigningContext([]byte(sr25519SigningContext)).NewTranscriptBytes(payload), s)
}

// oursVerify is every way this package verifies one signature; they must
// agree with each other (the test fails otherwise) and the result is theirs.
func oursVerify(t testing.TB, pub [32]byte, payload []byte, sig [64]byte) bool {
	t.Helper()
	raw := VerifySr25519(pub, payload, sig)
	pk, err := ParsePublicKey(pub)
	if err != nil {
		if !errors.Is(err, ErrInvalidPublicKey) {
			t.Fatalf("ParsePublicKey(%x) = %v, not ErrInvalidPublicKey", pub, err)
		}
		if raw {
			t.Fatalf("VerifySr25519 accepts the unparsable key %x", pub)
		}
		return false
	}
	check := pk.CheckSignature(payload, sig)
	if check != nil && !errors.Is(check, ErrInvalidSignature) {
		t.Fatalf("CheckSignature = %v, not ErrInvalidSignature", check)
	}
	ps, perr := PrepareSignature(pk, payload, sig)
	prepared := perr == nil && ps.Verify()
	if perr != nil && !errors.Is(perr, ErrInvalidSignature) {
		t.Fatalf("PrepareSignature = %v, not ErrInvalidSignature", perr)
	}
	// A signature that fails to prepare fails CheckSignature the same way.
	if perr != nil && (check == nil || check.Error() != perr.Error()) {
		t.Fatalf("PrepareSignature error %q, CheckSignature %v", perr, check)
	}
	if v := pk.Verify(payload, sig); v != raw || (check == nil) != raw || prepared != raw {
		t.Fatalf("key %x: VerifySr25519 %v, Verify %v, CheckSignature %v, prepared %v", pub, raw, v, check, prepared)
	}
	return raw
}

// corruptions of a valid signature (or its inputs) that every
// implementation must refuse.
type corruption struct {
	name string
	f    func(rng *rand.Rand, pub *[32]byte, payload *[]byte, sig *[64]byte)
}

var fieldPrime = func() (p [32]byte) { // 2^255 - 19, a non-canonical 0
	p[0] = 0xed
	for i := 1; i < 31; i++ {
		p[i] = 0xff
	}
	p[31] = 0x7f
	return
}()

var corruptions = []corruption{
	{"R bit", func(rng *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		sig[rng.IntN(32)] ^= 1 << rng.IntN(8)
	}},
	{"s bit", func(rng *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		sig[32+rng.IntN(31)] ^= 1 << rng.IntN(8) // not byte 63's marker
	}},
	{"payload bit", func(rng *rand.Rand, _ *[32]byte, payload *[]byte, _ *[64]byte) {
		if len(*payload) == 0 {
			*payload = []byte{0}
			return
		}
		p := bytes.Clone(*payload)
		p[rng.IntN(len(p))] ^= 1 << rng.IntN(8)
		*payload = p
	}},
	{"payload extended", func(_ *rand.Rand, _ *[32]byte, payload *[]byte, _ *[64]byte) {
		*payload = append(bytes.Clone(*payload), 0)
	}},
	{"key bit", func(rng *rand.Rand, pub *[32]byte, _ *[]byte, _ *[64]byte) {
		pub[rng.IntN(32)] ^= 1 << rng.IntN(8)
	}},
	{"s + l", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		putLEScalar(sig, new(big.Int).Add(leScalar(*sig), groupOrder))
	}},
	{"s + 2l", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		putLEScalar(sig, new(big.Int).Add(leScalar(*sig), new(big.Int).Lsh(groupOrder, 1)))
	}},
	{"marker bit cleared", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		sig[63] &^= 0x80
	}},
	{"R high bit", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		sig[31] |= 0x80
	}},
	{"R = p (non-canonical 0)", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		copy(sig[:32], fieldPrime[:])
	}},
	{"R negated encoding (s of R odd)", func(_ *rand.Rand, _ *[32]byte, _ *[]byte, sig *[64]byte) {
		sig[0] ^= 1 // a negative field element: never canonical
	}},
	{"identity key", func(_ *rand.Rand, pub *[32]byte, _ *[]byte, _ *[64]byte) {
		*pub = [32]byte{}
	}},
	{"other key", func(rng *rand.Rand, pub *[32]byte, _ *[]byte, _ *[64]byte) {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], rng.Uint64())
		kp, err := KeypairFromSeed(seed)
		if err != nil {
			panic(err)
		}
		*pub = kp.Public()
	}},
}

// TestVerifyAgreesWithSchnorrkelAndVoi signs random payloads with random
// keys (go-schnorrkel and voi signers), verifies them with our
// verification, voi's and go-schnorrkel's, and does the same for every
// corruption: all three accept every genuine signature and refuse every
// corrupted one.
func TestVerifyAgreesWithSchnorrkelAndVoi(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'f', 'a', 's', 't'}))
	vctx := voisr.NewSigningContext([]byte(sr25519SigningContext))
	const keys = 60
	checked := map[string]int{}
	for i := range keys {
		var seed [32]byte
		for j := 0; j < 32; j += 8 {
			binary.LittleEndian.PutUint64(seed[j:], rng.Uint64())
		}
		kp, err := KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		pub := kp.Public()
		msk, err := voisr.NewMiniSecretKeyFromBytes(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		vkp := msk.ExpandEd25519().KeyPair()
		for _, signer := range []string{"schnorrkel", "voi"} {
			payload := make([]byte, rng.IntN(300))
			for j := range payload {
				payload[j] = byte(rng.Uint32())
			}
			var sig [64]byte
			if signer == "schnorrkel" {
				sig = kp.Sign(payload)
			} else {
				vs, err := vkp.Sign(nil, vctx.NewTranscriptBytes(payload))
				if err != nil {
					t.Fatal(err)
				}
				b, err := vs.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				sig = [64]byte(b)
			}
			if !oursVerify(t, pub, payload, sig) || !voiRefVerify(pub[:], payload, sig[:]) || !schnorrkelVerify(pub, payload, sig) {
				t.Fatalf("key %d, %s signature: ours %v, voi %v, go-schnorrkel %v; want all true", i, signer,
					oursVerify(t, pub, payload, sig), voiRefVerify(pub[:], payload, sig[:]), schnorrkelVerify(pub, payload, sig))
			}
			checked["genuine"]++
			for _, c := range corruptions {
				p, pl, s := pub, payload, sig
				c.f(rng, &p, &pl, &s)
				ours, voi, sk := oursVerify(t, p, pl, s), voiRefVerify(p[:], pl, s[:]), schnorrkelVerify(p, pl, s)
				if ours || sk || (voi && p != [32]byte{}) {
					t.Fatalf("key %d, %s signature, %s: ours %v, voi %v, go-schnorrkel %v; want false",
						i, signer, c.name, ours, voi, sk)
				}
				checked[c.name]++
			}
		}
	}
	for _, c := range append([]corruption{{name: "genuine"}}, corruptions...) {
		if checked[c.name] != 2*keys {
			t.Errorf("%s: %d cases, want %d", c.name, checked[c.name], 2*keys)
		}
	}
}

// TestVoiForgeryUnderIdentityKey: voi accepts the identity as a key, and a
// "signature" R = [s]B under it for any payload; ours refuses the key, so
// the forgery, in every API.
func TestVoiForgeryUnderIdentityKey(t *testing.T) {
	var forged [64]byte
	copy(forged[:32], srHex(t, "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")) // B
	forged[32] = 1
	forged[63] |= 0x80
	var zero [32]byte
	if !voiRefVerify(zero[:], []byte("any"), forged[:]) {
		t.Fatal("voi no longer accepts the forgery under the identity: revisit the fuzz target's exception")
	}
	if oursVerify(t, zero, []byte("any"), forged) {
		t.Fatal("forgery under the identity key accepted")
	}
	if _, err := PrepareSignature(nil, []byte("any"), forged); !errors.Is(err, ErrInvalidPublicKey) {
		t.Fatalf("PrepareSignature(nil key) = %v, want ErrInvalidPublicKey", err)
	}
	if _, err := PrepareSignature(&PublicKey{}, []byte("any"), forged); !errors.Is(err, ErrInvalidPublicKey) {
		t.Fatalf("PrepareSignature(zero key) = %v, want ErrInvalidPublicKey", err)
	}
}

// TestPrepareSignatureErrors: the reasons a signature fails before any
// arithmetic, and that a zero PreparedSignature never verifies.
func TestPrepareSignatureErrors(t *testing.T) {
	kp := srMustURI(t, "//Alice")
	pk, err := ParsePublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("prepare")
	sig := kp.Sign(msg)
	mut := func(f func(*[64]byte)) [64]byte { s := sig; f(&s); return s }
	tests := []struct {
		name string
		sig  [64]byte
		want string // error text, "" for none
	}{
		{"valid", sig, ""},
		{"marker", mut(func(s *[64]byte) { s[63] &^= 0x80 }), "invalid sr25519 signature: malformed: marker bit not set (not a schnorrkel 0.8+ signature)"},
		{"s = l", mut(func(s *[64]byte) { putLEScalar(s, groupOrder) }), "invalid sr25519 signature: malformed: non-canonical s"},
		{"s = 2^255-1", mut(func(s *[64]byte) {
			putLEScalar(s, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1)))
		}), "invalid sr25519 signature: malformed: non-canonical s"},
		{"R = p", mut(func(s *[64]byte) { copy(s[:32], fieldPrime[:]) }), "invalid sr25519 signature: R is not a canonical ristretto255 encoding"},
		{"s = l - 1", mut(func(s *[64]byte) { putLEScalar(s, new(big.Int).Sub(groupOrder, big.NewInt(1))) }), ""},
	}
	for _, tc := range tests {
		ps, err := PrepareSignature(pk, msg, tc.sig)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.want)
		}
		wantValid := tc.name == "valid"
		if ps.Verify() != wantValid {
			t.Errorf("%s: prepared Verify = %v, want %v", tc.name, ps.Verify(), wantValid)
		}
		if err != nil && ps.key != nil {
			t.Errorf("%s: a failed preparation left a key in the PreparedSignature", tc.name)
		}
		// The form alone: every error but R's, which takes arithmetic.
		wantForm := tc.want
		if strings.HasPrefix(tc.name, "R ") {
			wantForm = ""
		}
		got = ""
		if err := CheckSignatureForm(&tc.sig); err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("%s: CheckSignatureForm error %v does not wrap ErrInvalidSignature", tc.name, err)
			}
		}
		if got != wantForm {
			t.Errorf("%s: CheckSignatureForm %q, want %q", tc.name, got, wantForm)
		}
	}
	var zero PreparedSignature
	if zero.Verify() {
		t.Error("zero PreparedSignature verifies")
	}
	// Prepare into a used value: a failure clears it.
	ps, err := PrepareSignature(pk, msg, sig)
	if err != nil || !ps.Verify() {
		t.Fatalf("valid: %v", err)
	}
	bad := mut(func(s *[64]byte) { s[63] &^= 0x80 })
	if err := ps.Prepare(pk, msg, &bad); err == nil || ps.Verify() {
		t.Fatalf("Prepare over a valid one: %v, Verify %v", err, ps.Verify())
	}
	if err := pk.CheckSignature(msg, mut(func(s *[64]byte) { s[40] ^= 1 })); err == nil ||
		err.Error() != "invalid sr25519 signature: the verification equation does not hold" {
		t.Errorf("wrong s: CheckSignature = %v", err)
	}
}

// batchCase is one signature of a batch test and whether it is valid.
type batchCase struct {
	key     *PublicKey
	payload []byte
	sig     [64]byte
	valid   bool
}

// batchSigners are a few keys that sign batch test items.
func batchSigners(t testing.TB, n int) []*Keypair {
	t.Helper()
	out := make([]*Keypair, n)
	for i := range out {
		var seed [32]byte
		binary.LittleEndian.PutUint32(seed[:], uint32(i)+7)
		kp, err := KeypairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kp
	}
	return out
}

// goodBatch returns n valid items signed by signers in turn.
func goodBatch(t testing.TB, signers []*Keypair, n int) []batchCase {
	t.Helper()
	keys := make([]*PublicKey, len(signers))
	for i, kp := range signers {
		k, err := ParsePublicKey(kp.Public())
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	out := make([]batchCase, n)
	for i := range out {
		payload := fmt.Appendf(nil, "batch item %d", i)
		out[i] = batchCase{keys[i%len(keys)], payload, signers[i%len(keys)].Sign(payload), true}
	}
	return out
}

// checkBatch runs items through a BatchVerifier, half of them prepared by
// the caller, and checks the exact per-item results and the error.
func checkBatch(t *testing.T, bv *BatchVerifier, items []batchCase) {
	t.Helper()
	bv.Reset()
	for i, it := range items {
		if i%2 == 0 {
			bv.Add(it.key, it.payload, it.sig)
			continue
		}
		ps, _ := PrepareSignature(it.key, it.payload, it.sig) // an error leaves ps zero: invalid
		bv.AddPrepared(&ps)
	}
	if bv.Len() != len(items) {
		t.Fatalf("Len = %d, want %d", bv.Len(), len(items))
	}
	valid, err := bv.Verify()
	if len(valid) != len(items) {
		t.Fatalf("%d results for %d items", len(valid), len(items))
	}
	bad, first := 0, -1
	for i, it := range items {
		if valid[i] != it.valid {
			t.Errorf("item %d: %v, want %v", i, valid[i], it.valid)
		}
		if !it.valid {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if bad == 0 {
		if err != nil {
			t.Fatalf("all-valid batch of %d: %v", len(items), err)
		}
		return
	}
	want := fmt.Sprintf("invalid sr25519 signature: %d of %d signatures in the batch (first: item %d)", bad, len(items), first)
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestBatchVerifierSizesAndBadItems: batches of every interesting size,
// all valid and with bad items (a wrong equation, malformed, a nil key) at
// various positions, give exactly the single checks' results.
func TestBatchVerifierSizesAndBadItems(t *testing.T) {
	signers := batchSigners(t, 5)
	all := goodBatch(t, signers, 257)
	bv := NewBatchVerifier(4)
	var zeroBV BatchVerifier // the zero value works too
	for _, n := range []int{0, 1, 2, 3, 255, 256, 257} {
		items := all[:n]
		t.Run(fmt.Sprintf("n=%d/valid", n), func(t *testing.T) {
			checkBatch(t, bv, items)
			checkBatch(t, &zeroBV, items)
		})
		if n == 0 {
			continue
		}
		positions := map[string][]int{
			"first":   {0},
			"last":    {n - 1},
			"middle":  {n / 2},
			"several": {0, n / 3, n / 2, n - 1},
		}
		for name, pos := range positions {
			for _, how := range []string{"equation", "malformed", "nil key", "mixed"} {
				t.Run(fmt.Sprintf("n=%d/%s/%s", n, name, how), func(t *testing.T) {
					items := append([]batchCase(nil), all[:n]...)
					slices.Sort(pos)
					for j, p := range slices.Compact(pos) {
						it := &items[p]
						kind := how
						if how == "mixed" {
							kind = []string{"equation", "malformed", "nil key"}[j%3]
						}
						switch kind {
						case "equation":
							it.sig[40] ^= 0x02 // another canonical s
						case "malformed":
							it.sig[63] &^= 0x80
						case "nil key":
							it.key = nil
						}
						it.valid = false
					}
					checkBatch(t, bv, items)
				})
			}
		}
	}
}

// TestBatchVerifierWeightsAreRandom: two bad signatures whose errors
// cancel in an unweighted sum (s+1 and s-1 under one key) must not pass:
// the batch's random weights keep them apart.
func TestBatchVerifierWeightsAreRandom(t *testing.T) {
	signers := batchSigners(t, 1)
	items := goodBatch(t, signers, 4)
	items[1].sig = func() [64]byte {
		s := items[1].sig
		putLEScalar(&s, new(big.Int).Mod(new(big.Int).Add(leScalar(s), big.NewInt(1)), groupOrder))
		return s
	}()
	items[2].sig = func() [64]byte {
		s := items[2].sig
		putLEScalar(&s, new(big.Int).Mod(new(big.Int).Sub(leScalar(s), big.NewInt(1)), groupOrder))
		return s
	}()
	items[1].valid, items[2].valid = false, false
	var bv BatchVerifier
	for range 20 {
		checkBatch(t, &bv, items)
	}
	// And the pair alone, where an unweighted sum is the identity.
	for range 20 {
		checkBatch(t, &bv, items[1:3])
	}
}

// TestBatchVerifierReuse: a batch can be verified again (with new
// weights) and reused after Reset, and Add does not retain the payload.
func TestBatchVerifierReuse(t *testing.T) {
	signers := batchSigners(t, 3)
	items := goodBatch(t, signers, 10)
	var bv BatchVerifier
	buf := make([]byte, 64)
	for _, it := range items {
		n := copy(buf, it.payload)
		bv.Add(it.key, buf[:n], it.sig)
		clear(buf) // the caller reuses its buffer
	}
	for range 3 {
		if valid, err := bv.Verify(); err != nil || len(valid) != len(items) {
			t.Fatalf("Verify: %v, %v", valid, err)
		}
	}
	bv.Reset()
	if bv.Len() != 0 {
		t.Fatalf("Len after Reset = %d", bv.Len())
	}
	if valid, err := bv.Verify(); err != nil || len(valid) != 0 {
		t.Fatalf("empty batch: %v, %v; want [], nil", valid, err)
	}
}

// TestPublicKeyMemory measures what a parsed key keeps alive (the point,
// -A's table, the struct): the figure PublicKey's documentation gives.
func TestPublicKeyMemory(t *testing.T) {
	signers := batchSigners(t, 1)
	raw := signers[0].Public()
	const n = 1000
	keys := make([]*PublicKey, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		k, err := ParsePublicKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	runtime.ReadMemStats(&after)
	perKey := (after.TotalAlloc - before.TotalAlloc) / n
	runtime.KeepAlive(keys)
	t.Logf("a parsed PublicKey holds %d bytes", perKey)
	// 384 bytes of struct and 1,280 of table (both size classes exact).
	if perKey < 1500 || perKey > 1800 {
		t.Errorf("a parsed PublicKey holds %d bytes, documented as about 1.7 KiB", perKey)
	}
}

// FuzzVerifyAgainstVoi: on arbitrary key, signature and payload bytes our
// verification says what curve25519-voi's sr25519 says, except that we
// refuse the identity key (see TestVoiZeroKeyRefused). With mode 1 the
// key is instead derived from pub (as a mini secret), the payload signed
// by voi, and the signature XORed with sig: so the fuzzer also reaches
// genuine signatures and corruptions of them. Each case also goes through
// a batch with a genuine signature, which must give the same results.
func FuzzVerifyAgainstVoi(f *testing.F) {
	alice := srMustURI(f, "//Alice")
	apub := alice.Public()
	msg := []byte("fuzz")
	asig := alice.Sign(msg)
	f.Add(uint8(0), apub[:], asig[:], msg)
	f.Add(uint8(0), apub[:], asig[:], []byte("fuzZ"))
	bad := asig
	bad[63] &^= 0x80
	f.Add(uint8(0), apub[:], bad[:], msg)
	bad = asig
	copy(bad[:32], fieldPrime[:])
	f.Add(uint8(0), apub[:], bad[:], msg)
	var forged [64]byte
	copy(forged[:32], srHex(f, "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"))
	forged[32], forged[63] = 1, 0x80
	f.Add(uint8(0), make([]byte, 32), forged[:], msg)
	f.Add(uint8(0), []byte{}, []byte{}, []byte{})
	f.Add(uint8(0), bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 64), []byte("x"))
	f.Add(uint8(1), []byte("seed"), make([]byte, 64), []byte("genuine"))
	f.Add(uint8(1), []byte("seed"), append(make([]byte, 40), 1), []byte("s flipped"))
	f.Add(uint8(1), []byte("seed"), []byte{0, 0, 0, 0, 0, 0x10}, []byte("R flipped"))
	f.Add(uint8(1), []byte("seed"), append(make([]byte, 63), 0x80), []byte("marker cleared"))

	vctx := voisr.NewSigningContext([]byte(sr25519SigningContext))
	other := srMustURI(f, "//Bob")
	opk, err := ParsePublicKey(other.Public())
	if err != nil {
		f.Fatal(err)
	}
	omsg := []byte("batch companion")
	osig := other.Sign(omsg)
	f.Fuzz(func(t *testing.T, mode uint8, pubB, sigB, payload []byte) {
		var pub [32]byte
		var sig [64]byte
		copy(sig[:], sigB)
		if mode == 1 {
			var seed [32]byte
			copy(seed[:], pubB)
			msk, err := voisr.NewMiniSecretKeyFromBytes(seed[:])
			if err != nil {
				t.Fatal(err)
			}
			kp := msk.ExpandEd25519().KeyPair()
			// Deterministic signing: the nonce's entropy comes from the seed.
			vs, err := kp.Sign(bytes.NewReader(bytes.Repeat(seed[:], 4)), vctx.NewTranscriptBytes(payload))
			if err != nil {
				t.Fatal(err)
			}
			genuine, _ := vs.MarshalBinary()
			for i := range sig {
				sig[i] ^= genuine[i]
			}
			pb, _ := kp.PublicKey().MarshalBinary()
			pub = [32]byte(pb)
		} else {
			copy(pub[:], pubB)
		}
		want := voiRefVerify(pub[:], payload, sig[:])
		if pub == ([32]byte{}) {
			want = false // ours refuses the identity key
		}
		got := oursVerify(t, pub, payload, sig)
		if got != want {
			t.Fatalf("key %x payload %x sig %x: ours %v, voi %v", pub, payload, sig, got, want)
		}
		pk, _ := ParsePublicKey(pub) // nil for a bad key: an invalid item
		var bv BatchVerifier
		bv.Add(opk, omsg, osig)
		bv.Add(pk, payload, sig)
		bv.Add(opk, omsg, osig)
		valid, err := bv.Verify()
		if !valid[0] || !valid[2] || valid[1] != want || (err == nil) != want {
			t.Fatalf("batch: %v, %v; want [true %v true]", valid, err, want)
		}
	})
}

// BenchmarkSingleVerify compares one verification (pre-parsed key) by this
// package, by curve25519-voi's sr25519 and by go-schnorrkel, and this
// package's preparation alone.
func BenchmarkSingleVerify(b *testing.B) {
	kp, payload, sig := srBenchSetup(b)
	pub := kp.Public()
	pk, err := ParsePublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !pk.Verify(payload, sig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("ours-prepare", func(b *testing.B) {
		b.ReportAllocs()
		var ps PreparedSignature
		for b.Loop() {
			if ps.Prepare(pk, payload, &sig) != nil {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("voi", func(b *testing.B) {
		vpk, err := voisr.NewPublicKeyFromBytes(pub[:])
		if err != nil {
			b.Fatal(err)
		}
		vctx := voisr.NewSigningContext([]byte(sr25519SigningContext))
		b.ReportAllocs()
		for b.Loop() {
			s, err := voisr.NewSignatureFromBytes(sig[:])
			if err != nil || !vpk.Verify(vctx.NewTranscriptBytes(payload), s) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("schnorrkel", func(b *testing.B) {
		spk, err := schnorrkel.NewPublicKey(pub)
		if err != nil {
			b.Fatal(err)
		}
		spk.Encode()
		b.ReportAllocs()
		for b.Loop() {
			var s schnorrkel.Signature
			if err := s.Decode(sig); err != nil {
				b.Fatal(err)
			}
			ok, err := spk.Verify(&s, schnorrkel.NewSigningContext([]byte(sr25519SigningContext), payload))
			if err != nil || !ok {
				b.Fatal("rejected")
			}
		}
	})
}

// BenchmarkBatchVerifyPrepared: per signature, the batch equation over
// signatures prepared beforehand (what a batch worker does), and a batch
// that prepares its items in Add, at 64, 256 and 1,024 distinct keys.
func BenchmarkBatchVerifyPrepared(b *testing.B) {
	for _, n := range []int{64, 256, 1024} {
		signers := batchSigners(b, n)
		items := goodBatch(b, signers, n)
		prepared := make([]PreparedSignature, n)
		for i, it := range items {
			ps, err := PrepareSignature(it.key, it.payload, it.sig)
			if err != nil {
				b.Fatal(err)
			}
			prepared[i] = ps
		}
		bv := NewBatchVerifier(n)
		perSig := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		}
		b.Run(fmt.Sprintf("prepared/%d", n), func(b *testing.B) {
			for b.Loop() {
				bv.Reset()
				for i := range prepared {
					bv.AddPrepared(&prepared[i])
				}
				if _, err := bv.Verify(); err != nil {
					b.Fatal(err)
				}
			}
			perSig(b)
		})
		b.Run(fmt.Sprintf("add/%d", n), func(b *testing.B) {
			for b.Loop() {
				bv.Reset()
				for _, it := range items {
					bv.Add(it.key, it.payload, it.sig)
				}
				if _, err := bv.Verify(); err != nil {
					b.Fatal(err)
				}
			}
			perSig(b)
		})
	}
}
