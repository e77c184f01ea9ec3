package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/polkadot-provisioner/provisioner/types"
)

const verifyUsage = `Usage: provisioner verify signed-bitfield --public-key KEY --session N --parent-hash HEX [FILE]

Reads a signed availability bitfield (UncheckedSigned<AvailabilityBitfield>)
as hex (0x optional, whitespace ignored) from FILE, or from stdin when FILE is
absent or "-", and checks its sr25519 signature (signing context "substrate")
over SCALE(bitfield) ++ SCALE(SigningContext{session, parent hash}).
Prints "valid" and exits 0 when the signature checks; otherwise exits 1 with
the reason on stderr.

Flags (they may also follow FILE):
  --public-key KEY   the validator's sr25519 public key: 32 bytes of hex
                     (0x optional) or an SS58 address
  --session N        the session index of the signing context
  --parent-hash HEX  the relay parent of the signing context (32 bytes)
` + exitStatusText

func runVerify(e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keyArg := fs.String("public-key", "", "")
	sessionArg := fs.String("session", "", "")
	parentArg := fs.String("parent-hash", "", "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing what to verify (signed-bitfield)")
	}
	if pos[0] != "signed-bitfield" {
		return usagef("cannot verify %q: only signed-bitfield is supported", pos[0])
	}
	if len(pos) > 2 {
		return usagef("too many arguments: want signed-bitfield [FILE], got %d arguments", len(pos))
	}
	for _, f := range []struct{ name, val string }{
		{"--public-key", *keyArg}, {"--session", *sessionArg}, {"--parent-hash", *parentArg},
	} {
		if f.val == "" {
			return usagef("missing %s (see provisioner help verify)", f.name)
		}
	}
	pub, err := parsePublicKeyArg(*keyArg)
	if err != nil {
		return err
	}
	session, err := strconv.ParseUint(*sessionArg, 10, 32)
	if err != nil {
		return usagef("--session %q: not a u32 session index", *sessionArg)
	}
	parent, err := parseHash32("--parent-hash", *parentArg)
	if err != nil {
		return err
	}
	file := ""
	if len(pos) == 2 {
		file = pos[1]
	}

	raw, err := readHex(e, file)
	if err != nil {
		return err
	}
	v, err := decodeExact(lookupType("signed-bitfield"), raw)
	if err != nil {
		return err
	}
	bf := v.(*types.UncheckedSignedAvailabilityBitfield)

	// A well-formed key that is not a curve point cannot have signed
	// anything: that is a failed verification, not a usage error.
	key, err := types.ParsePublicKey(pub)
	if err != nil {
		return fmt.Errorf("signature invalid: %w", err)
	}
	ctx := types.SigningContext{SessionIndex: uint32(session), ParentHash: parent}
	if !bf.Verify(key, ctx) {
		// Verify only says no; CheckSignature says why (malformed
		// signature or failed equation).
		reason := key.CheckSignature(types.BitfieldSigningPayload(bf.Payload, ctx), bf.Signature)
		if reason == nil {
			reason = types.ErrBadSignature
		}
		return fmt.Errorf("signature invalid: bitfield of validator %d, session %d, parent %s: %w",
			bf.ValidatorIndex, session, parent, reason)
	}
	_, err = fmt.Fprintln(e.stdout, "valid")
	return err
}

// parsePublicKeyArg reads a public key given as 32 bytes of hex or as an
// SS58 address (what block explorers and polkadot-js show).
func parsePublicKeyArg(s string) ([32]byte, error) {
	b, hexErr := parseHex([]byte(s))
	if hexErr == nil {
		if len(b) != 32 {
			return [32]byte{}, usagef("--public-key: %d bytes, want 32", len(b))
		}
		return [32]byte(b), nil
	}
	if pub, _, err := types.SS58Decode(s); err == nil {
		return pub, nil
	}
	return [32]byte{}, usagef("--public-key %q: neither 32 bytes of hex nor an SS58 address", s)
}

func parseHash32(flagName, s string) (types.Hash, error) {
	b, err := parseHex([]byte(s))
	if err != nil {
		return types.Hash{}, usagef("%s %q: not hex", flagName, s)
	}
	if len(b) != 32 {
		return types.Hash{}, usagef("%s: %d bytes, want 32", flagName, len(b))
	}
	return types.Hash(b), nil
}
