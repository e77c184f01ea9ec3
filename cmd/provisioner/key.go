package main

import (
	"bufio"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/polkadot-provisioner/provisioner/types"
)

const keyUsage = `Usage: provisioner key inspect [--network-prefix N] URI

Derives the sr25519 key of a Substrate secret URI, as subkey and every
Substrate tool do, and prints its public key as hex and as an SS58 address:

  [PHRASE | 0xSEED][/soft | //hard ...][///password]

A URI without a phrase uses the public development phrase, so //Alice is
Alice's well-known key. URI "-" reads the URI from the first line of stdin,
which keeps a real secret out of the process list and shell history. The
secret itself is never printed.

Flags:
  --network-prefix N  SS58 network prefix of the address (0 Polkadot,
                      2 Kusama, 42 generic Substrate; default 42)
` + exitStatusText

func runKey(e *env, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand (inspect)")
	}
	switch args[0] {
	case "inspect":
		return runKeyInspect(e, args[1:])
	case "-h", "-help", "--help":
		return errHelp
	}
	return usagef("unknown subcommand %q (inspect)", args[0])
}

func runKeyInspect(e *env, args []string) error {
	fs := flag.NewFlagSet("key inspect", flag.ContinueOnError)
	prefixArg := fs.String("network-prefix", "42", "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one URI, got %d arguments (see provisioner help key)", len(pos))
	}
	// SS58 has 14 bits for the prefix; SS58Encode would silently drop the
	// rest, so refuse it here instead.
	prefix, err := strconv.ParseUint(*prefixArg, 10, 14)
	if err != nil {
		return usagef("--network-prefix %q: want an integer from 0 to 16383", *prefixArg)
	}
	uri := pos[0]
	if uri == "-" {
		if uri, err = readURILine(e); err != nil {
			return err
		}
	}
	kp, err := types.KeypairFromURI(uri)
	if err != nil {
		return err // never echoes the secret (see types.ErrInvalidSecretURI)
	}
	pub := kp.Public()
	_, err = fmt.Fprintf(e.stdout, "Public key (hex):  %s\nPublic key (SS58): %s\nNetwork prefix:    %d\n",
		types.Hash(pub), types.SS58Encode(pub, uint16(prefix)), prefix)
	return err
}

// readURILine reads one line (a URI is short; 4 KiB is generous) from stdin.
func readURILine(e *env) (string, error) {
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 0, 256), 4096)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("read URI from stdin: %w", err)
		}
		return "", fmt.Errorf("read URI from stdin: no input")
	}
	return strings.TrimSpace(sc.Text()), nil
}
