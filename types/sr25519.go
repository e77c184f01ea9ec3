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
	voisr "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
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

// PublicKey is a decoded sr25519 public key. Parsing (Ristretto point
// decompression) costs about a third of a verification, so callers that
// verify many signatures of one key should parse it once and keep the
// *PublicKey: it caches the decompressed point and the "substrate" signing
// context. Verification uses curve25519-voi, about twice as fast as
// go-schnorrkel (which the package keeps for key derivation and signing);
// both implement schnorrkel 0.8+ verification and accept exactly the same
// signatures (see verify_voi_test.go).
// A PublicKey is immutable and safe for concurrent use.
type PublicKey struct {
	pk *voisr.PublicKey
	// ctx is the merlin transcript after absorbing the signing context.
	// Each verification clones it (0.25 us) instead of building it again
	// (1 us, 3% of a verification). It is only ever read, so sharing it
	// between goroutines is safe.
	ctx *voisr.SigningContext
	raw [32]byte
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
	pk, err := voisr.NewPublicKeyFromBytes(b[:])
	if err != nil {
		return nil, fmt.Errorf("%w: not a canonical ristretto255 encoding: %v", ErrInvalidPublicKey, err)
	}
	return &PublicKey{pk: pk, ctx: voisr.NewSigningContext([]byte(sr25519SigningContext)), raw: b}, nil
}

// Bytes returns the 32-byte encoding the key was parsed from.
func (p *PublicKey) Bytes() [32]byte { return p.raw }

// Verify reports whether sig is a valid signature of payload under the
// signing context "substrate", with Substrate's rules (sr25519::Pair::verify):
// the schnorrkel marker bit must be set, s must be canonical, and R must be
// the canonical encoding of the recomputed point. Malformed signatures are
// simply invalid; Verify never panics on its inputs.
func (p *PublicKey) Verify(payload []byte, sig [64]byte) bool {
	return p.CheckSignature(payload, sig) == nil
}

// CheckSignature is Verify with the reason for a rejection: nil if the
// signature is valid, otherwise an error wrapping ErrInvalidSignature (or
// ErrInvalidPublicKey for a nil/zero PublicKey).
func (p *PublicKey) CheckSignature(payload []byte, sig [64]byte) error {
	if p == nil || p.pk == nil {
		return fmt.Errorf("%w: nil or zero PublicKey", ErrInvalidPublicKey)
	}
	s, err := decodeSr25519Signature(sig)
	if err != nil {
		return err
	}
	// voi's Verify decompresses R (rejecting a non-canonical encoding) and
	// checks R = [s]B - [k]A; a bad R and a wrong equation both land here.
	if !p.pk.Verify(p.ctx.NewTranscriptBytes(payload), s) {
		return fmt.Errorf("%w: R is not canonical or the verification equation does not hold", ErrInvalidSignature)
	}
	return nil
}

// decodeSr25519Signature parses a 64-byte signature the way schnorrkel's
// Signature::from_bytes does: it rejects signatures without the marker bit
// (pre-0.8 schnorrkel "deprecated" signatures, which Substrate's verify also
// rejects) and a non-canonical s. R is only decompressed when verifying.
func decodeSr25519Signature(sig [64]byte) (*voisr.Signature, error) {
	s, err := voisr.NewSignatureFromBytes(sig[:])
	if err != nil {
		return nil, fmt.Errorf("%w: malformed: %v", ErrInvalidSignature, err)
	}
	return s, nil
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
