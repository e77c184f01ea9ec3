package types

import (
	"github.com/polkadot-provisioner/provisioner/codec"

	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	bip39 "github.com/cosmos/go-bip39"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	"github.com/oasisprotocol/curve25519-voi/primitives/merlin"
	"golang.org/x/crypto/blake2b"
)

// Sentinel errors of the sr25519/SS58 helpers. Returned errors wrap one of
// them (test with errors.Is) and add context. They never echo secret input
// (phrases, seeds, passwords, junctions) so that they are safe to log.
var (
	ErrInvalidSecretURI = errors.New("invalid secret URI")
	ErrInvalidPublicKey = errors.New("invalid sr25519 public key")
	ErrInvalidSignature = errors.New("invalid sr25519 signature")
	ErrInvalidSS58      = errors.New("invalid SS58 address")
)

// DevPhrase is Substrate's publicly known development mnemonic
// (sp_core::crypto::DEV_PHRASE). A secret URI without a phrase, such as
// "//Alice", is derived from it.
const DevPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

// sr25519SigningContext is the schnorrkel signing context Substrate uses for
// every sr25519 signature (sp_core::sr25519::SIGNING_CTX).
const sr25519SigningContext = "substrate"

// Keypair is an sr25519 secret key with its public key, as Substrate's
// sp_core::sr25519::Pair. Create it with KeypairFromURI or KeypairFromSeed;
// the zero value is not usable. A Keypair is safe for concurrent use.
type Keypair struct {
	secret *schnorrkel.SecretKey
	pub    *schnorrkel.PublicKey
	public [32]byte
}

// KeypairFromSeed builds the keypair of a 32-byte mini secret key ("seed"),
// expanded in Ed25519 mode exactly like Substrate's sr25519::Pair::from_seed.
func KeypairFromSeed(seed [32]byte) (*Keypair, error) {
	return sr25519KeypairFromMini(seed)
}

// KeypairFromURI parses a Substrate secret URI, as accepted by `subkey
// inspect` and sp_core's Pair::from_string:
//
//	[phrase | 0x<64 hex digits>][/soft | //hard ...][///password]
//
// A missing phrase means DevPhrase, so "//Alice" is the well-known Alice key.
// A BIP-39 English phrase (12..24 words) is turned into a mini secret with
// Substrate's non-standard rule (PBKDF2 over the mnemonic's entropy, salted
// with "mnemonic"+password). A 0x seed is used as the mini secret directly;
// like Substrate, the password is then ignored. Junctions made of digits are
// u64 indices, anything else is a string; "//" marks a hard junction, "/" a
// soft one.
//
// Malformed URIs give an error wrapping ErrInvalidSecretURI.
func KeypairFromURI(uri string) (*Keypair, error) {
	u, err := parseSecretURI(uri)
	if err != nil {
		return nil, err
	}

	var mini [32]byte
	if seedHex, ok := strings.CutPrefix(u.phrase, "0x"); ok {
		// Substrate only looks for a lowercase "0x"; "0X..." falls through to
		// the phrase branch and fails there, as it does in Rust.
		raw, err := hex.DecodeString(seedHex)
		if err != nil {
			return nil, fmt.Errorf("%w: seed is not valid hex", ErrInvalidSecretURI)
		}
		if len(raw) != len(mini) {
			return nil, fmt.Errorf("%w: seed is %d bytes, want 32", ErrInvalidSecretURI, len(raw))
		}
		copy(mini[:], raw)
	} else {
		mini, err = sr25519MiniSecretFromPhrase(u.phrase, u.password)
		if err != nil {
			return nil, err
		}
	}

	sk, err := sr25519ExpandMini(mini)
	if err != nil {
		return nil, err
	}
	for i, j := range u.junctions {
		sk, err = j.derive(sk)
		if err != nil {
			return nil, fmt.Errorf("sr25519: deriving junction %d: %w", i+1, err)
		}
	}
	return sr25519KeypairFromSecret(sk)
}

// Public returns the 32-byte compressed Ristretto public key.
func (k *Keypair) Public() [32]byte { return k.public }

// Sign signs payload with the signing context "substrate" and returns the
// 64-byte schnorrkel signature (R || s, with the schnorrkel marker bit set in
// the last byte) that Substrate's sr25519::Pair::sign produces. Signatures
// are randomized, so signing the same payload twice gives different bytes.
//
// Sign panics only on a zero Keypair or if the system RNG is broken; neither
// depends on payload.
func (k *Keypair) Sign(payload []byte) [64]byte {
	if k == nil || k.secret == nil {
		panic("types: Sign called on a zero Keypair; use KeypairFromURI or KeypairFromSeed")
	}
	// go-schnorrkel's only input-independent failure is drawing a zero nonce
	// scalar (probability ~2^-252), so a couple of retries make an error
	// practically impossible instead of forcing every caller to handle one.
	var lastErr error
	for range 3 {
		t := schnorrkel.NewSigningContext([]byte(sr25519SigningContext), payload)
		sig, err := k.secret.Sign(t)
		if err == nil {
			return sig.Encode()
		}
		lastErr = err
	}
	panic(fmt.Sprintf("types: sr25519 signing failed repeatedly: %v", lastErr))
}

// PublicKey is a decoded sr25519 public key, ready to verify: parsing
// decompresses the Ristretto point A and precomputes a table of small odd
// multiples of -A (curve.ExpandedRistrettoPoint, 4-7% off each single
// verification), together about a fifth of a verification, so callers
// that verify many signatures of one key should parse it once and keep
// the *PublicKey. A parsed key holds 1,664 bytes (TestPublicKeyMemory:
// 384 for the struct with A and -A, 1,280 for the table of 8 points), so
// a cache of a session's 1,000 validator keys takes about 1.6 MiB.
//
// Verification is this package's own (PreparedSignature, BatchVerifier:
// schnorrkel's equations over curve25519-voi's public curve, scalar and
// merlin primitives). It accepts exactly the signatures go-schnorrkel and
// curve25519-voi's sr25519 accept (verify_voi_test.go,
// verify_fast_test.go, FuzzVerifyAgainstVoi); go-schnorrkel is kept for
// key derivation and signing.
// A PublicKey is immutable and safe for concurrent use.
type PublicKey struct {
	raw [32]byte
	a   curve.RistrettoPoint         // A, a dynamic point of batch equations
	neg curve.ExpandedRistrettoPoint // -A with its table, for single checks
	ok  bool                         // false for the zero PublicKey
}

// ParsePublicKey decodes a 32-byte sr25519 public key. It fails (wrapping
// ErrInvalidPublicKey) if b is not the canonical encoding of a Ristretto
// point, or is the identity point: Substrate would accept the identity, but
// its secret is 0, so anybody can sign for it and no honest key is ever it.
// curve25519-voi accepts the identity too, so this check is ours to keep.
func ParsePublicKey(b [32]byte) (*PublicKey, error) {
	if b == ([32]byte{}) {
		return nil, fmt.Errorf("%w: identity point", ErrInvalidPublicKey)
	}
	// Ristretto decompression rejects every non-canonical encoding, so the
	// key's transcript bytes (sign:pk) are exactly b, as in schnorrkel.
	p := &PublicKey{raw: b, ok: true}
	c := curve.CompressedRistretto(b)
	if _, err := p.a.SetCompressed(&c); err != nil {
		return nil, fmt.Errorf("%w: not a canonical ristretto255 encoding: %v", ErrInvalidPublicKey, err)
	}
	var negA curve.RistrettoPoint
	negA.Neg(&p.a)
	p.neg.SetRistrettoPoint(&negA)
	return p, nil
}

// Bytes returns the 32-byte encoding the key was parsed from.
func (p *PublicKey) Bytes() [32]byte { return p.raw }

// Verify reports whether sig is a valid signature of payload under the
// signing context "substrate", with Substrate's rules (sr25519::Pair::verify):
// the schnorrkel marker bit must be set, s must be canonical, and R must be
// the canonical encoding of the recomputed point. Malformed signatures are
// simply invalid; Verify never panics on its inputs.
func (p *PublicKey) Verify(payload []byte, sig [64]byte) bool {
	if p == nil || !p.ok {
		return false
	}
	var ps PreparedSignature
	if ps.prepare(p, payload, &sig) != nil {
		return false
	}
	return ps.check()
}

// CheckSignature is Verify with the reason for a rejection: nil if the
// signature is valid, otherwise an error wrapping ErrInvalidSignature (or
// ErrInvalidPublicKey for a nil/zero PublicKey).
func (p *PublicKey) CheckSignature(payload []byte, sig [64]byte) error {
	if p == nil || !p.ok {
		return fmt.Errorf("%w: nil or zero PublicKey", ErrInvalidPublicKey)
	}
	var ps PreparedSignature
	if err := ps.prepare(p, payload, &sig); err != nil {
		return err
	}
	if !ps.check() {
		return fmt.Errorf("%w: the verification equation does not hold", ErrInvalidSignature)
	}
	return nil
}

// sr25519Context is the merlin transcript of a schnorrkel signing context
// after absorbing Substrate's context "substrate" (schnorrkel's
// signing_context(b"substrate")). Every verification starts from a copy of
// it; it is never written after init, so sharing it is safe.
var sr25519Context = func() merlin.Transcript {
	t := merlin.NewTranscript("SigningContext")
	t.AppendMessage("", []byte(sr25519SigningContext))
	return *t
}()

var sr25519ProtoName = []byte("Schnorr-sig")

// PreparedSignature is one signature with the per-signature part of its
// verification done: s decoded, R decompressed and the challenge k
// computed, about a fifth of a single verification. What is left is one
// multi-scalar multiplication, alone (Verify) or shared with others in a
// batch (BatchVerifier.AddPrepared), which is what lets a caller prepare on
// many goroutines and hand a batch only the equation.
//
// The zero value is an invalid signature. A PreparedSignature holds no
// reference to the payload (only to the key); once prepared it is only
// read, so it is safe for concurrent use.
type PreparedSignature struct {
	key *PublicKey // nil: the zero value
	r   curve.RistrettoPoint
	s   scalar.Scalar
	k   scalar.Scalar
}

// PrepareSignature decodes sig by key over payload (signing context
// "substrate") for Verify or a batch. A nil or zero key, a missing marker
// bit, a non-canonical s or an R that is not a canonical Ristretto encoding
// make it fail with the error CheckSignature would give: such a signature
// can never verify.
func PrepareSignature(key *PublicKey, payload []byte, sig [64]byte) (PreparedSignature, error) {
	var ps PreparedSignature
	err := ps.Prepare(key, payload, &sig)
	return ps, err
}

// Prepare is PrepareSignature into ps, which it overwrites; it is the
// form for a caller that keeps prepared signatures in its own memory.
// On error ps is left invalid (Verify says false, a batch counts it
// invalid).
func (ps *PreparedSignature) Prepare(key *PublicKey, payload []byte, sig *[64]byte) error {
	if key == nil || !key.ok {
		ps.key = nil
		return fmt.Errorf("%w: nil or zero PublicKey", ErrInvalidPublicKey)
	}
	return ps.prepare(key, payload, sig)
}

// prepare is PrepareSignature into ps, for a valid key. On error ps is
// left with a nil key (invalid).
func (ps *PreparedSignature) prepare(key *PublicKey, payload []byte, sig *[64]byte) error {
	ps.key = nil
	sb, err := sigScalarBytes(sig)
	if err != nil {
		return err
	}
	if _, err := ps.s.SetBits(sb[:]); err != nil {
		panic("types: decoding s: " + err.Error()) // only for a wrong length
	}
	// Decompression rejects every non-canonical encoding of R, so the
	// transcript's sign:R bytes are R's only encoding, as in schnorrkel
	// (which compares the recomputed R's encoding with these bytes).
	if !decompressR(&ps.r, sig) {
		return fmt.Errorf("%w: R is not a canonical ristretto255 encoding", ErrInvalidSignature)
	}
	sr25519Challenge(&ps.k, key, payload, sig)
	ps.key = key
	return nil
}

// CheckSignatureForm reports, for a fraction of a microsecond, whether
// sig is malformed in a way no key or payload can mend: the marker bit of
// a schnorrkel 0.8+ signature is missing, or s is not canonical. nil does
// not mean valid (R may still fail to decompress, the equation to hold);
// an error wraps ErrInvalidSignature, as Prepare's would.
func CheckSignatureForm(sig *[64]byte) error {
	_, err := sigScalarBytes(sig)
	return err
}

// sigScalarBytes returns s's bytes from sig after schnorrkel's
// Signature::from_bytes checks: the marker bit tells a 0.8+ signature
// from the older "deprecated" form, which Substrate's verify rejects; s
// must be canonical (below the group order).
func sigScalarBytes(sig *[64]byte) (sb [32]byte, err error) {
	if sig[63]&0x80 == 0 {
		return sb, fmt.Errorf("%w: malformed: marker bit not set (not a schnorrkel 0.8+ signature)", ErrInvalidSignature)
	}
	copy(sb[:], sig[32:])
	sb[31] &= 0x7f
	// ScMinimalVartime is the exact s < l test (what SetCanonicalBytes
	// checks by reducing s, at a tenth of a verification's cost); below l,
	// the bits are the scalar.
	if !scalar.ScMinimalVartime(sb[:]) {
		return sb, fmt.Errorf("%w: malformed: non-canonical s", ErrInvalidSignature)
	}
	return sb, nil
}

// decompressR and sr25519Challenge are separate (and not inlined) so that
// their large frames are never on the stack together: a caller may
// prepare on fresh goroutines, whose stacks are small and costly to grow.
//
//go:noinline
func decompressR(r *curve.RistrettoPoint, sig *[64]byte) bool {
	rc := curve.CompressedRistretto(sig[:32])
	_, err := r.SetCompressed(&rc)
	return err == nil
}

// sr25519Challenge sets k to the challenge H(context, payload,
// "Schnorr-sig", A, R) exactly as schnorrkel's verify derives it.
//
//go:noinline
func sr25519Challenge(k *scalar.Scalar, key *PublicKey, payload []byte, sig *[64]byte) {
	t := sr25519Context
	t.AppendMessage("sign-bytes", payload)
	t.AppendMessage("proto-name", sr25519ProtoName)
	t.AppendMessage("sign:pk", key.raw[:])
	t.AppendMessage("sign:R", sig[:32])
	var wide [scalar.ScalarWideSize]byte
	t.ExtractBytes(wide[:], "sign:c")
	if _, err := k.SetBytesModOrderWide(wide[:]); err != nil {
		panic("types: reducing a 64-byte challenge: " + err.Error()) // only for a wrong length
	}
}

// Verify reports whether the prepared signature is valid, exactly as
// PublicKey.Verify on its key, payload and signature would: whether
// [s]B - [k]A - R is the identity. It runs the single-signature
// multiplication with the key's precomputed table of -A.
func (ps *PreparedSignature) Verify() bool {
	return ps.key != nil && ps.check()
}

// check evaluates [k](-A) + [s]B - R == identity for a prepared ps (voi's
// sr25519 Verify, with -A's table from the key). The multiplication
// returns that point times an invertible delta it picks, which changes
// nothing for an identity test.
func (ps *PreparedSignature) check() bool {
	var d curve.RistrettoPoint
	return d.ExpandedTripleScalarMulBasepointVartime(&ps.k, &ps.key.neg, &ps.s, &ps.r).IsIdentity()
}

// VerifySr25519 verifies sig over payload under the raw public key pub. It
// parses pub on every call; use ParsePublicKey and PublicKey.Verify when the
// same key verifies many signatures. An invalid key makes it return false.
func VerifySr25519(pub [32]byte, payload []byte, sig [64]byte) bool {
	p, err := ParsePublicKey(pub)
	if err != nil {
		return false
	}
	return p.Verify(payload, sig)
}

// sr25519KeypairFromMini expands a mini secret in Ed25519 mode (schnorrkel
// ExpansionMode::Ed25519), the mode Substrate uses for all sr25519 seeds.
func sr25519KeypairFromMini(mini [32]byte) (*Keypair, error) {
	sk, err := sr25519ExpandMini(mini)
	if err != nil {
		return nil, err
	}
	return sr25519KeypairFromSecret(sk)
}

// sr25519ExpandMini is schnorrkel's MiniSecretKey::expand(Ed25519): SHA-512
// of the seed, clamped like Ed25519, divided by the cofactor, plus a nonce.
func sr25519ExpandMini(mini [32]byte) (*schnorrkel.SecretKey, error) {
	msk, err := schnorrkel.NewMiniSecretKeyFromRaw(mini)
	if err != nil {
		return nil, fmt.Errorf("sr25519: mini secret: %w", err)
	}
	return msk.ExpandEd25519(), nil
}

func sr25519KeypairFromSecret(sk *schnorrkel.SecretKey) (*Keypair, error) {
	pub, err := sk.Public()
	if err != nil {
		// Only possible for a non-canonical scalar, which Ed25519 expansion
		// and derivation never produce.
		return nil, fmt.Errorf("sr25519: computing public key: %w", err)
	}
	return &Keypair{secret: sk, pub: pub, public: pub.Encode()}, nil
}

// sr25519MiniSecretFromPhrase implements substrate-bip39's
// mini_secret_from_entropy: unlike standard BIP-39 (which stretches the
// phrase text), Substrate stretches the phrase's entropy, so wallets that use
// the BIP-39 seed would derive a different key.
func sr25519MiniSecretFromPhrase(phrase, password string) ([32]byte, error) {
	entropy, err := sr25519MnemonicEntropy(phrase)
	if err != nil {
		return [32]byte{}, err
	}
	out, err := pbkdf2.Key(sha512.New, string(entropy), []byte("mnemonic"+password), 2048, 64)
	if err != nil {
		// Only reachable when FIPS 140-only mode forbids these parameters.
		return [32]byte{}, fmt.Errorf("sr25519: pbkdf2: %w", err)
	}
	var mini [32]byte
	copy(mini[:], out[:32])
	return mini, nil
}

// sr25519MnemonicEntropy decodes an English BIP-39 phrase into its entropy,
// checking word count, vocabulary and checksum as rust-bip39's parse_in does.
func sr25519MnemonicEntropy(phrase string) ([]byte, error) {
	words := strings.Fields(phrase)
	n := len(words)
	if n < 12 || n > 24 || n%3 != 0 {
		return nil, fmt.Errorf("%w: phrase has %d words, want 12, 15, 18, 21 or 24", ErrInvalidSecretURI, n)
	}
	list := bip39.EnglishWordList
	// 11 bits per word: n*32/3 bits of entropy followed by n/3 checksum bits.
	buf := make([]byte, (n*11+7)/8)
	bit := 0
	for i, w := range words {
		idx := sort.SearchStrings(list, w)
		if idx >= len(list) || list[idx] != w {
			return nil, fmt.Errorf("%w: phrase word %d is not in the BIP-39 English list", ErrInvalidSecretURI, i+1)
		}
		for b := 10; b >= 0; b-- {
			if idx>>b&1 == 1 {
				buf[bit/8] |= 0x80 >> (bit % 8)
			}
			bit++
		}
	}
	entLen := n * 32 / 3 / 8
	csBits := n / 3
	entropy := buf[:entLen]
	sum := sha256.Sum256(entropy)
	if buf[entLen]>>(8-csBits) != sum[0]>>(8-csBits) {
		return nil, fmt.Errorf("%w: phrase checksum mismatch", ErrInvalidSecretURI)
	}
	return entropy, nil
}

// sr25519URI is a parsed secret URI.
type sr25519URI struct {
	phrase    string // DevPhrase when the URI has none
	junctions []sr25519Junction
	password  string // "" and absent are equivalent for key derivation
}

// sr25519Junction is one derivation step with its 32-byte chain code.
type sr25519Junction struct {
	hard bool
	cc   [32]byte
}

// parseSecretURI splits a secret URI the way sp_core's AddressUri::parse
// does (which replaced the regex
// ^([a-zA-Z0-9 ]+)?((//?[^/]+)*)(///(.*))?$): the phrase is the longest
// prefix of ASCII letters, digits and spaces; then come "/"- or
// "//"-prefixed non-empty junctions; "///" starts the password, which runs to
// the end and may not contain a newline.
func parseSecretURI(s string) (sr25519URI, error) {
	u := sr25519URI{phrase: DevPhrase}
	i := 0
	for i < len(s) && isSecretPhraseByte(s[i]) {
		i++
	}
	if i > 0 {
		u.phrase = s[:i]
	}
	rest := s[i:]
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "///"):
			pw := rest[3:]
			if strings.IndexByte(pw, '\n') >= 0 {
				return sr25519URI{}, fmt.Errorf("%w: newline in password", ErrInvalidSecretURI)
			}
			u.password = pw
			rest = ""
		case strings.HasPrefix(rest, "/"):
			hard := strings.HasPrefix(rest, "//")
			body := rest[1:]
			if hard {
				body = rest[2:]
			}
			end := strings.IndexByte(body, '/')
			if end < 0 {
				end = len(body)
			}
			if end == 0 {
				return sr25519URI{}, fmt.Errorf("%w: empty derivation junction %d", ErrInvalidSecretURI, len(u.junctions)+1)
			}
			u.junctions = append(u.junctions, sr25519Junction{hard: hard, cc: sr25519ChainCode(body[:end])})
			rest = body[end:]
		default:
			return sr25519URI{}, fmt.Errorf("%w: invalid character in phrase (allowed: ASCII letters, digits, spaces)", ErrInvalidSecretURI)
		}
	}
	return u, nil
}

func isSecretPhraseByte(c byte) bool {
	return c == ' ' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// sr25519ChainCode is sp_core's DeriveJunction::from(&str): a junction that
// parses as a Rust u64 is its 8-byte little-endian encoding, anything else
// is SCALE(string) (compact length ++ UTF-8 bytes). The encoding is
// zero-padded to 32 bytes, or replaced by its blake2b-256 if longer.
func sr25519ChainCode(code string) [32]byte {
	var enc []byte
	if n, ok := parseRustU64(code); ok {
		enc = binary.LittleEndian.AppendUint64(nil, n)
	} else {
		enc = codec.AppendCompact(make([]byte, 0, len(code)+5), uint64(len(code)))
		enc = append(enc, code...)
	}
	if len(enc) > 32 {
		return blake2b.Sum256(enc)
	}
	var cc [32]byte
	copy(cc[:], enc)
	return cc
}

// parseRustU64 mirrors Rust's u64::from_str, which (unlike Go's ParseUint)
// accepts a single leading '+'; leading zeros are fine in both.
func parseRustU64(s string) (uint64, bool) {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// derive applies one junction the way sp_core::sr25519::Pair::derive does.
// Hard: schnorrkel's hard_derive_mini_secret_key (a merlin transcript over
// the chain code and the secret scalar, empty index) yields a new mini
// secret, expanded in Ed25519 mode; its output chain code is discarded.
// Soft: schnorrkel's derived_key_simple (secret + H(chain code, public key)),
// which keeps the derived public key computable from the parent public key.
func (j sr25519Junction) derive(sk *schnorrkel.SecretKey) (*schnorrkel.SecretKey, error) {
	if j.hard {
		mini, _, err := sk.HardDeriveMiniSecretKey([]byte{}, j.cc)
		if err != nil {
			return nil, err
		}
		return mini.ExpandEd25519(), nil
	}
	ek, err := schnorrkel.DeriveKeySimple(sk, []byte{}, j.cc)
	if err != nil {
		return nil, err
	}
	return ek.Secret()
}
