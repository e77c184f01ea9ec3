package types

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Provenance of the expected values below:
//   - [substrate]: asserted in Substrate's own tests (sp_core sr25519.rs /
//     crypto.rs: derive_*_known_pair_should_work, sr_test_vector_should_work,
//     seeded_pair_should_work, DEV_ADDRESS) or the well-known dev accounts.
//   - [polkadot-js]: produced with @polkadot/keyring 14.x (schnorrkel compiled
//     to wasm) from types/testdata/polkadotjs, only for URIs whose meaning
//     polkadot-js and Substrate agree on (see TestSr25519URIEquivalences for
//     the cases where they do not).

func srHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func srHex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := srHex(t, s)
	if len(b) != 32 {
		t.Fatalf("hex %q is %d bytes, want 32", s, len(b))
	}
	return [32]byte(b)
}

func srHex64(t testing.TB, s string) [64]byte {
	t.Helper()
	b := srHex(t, s)
	if len(b) != 64 {
		t.Fatalf("hex %q is %d bytes, want 64", s, len(b))
	}
	return [64]byte(b)
}

func srMustURI(t testing.TB, uri string) *Keypair {
	t.Helper()
	kp, err := KeypairFromURI(uri)
	if err != nil {
		t.Fatalf("KeypairFromURI(%q): %v", uri, err)
	}
	return kp
}

// srInteropDir is the directory of the generated interop vectors;
// INTEROP_GENERATED_DIR overrides the default location.
func srInteropDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("INTEROP_GENERATED_DIR")
	if dir == "" {
		dir = filepath.Join(interopDir, "generated")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("interop vectors not available (types/testdata/interop INTEROP_GENERATED_DIR overrides): %v", err)
	}
	return dir
}

const srCautionPhrase = "caution juice atom organ advance problem want pledge someone senior holiday very"

func TestSr25519KeypairFromURIKnownAnswers(t *testing.T) {
	p24 := strings.Repeat("abandon ", 23) + "art"
	tests := []struct {
		uri    string
		pub    string // hex; empty to check only ss58
		ss58   string // prefix 42; empty to check only pub
		source string
	}{
		{"//Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "substrate"},
		{"//Bob", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "substrate"},
		{DevPhrase + "//Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "", "substrate"},
		{"//Alice//stash", "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f", "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY", "substrate"},
		{"", "", "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", "substrate DEV_ADDRESS"},
		{DevPhrase, "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a", "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", "substrate"},
		{"/Alice", "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e", "", "substrate"},
		{DevPhrase + "/Alice", "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e", "5GvKEoc787uDV8etY1AM8vF385edu2iyqD1WfCjDugzLUiAL", "substrate"},
		{"0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f", "", "substrate"},
		{"0x" + hex.EncodeToString([]byte("12345678901234567890123456789012")), "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63", "", "substrate"},

		{"//Alice///password", "32fc18294f88e02ec071e59bb3996aa21f4519d92593dc6e01fda2921d459b23", "5DDZ925gBq5PjNFM8yKTKWVoq1mf9veLGFHvpC6sHWXk6Wpe", "polkadot-js"},
		{DevPhrase + "///password", "b69355deefa7a8f33e9297f5af22e680f03597a99d4f4b1c44be47e7a2275802", "5GC6LfpV352HtJPySfAecb5JdePtf4R9Vq49NUU8RhzgBqgq", "polkadot-js"},
		{"//0", "2afba9278e30ccf6a6ceb3a8b6e336b70068f045c666f2e7f4f9cc5f47db8972", "5D34dL5prEUaGNQtPPZ3yN5Y6BnkfXunKXXz6fo7ZJbLwRRH", "polkadot-js"},
		{"//1", "b606fc73f57f03cdb4c932d475ab426043e429cecc2ffff0d2672b0df8398c48", "5GBNeWRhZc2jXu7D55rBimKYDk8PGk8itRYFTPfC8RJLKG5o", "polkadot-js"},
		{"//5", "60c57f0008067cc01c5ff9eb2e2f9b3a94299a915a91198bd1021a6c55596f57", "5EFb84yH9tpcFuiKUcsmdoF7xeeY3ajG1ZLQimxQoFt9HMKR", "polkadot-js"},
		{"//42/7", "502aeb171dab5026b0f172cce28f5a5d65995274aa80956c5cf90ec051f2822d", "5DspSKUC5pij6uWzeHtDbpcYu43MAyP9ED1G6yFJJuSq7zVm", "polkadot-js"},
		{DevPhrase + "/1", "328b984202c3c1c834b9c5973a0e8955c4f60c6e3c100503c77d4ad3b9328639", "5DCyihKprMsGj3vNzmhnCpx827jCTd4fHQzZAxyyNy7dBRnA", "polkadot-js"},
		// 31-char string: SCALE encoding is exactly 32 bytes (no hashing).
		{"//" + strings.Repeat("b", 31), "8ebb435934e134daee3e878ef8ef47a99931ef511bd09693bfaf076367d6e533", "5FHrHWpUp65yri9NDYQPERjVuWBUAL4LD7ccsKJLHaihynu6", "polkadot-js"},
		// Longer junctions: the chain code is blake2b-256 of the encoding.
		{"//" + strings.Repeat("a", 40), "f664e39a1662f83fcfed934f1e2b70b46d59e011e7e2136cab24c7df8806a00f", "5HdmcAaRDxL6RRsx1FDrpDJebj2ux3JAjfxk1cJngZi3KYkS", "polkadot-js"},
		{DevPhrase + "/" + strings.Repeat("c", 40), "381e49c4145fcf06dc84b2d45369459483da1324d6e559d3d0e23f651054b746", "5DLHY3uY2ZXAn52W2GugD23ErNjdzp87d852ejx9gnereWhn", "polkadot-js"},
		// 64-char string: two-byte compact length prefix.
		{DevPhrase + "//" + strings.Repeat("d", 64) + "/e", "1e9c4051db73bb615cb5e63f8345f0e140d812053eb07c1df8e6df0234b28350", "5Ckqi8ketkoKrwaLvtzEF1CnpRRFhH7iZKKj4VtwsL2PeLUb", "polkadot-js"},
		{"//polkadot//validator/0///pw", "3e5eb57029ad0e08025c9ef81387bd5925be4768adf10a397946d94b72cdb351", "5DUUxezMU5fV1whNmKMgCbKbWQtrCvHxa57SDboGEzrJMnY5", "polkadot-js"},
		{srCautionPhrase, "d6a3105d6768e956e9e5d41050ac29843f98561410d3a47f9dd5b3b227ab8746", "5Gv8YYFu8H1btvmrJy9FjjAWfb99wrhV3uhPFoNEr918utyR", "polkadot-js"},
		{srCautionPhrase + "///Hello World", "86d916065ef343aea97acde0e90c16d83a4c5186afd7178a91809b65e4362c61", "5F7Wm8iwyNqFGh6drS11B8Pt11adYKGiMACrGqRTWU3y3vP5", "polkadot-js"},
		{srCautionPhrase + "//Alice/soft//18446744073709551615", "c6c600049e64212618ecc2696be1c2e966631f98443be2bc48612dafa432197a", "5GZLA3BjnaMVnMi3ETzqLPBLbizfvnAYKtoH3Ra1McKoE8Bn", "polkadot-js"},
		{"0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60//Alice/x", "62d54b1a7b796cef76c7a1c0da857b4bbce8b3772f79c07ca37903c738ac2f12", "5EJHuodARx2rhPQPHuA7e8ikbuAyMdyLzYGWvW4CKsKqVYTH", "polkadot-js"},
		// 24 words (256-bit entropy); everything after "///" is the password,
		// including spaces and "/x".
		{p24, "66933bd1f37070ef87bd1198af3dacceb095237f803f3d32b173e6b425ed7972", "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH", "polkadot-js"},
		{p24 + "///pass word/x", "362016f22cd9194666688deb2af9a6a8435801099785e5a643de45919e566a76", "5DHfyXzVQojvkfFFEWPirsR6zmoZbGKJH8WdAv3ZfgZ5SQ2E", "polkadot-js"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			kp := srMustURI(t, tc.uri)
			pub := kp.Public()
			if tc.pub != "" {
				if want := srHex32(t, tc.pub); pub != want {
					t.Errorf("public = %x, want %x (%s)", pub, want, tc.source)
				}
			}
			if tc.ss58 != "" {
				if got := SS58Encode(pub, 42); got != tc.ss58 {
					t.Errorf("SS58 = %s, want %s (%s)", got, tc.ss58, tc.source)
				}
			}
		})
	}
}

// TestSr25519URIEquivalences pins down parsing details where different
// tools disagree; the Substrate (Rust) behaviour is the reference.
func TestSr25519URIEquivalences(t *testing.T) {
	seedHex := "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	tests := []struct {
		name string
		a, b string
	}{
		{"empty URI is the dev phrase", "", DevPhrase},
		{"junction without phrase uses the dev phrase", "//Alice", DevPhrase + "//Alice"},
		{"leading zeros in numeric junctions", "//005", "//5"},
		// Rust's u64::from_str accepts a leading '+', so Substrate reads "+5"
		// as the number 5. (polkadot-js treats it as a string and derives
		// 0xd0c42e0b... instead; subkey and sp_core are the reference here.)
		{"plus sign in numeric junctions", "//+5", "//5"},
		{"u64 max is numeric", "//18446744073709551615", "//18446744073709551615"},
		{"empty password equals no password", "//Alice///", "//Alice"},
		// bip39 splits the phrase on whitespace.
		{"extra spaces in the phrase", strings.ReplaceAll(DevPhrase, " ", "  ") + "//x", DevPhrase + "//x"},
		{"trailing space in the phrase", DevPhrase + " //x", DevPhrase + "//x"},
		// Substrate ignores the password for a raw seed.
		{"password ignored for hex seed", "0x" + seedHex + "///secret", "0x" + seedHex},
		{"upper-case hex seed", "0x" + strings.ToUpper(seedHex), "0x" + seedHex},
		{"password may contain slashes", "//A///p//q/r", "//A///p//q/r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := srMustURI(t, tc.a), srMustURI(t, tc.b)
			if a.Public() != b.Public() {
				t.Errorf("%q -> %x, %q -> %x; want equal", tc.a, a.Public(), tc.b, b.Public())
			}
		})
	}

	different := [][2]string{
		{"//Alice", "/Alice"},
		{"//Alice///a", "//Alice///b"},
		{"//18446744073709551616", "//0"}, // overflows u64, so it is a string
		{"//1", "//01x"},
		{"//Alice//Bob", "//Bob//Alice"},
	}
	for _, d := range different {
		if srMustURI(t, d[0]).Public() == srMustURI(t, d[1]).Public() {
			t.Errorf("%q and %q derive the same key", d[0], d[1])
		}
	}
}

func TestSr25519ParseSecretURI(t *testing.T) {
	u, err := parseSecretURI("hello world/s//h//7/+3///pa/ss")
	if err != nil {
		t.Fatal(err)
	}
	if u.phrase != "hello world" || u.password != "pa/ss" || len(u.junctions) != 4 {
		t.Fatalf("parsed %+v", u)
	}
	wantHard := []bool{false, true, true, false}
	for i, j := range u.junctions {
		if j.hard != wantHard[i] {
			t.Errorf("junction %d hard = %v", i, j.hard)
		}
	}
	// "s": SCALE("s") = 04 73; 7 and +3: u64 little endian.
	if want := [32]byte{0x04, 's'}; u.junctions[0].cc != want {
		t.Errorf("cc(s) = %x", u.junctions[0].cc)
	}
	if want := [32]byte{7}; u.junctions[2].cc != want {
		t.Errorf("cc(7) = %x", u.junctions[2].cc)
	}
	if want := [32]byte{3}; u.junctions[3].cc != want {
		t.Errorf("cc(+3) = %x", u.junctions[3].cc)
	}
}

func TestSr25519KeypairFromURIErrors(t *testing.T) {
	bad := []struct{ name, uri string }{
		{"word not in list", "bottom drive obey lake curtain smoke basket hold race lonely fit walkk"},
		{"not a phrase", "hello world"},
		{"too few words", "bottom drive obey lake curtain smoke basket hold race lonely fit"},
		{"too many words", strings.Repeat("abandon ", 26) + "art"},
		{"bad checksum", strings.Repeat("abandon ", 11) + "abandon"},
		{"capitalised word", "Bottom drive obey lake curtain smoke basket hold race lonely fit walk"},
		{"blank phrase", "   //Alice"},
		{"bad hex", "0xzz61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"},
		{"odd hex", "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6"},
		{"short hex", "0x9d61b19d"},
		{"long hex", "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6000"},
		{"empty hex", "0x"},
		{"upper-case 0X", "0X9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"},
		{"empty hard junction", "//"},
		{"empty trailing hard junction", "//Alice//"},
		{"empty trailing soft junction", "//Alice/"},
		{"empty soft junction", "/"},
		{"phrase with punctuation", "bottom.drive//Alice"},
		{"non-ASCII phrase", "bottöm drive obey lake curtain smoke basket hold race lonely fit walk"},
		{"newline in password", "//Alice///pass\nword"},
		{"newline before junction", "\n//Alice"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := KeypairFromURI(tc.uri)
			if !errors.Is(err, ErrInvalidSecretURI) {
				t.Fatalf("KeypairFromURI(%q) = %v, %v; want ErrInvalidSecretURI", tc.uri, kp, err)
			}
			// Errors must not leak secret material into logs.
			for _, secret := range []string{"bottom", "walkk", "9d61b19d", "zz61", "Alice", "pass\n"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks input: %v", err)
				}
			}
		})
	}
}

func TestSr25519KeypairFromSeedKnownAnswers(t *testing.T) {
	tests := []struct{ seed, pub string }{
		{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f"},
		{hex.EncodeToString([]byte("12345678901234567890123456789012")), "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63"},
	}
	for _, tc := range tests {
		kp, err := KeypairFromSeed(srHex32(t, tc.seed))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := kp.Public(), srHex32(t, tc.pub); got != want {
			t.Errorf("seed %s: public %x, want %x", tc.seed, got, want)
		}
	}
}

func TestSr25519KeypairFromSeedInterop(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(srInteropDir(t), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		Label     string `json:"label"`
		Seed      string `json:"seed"`
		PublicKey string `json:"public_key"`
	}
	var f struct {
		Validators []key `json:"validators"`
		Collators  []key `json:"collators"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	keys := append(f.Validators, f.Collators...)
	if len(f.Validators) == 0 || len(f.Collators) == 0 {
		t.Fatalf("keys.json has %d validators, %d collators", len(f.Validators), len(f.Collators))
	}
	for _, k := range keys {
		seed := srHex32(t, k.Seed)
		kp, err := KeypairFromSeed(seed)
		if err != nil {
			t.Fatalf("%s: %v", k.Label, err)
		}
		if got, want := kp.Public(), srHex32(t, k.PublicKey); got != want {
			t.Errorf("%s: public %x, want %x", k.Label, got, want)
		}
		// The same seed as a secret URI must give the same key.
		if got := srMustURI(t, k.Seed).Public(); got != kp.Public() {
			t.Errorf("%s: URI public %x, seed public %x", k.Label, got, kp.Public())
		}
	}
	t.Logf("checked %d keys", len(keys))
}

func TestSr25519SignVerify(t *testing.T) {
	kp := srMustURI(t, "//Alice")
	other := srMustURI(t, "//Bob")
	pub, err := ParsePublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	if pub.Bytes() != kp.Public() {
		t.Fatalf("Bytes() = %x", pub.Bytes())
	}
	for _, payload := range [][]byte{nil, {}, []byte("payload"), bytes.Repeat([]byte{0xab}, 4096)} {
		sig := kp.Sign(payload)
		if sig[63]&0x80 == 0 {
			t.Errorf("signature lacks the schnorrkel marker bit: %x", sig)
		}
		if !pub.Verify(payload, sig) || !VerifySr25519(kp.Public(), payload, sig) {
			t.Fatalf("valid signature rejected (payload len %d)", len(payload))
		}
		if err := pub.CheckSignature(payload, sig); err != nil {
			t.Fatalf("CheckSignature: %v", err)
		}
		if sig2 := kp.Sign(payload); sig2 == sig {
			t.Error("two signatures are identical; signing should be randomized")
		}
		tampered := append(bytes.Clone(payload), 0)
		if pub.Verify(tampered, sig) {
			t.Error("extended payload accepted")
		}
		if len(payload) > 0 {
			tampered = bytes.Clone(payload)
			tampered[len(tampered)/2] ^= 1
			if pub.Verify(tampered, sig) {
				t.Error("modified payload accepted")
			}
		}
		for i := range 64 {
			for _, mask := range []byte{0x01, 0x80} {
				bad := sig
				bad[i] ^= mask
				if pub.Verify(payload, bad) || VerifySr25519(kp.Public(), payload, bad) {
					t.Fatalf("signature with byte %d ^ %#x accepted", i, mask)
				}
				if err := pub.CheckSignature(payload, bad); !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("CheckSignature(byte %d ^ %#x) = %v", i, mask, err)
				}
			}
		}
		if VerifySr25519(other.Public(), payload, sig) {
			t.Error("signature verified under another key")
		}
	}
	// Signing context matters: Bob's signature must not verify for Alice, and
	// a signature is bound to the exact key.
	if pub.Verify([]byte("x"), other.Sign([]byte("x"))) {
		t.Error("Bob's signature accepted for Alice")
	}
}

func TestSr25519VerifyConcurrent(t *testing.T) {
	kp := srMustURI(t, "//Alice")
	pub, err := ParsePublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("shared key")
	sig := kp.Sign(msg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if !pub.Verify(msg, sig) {
					t.Error("concurrent verify failed")
					return
				}
				_ = kp.Sign(msg)
			}
		})
	}
	wg.Wait()
}

func TestSr25519VerifyInteropBitfields(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(srInteropDir(t), "signed_bitfield_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no signed_bitfield_*.json vectors")
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Hex            string `json:"hex"`
				SigningPayload string `json:"signing_payload"`
				PublicKey      string `json:"public_key"`
				SignatureValid bool   `json:"signature_valid"`
				Decoded        struct {
					Signature string `json:"signature"`
				} `json:"decoded"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			enc := srHex(t, v.Hex)
			if len(enc) < 64 {
				t.Fatalf("hex is %d bytes", len(enc))
			}
			sig := [64]byte(enc[len(enc)-64:])
			if v.Decoded.Signature != "" && sig != srHex64(t, v.Decoded.Signature) {
				t.Fatalf("last 64 bytes of hex differ from decoded.signature")
			}
			payload := srHex(t, v.SigningPayload)
			pubRaw := srHex32(t, v.PublicKey)
			pub, err := ParsePublicKey(pubRaw)
			if err != nil {
				t.Fatal(err)
			}
			if got := pub.Verify(payload, sig); got != v.SignatureValid {
				t.Errorf("Verify = %v, want %v", got, v.SignatureValid)
			}
			if got := VerifySr25519(pubRaw, payload, sig); got != v.SignatureValid {
				t.Errorf("VerifySr25519 = %v, want %v", got, v.SignatureValid)
			}
			payload[0] ^= 1
			if pub.Verify(payload, sig) {
				t.Error("tampered payload accepted")
			}
		})
	}
}

func TestSr25519VerifyExternalSignatures(t *testing.T) {
	// [polkadot-js] //Alice signing "provisioner sr25519 test vector".
	alice := srHex32(t, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	sig := srHex64(t, "761e0c6d9057ad526cb8253e0e9609752d2ee29e951f0b3380a1d2e706b34c751bdb0c319d7e32f816d26d54daba1bf528e785c5ae7c4d6d0f4a0f6799cff380")
	if !VerifySr25519(alice, []byte("provisioner sr25519 test vector"), sig) {
		t.Error("polkadot-js signature rejected")
	}

	// [substrate] verify_known_old_message_should_work and
	// verify_from_old_wasm_works: signatures from schnorrkel 0.1.1, which
	// lack the marker bit. Substrate's verify rejects them, and so must we.
	old := []struct {
		pub, sig string
		msg      []byte
	}{
		{
			"b4bfa1f7a5166695eb75299fd1c4c03ea212871c342f2c5dfea0902b2c246918",
			"5a9755f069939f45d96aaf125cf5ce7ba1db998686f87f2fb3cbdea922078741a73891ba265f70c31436e18a9acd14d189d73c12317ab6c313285cd938453202",
			[]byte("Verifying that I am the owner of 5G9hQLdsKQswNPgB499DeA5PkFBbgkLPJWkkS6FAM6xGQ8xD. Hash: 221455a3\n"),
		},
	}
	zeroSeed, err := KeypairFromSeed([32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	old = append(old, struct {
		pub, sig string
		msg      []byte
	}{
		func() string { p := zeroSeed.Public(); return hex.EncodeToString(p[:]) }(),
		"28a854d54903e056f89581c691c1f7d2ff39f8f896c9e9c22475e60902cc2b3547199e0e91fa32902028f2ca2355e8cdd16cfe19ba5e8b658c94aa80f3b81a00",
		[]byte("SUBSTRATE"),
	})
	for _, o := range old {
		pub, err := ParsePublicKey(srHex32(t, o.pub))
		if err != nil {
			t.Fatal(err)
		}
		if pub.Verify(o.msg, srHex64(t, o.sig)) {
			t.Errorf("deprecated unmarked signature accepted for %s", o.pub)
		}
	}
}

func TestSr25519ParsePublicKeyErrors(t *testing.T) {
	var allFF [32]byte
	for i := range allFF {
		allFF[i] = 0xff
	}
	// Negative field element (low bit set) is never a canonical encoding.
	one := [32]byte{1}
	for _, b := range [][32]byte{{}, allFF, one} {
		if p, err := ParsePublicKey(b); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("ParsePublicKey(%x) = %v, %v; want ErrInvalidPublicKey", b, p, err)
		}
		if VerifySr25519(b, []byte("x"), [64]byte{63: 0x80}) {
			t.Errorf("VerifySr25519 accepted key %x", b)
		}
	}
	var nilKey *PublicKey
	if nilKey.Verify([]byte("x"), [64]byte{}) {
		t.Error("nil PublicKey verified")
	}
	if err := (&PublicKey{}).CheckSignature(nil, [64]byte{}); !errors.Is(err, ErrInvalidPublicKey) {
		t.Errorf("zero PublicKey: %v", err)
	}
}

func TestSS58KnownAnswers(t *testing.T) {
	alice := srHex32(t, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	// [polkadot-js] encodeAddress(alice, prefix); 0 and 2 are also Alice's
	// well-known Polkadot and Kusama addresses.
	tests := []struct {
		prefix uint16
		addr   string
	}{
		{0, "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"},
		{1, "BauKu2iL4fncgfy22YSLGc1aDLpyuUUe5z8yNF2pDtLNr4E"},
		{2, "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F"},
		{42, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"},
		{63, "7NPoMQbiA6trJKkjB35uk96MeJD4PGWkLQLH7k7hXEkZpiba"},
		{64, "cEaNSpz4PxFcZ7nT1VEKrKewH67rfx6MfcM6yKojyyPz7qaqp"},
		{65, "cLxkfNUiCYsb57YLhTJdNVKxUTB1VTpeygYZNhYuFc83KrFy7"},
		{255, "yGHXkYLYqxijLKKfd9Q2CB9shRVu8rPNBS53wvwGTutYg4zTg"},
		{256, "VByeGLMtP8r8BYQpNX1sb2VtAW8GYCbtFAeXJwsA2ur3MNRdq"},
		{1000, "vji5kpxBaPKwct6PAdHiJUPCU1hqBEAPaLMF59sXAjn4NeEaJ"},
		{4096, "VDUTADF1RuDF5tHtL714wh1sYCQQx2ML3zkqHB7oYrfxfbDfF"},
		{16383, "yNa8JpqfFB3q8A29rCwSgxvdU94ufJw2yKKxDgznS5m1PoFvn"},
	}
	for _, tc := range tests {
		if got := SS58Encode(alice, tc.prefix); got != tc.addr {
			t.Errorf("SS58Encode(alice, %d) = %s, want %s", tc.prefix, got, tc.addr)
		}
		pub, prefix, err := SS58Decode(tc.addr)
		if err != nil || pub != alice || prefix != tc.prefix {
			t.Errorf("SS58Decode(%s) = %x, %d, %v", tc.addr, pub, prefix, err)
		}
	}
	// Substrate masks the prefix to 14 bits.
	if SS58Encode(alice, 1<<14|42) != SS58Encode(alice, 42) {
		t.Error("prefix not masked to 14 bits")
	}
}

func TestSS58RoundTripAllPrefixes(t *testing.T) {
	pubs := [][32]byte{{}, srHex32(t, "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48")}
	for i := range pubs[0] {
		pubs[0][i] = 0xff
	}
	for p := range uint16(1 << 14) {
		for _, pub := range pubs {
			s := SS58Encode(pub, p)
			got, prefix, err := SS58Decode(s)
			if err != nil || got != pub || prefix != p {
				t.Fatalf("prefix %d: %s decodes to %x, %d, %v", p, s, got, prefix, err)
			}
		}
	}
}

func TestSS58DecodeNonCanonicalPrefix(t *testing.T) {
	// The two-byte form can express values below 64; Substrate accepts it.
	pub := srHex32(t, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	data := append([]byte{0x40 | 42>>2, (42 & 3) << 6}, pub[:]...)
	sum := ss58Checksum(data)
	s := base58Encode(append(data, sum[:2]...))
	got, prefix, err := SS58Decode(s)
	if err != nil || got != pub || prefix != 42 {
		t.Fatalf("SS58Decode(%s) = %x, %d, %v", s, got, prefix, err)
	}
}

func TestSS58DecodeErrors(t *testing.T) {
	valid := "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	pub := srHex32(t, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	withBody := func(data []byte) string {
		sum := ss58Checksum(data)
		return base58Encode(append(bytes.Clone(data), sum[:2]...))
	}
	bad := map[string]string{
		"bad checksum (last char)":   valid[:len(valid)-1] + "R",
		"bad checksum (middle char)": valid[:10] + "x" + valid[11:],
		"character 0":                valid[:5] + "0" + valid[6:],
		"character O":                valid[:5] + "O" + valid[6:],
		"character I":                valid[:5] + "I" + valid[6:],
		"character l":                valid[:5] + "l" + valid[6:],
		"non-ASCII":                  valid[:5] + "é" + valid[7:],
		"empty":                      "",
		"one byte":                   "2",
		"truncated":                  valid[:len(valid)-3],
		"extended":                   valid + "1",
		"too long":                   strings.Repeat("2", 200),
		"prefix byte >= 128":         withBody(append([]byte{0x80}, pub[:]...)),
		"33-byte key":                withBody(append([]byte{42}, append(pub[:], 0)...)),
		"20-byte key":                withBody(append([]byte{42}, pub[:20]...)),
	}
	for name, s := range bad {
		if pub, prefix, err := SS58Decode(s); !errors.Is(err, ErrInvalidSS58) {
			t.Errorf("%s: SS58Decode(%q) = %x, %d, %v; want ErrInvalidSS58", name, s, pub, prefix, err)
		}
	}
}

func TestSr25519Base58(t *testing.T) {
	// Vectors from the base58 IETF draft (draft-msporny-base58).
	tests := []struct {
		data []byte
		enc  string
	}{
		{nil, ""},
		{[]byte{0}, "1"},
		{[]byte{0, 0, 0x28, 0x7f, 0xb4, 0xcd}, "11233QC4"},
		{[]byte("Hello World!"), "2NEpo7TZRRrLZSi2U"},
		{[]byte("The quick brown fox jumps over the lazy dog."), "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"},
	}
	for _, tc := range tests {
		if got := base58Encode(tc.data); got != tc.enc {
			t.Errorf("base58Encode(%x) = %s, want %s", tc.data, got, tc.enc)
		}
		got, err := base58Decode(tc.enc)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Errorf("base58Decode(%s) = %x, %v", tc.enc, got, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	kp, err := KeypairFromURI("//Alice")
	if err != nil {
		f.Fatal(err)
	}
	pub := kp.Public()
	msg := []byte("fuzz")
	sig := kp.Sign(msg)
	f.Add(pub[:], sig[:], msg)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 64), []byte("x"))
	f.Fuzz(func(t *testing.T, pubB, sigB, payload []byte) {
		var p [32]byte
		var s [64]byte
		copy(p[:], pubB)
		copy(s[:], sigB)
		raw := VerifySr25519(p, payload, s)
		parsed, err := ParsePublicKey(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPublicKey) {
				t.Fatalf("ParsePublicKey error %v does not wrap ErrInvalidPublicKey", err)
			}
			if raw {
				t.Fatal("VerifySr25519 accepted an unparsable key")
			}
			return
		}
		if parsed.Verify(payload, s) != raw {
			t.Fatal("Verify and VerifySr25519 disagree")
		}
		if err := parsed.CheckSignature(payload, s); (err == nil) != raw {
			t.Fatalf("CheckSignature = %v, Verify = %v", err, raw)
		}
	})
}

func FuzzSS58Decode(f *testing.F) {
	f.Add("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
	f.Add("yNa8JpqfFB3q8A29rCwSgxvdU94ufJw2yKKxDgznS5m1PoFvn")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pub, prefix, err := SS58Decode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSS58) {
				t.Fatalf("error %v does not wrap ErrInvalidSS58", err)
			}
			return
		}
		// Re-encoding may only differ for the non-canonical two-byte form of
		// a prefix below 64; decoding the re-encoding must agree.
		again, prefix2, err := SS58Decode(SS58Encode(pub, prefix))
		if err != nil || again != pub || prefix2 != prefix {
			t.Fatalf("round trip of %q: %x, %d, %v", s, again, prefix2, err)
		}
	})
}

func FuzzParseSecretURI(f *testing.F) {
	for _, s := range []string{"", "//Alice", "a b/c//d///e", "0x00//1/2", "//", "x///\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseSecretURI(s); err != nil && !errors.Is(err, ErrInvalidSecretURI) {
			t.Fatalf("error %v does not wrap ErrInvalidSecretURI", err)
		}
	})
}

func srBenchSetup(b *testing.B) (*Keypair, []byte, [64]byte) {
	kp, err := KeypairFromURI("//Alice")
	if err != nil {
		b.Fatal(err)
	}
	// About the size of a bitfield signing payload.
	payload := bytes.Repeat([]byte{0x5a}, 40)
	return kp, payload, kp.Sign(payload)
}

// BenchmarkVerify verifies with a pre-parsed PublicKey.
func BenchmarkVerify(b *testing.B) {
	kp, payload, sig := srBenchSetup(b)
	pub, err := ParsePublicKey(kp.Public())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !pub.Verify(payload, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkVerifyRaw parses the key on every call (VerifySr25519).
func BenchmarkVerifyRaw(b *testing.B) {
	kp, payload, sig := srBenchSetup(b)
	pub := kp.Public()
	b.ReportAllocs()
	for b.Loop() {
		if !VerifySr25519(pub, payload, sig) {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkSign(b *testing.B) {
	kp, payload, _ := srBenchSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = kp.Sign(payload)
	}
}

func BenchmarkParsePublicKey(b *testing.B) {
	kp, _, _ := srBenchSetup(b)
	pub := kp.Public()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
}
