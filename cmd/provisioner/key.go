package main

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

const keyUsage = `Usage: provisioner key inspect [--network-prefix N] URI
       provisioner key generate-node-key [--file FILE] [--bin]
       provisioner key inspect-node-key [--file FILE] [--bin]

key inspect:

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

key generate-node-key, as polkadot's: draws a new libp2p ed25519 node key,
prints its peer id on stderr and writes the secret as 64 hex characters
(raw 32 bytes with --bin) to FILE (created with mode 0600; an existing file
is never overwritten) or, without --file, to stdout. The file works as
--node-key-file and as <base-path>/network/secret_ed25519.

key inspect-node-key, as polkadot's: prints the peer id of the node key in
FILE (or stdin): 64 hex characters (a trailing newline is fine) or 32 raw
bytes. --bin is accepted for polkadot compatibility; both forms are read
either way.
` + exitStatusText

func runKey(e *env, args []string) error {
	const subcommands = "inspect, generate-node-key, inspect-node-key"
	if len(args) == 0 {
		return usagef("missing subcommand (%s)", subcommands)
	}
	switch args[0] {
	case "inspect":
		return runKeyInspect(e, args[1:])
	case "generate-node-key":
		return runGenerateNodeKey(e, args[1:])
	case "inspect-node-key":
		return runInspectNodeKey(e, args[1:])
	case "-h", "-help", "--help":
		return errHelp
	}
	return usagef("unknown subcommand %q (%s)", args[0], subcommands)
}

func runGenerateNodeKey(e *env, args []string) error {
	fs := flag.NewFlagSet("key generate-node-key", flag.ContinueOnError)
	file := fs.String("file", "", "")
	bin := fs.Bool("bin", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (see provisioner help key)", pos[0])
	}
	k, secretHex, err := p2p.GenerateNodeKey()
	if err != nil {
		return err
	}
	id, err := p2p.NodeKeyPeerID(k)
	if err != nil {
		return err
	}
	data := []byte(secretHex)
	if *bin {
		data, _ = hex.DecodeString(secretHex)
	}
	if *file == "" {
		// Like polkadot: the bare secret, no newline, so that
		// `provisioner key generate-node-key > key` is a valid key file.
		if _, err := e.stdout.Write(data); err != nil {
			return fmt.Errorf("write node key: %w", err)
		}
	} else if err := writeNewFile(*file, data); err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stderr, id)
	return err
}

// writeNewFile creates path with mode 0600 and data; an existing file is
// an error, since overwriting a node key changes a node's identity for
// good.
func writeNewFile(path string, data []byte) error {
	// The usual target is <base-path>/network/secret_ed25519 of a node
	// that has not run yet, so create its directories (private, as the
	// node itself does).
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write node key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write node key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write node key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write node key: %w", err)
	}
	return nil
}

func runInspectNodeKey(e *env, args []string) error {
	fs := flag.NewFlagSet("key inspect-node-key", flag.ContinueOnError)
	file := fs.String("file", "", "")
	_ = fs.Bool("bin", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (see provisioner help key)", pos[0])
	}
	var k crypto.PrivKey
	if *file != "" {
		k, err = p2p.LoadNodeKeyFile(*file)
	} else {
		// A key is 64 characters; read a little more to tell a too-long input.
		var b []byte
		b, err = io.ReadAll(io.LimitReader(e.stdin, 4096))
		if err == nil {
			k, err = p2p.ParseNodeKeyBytes(b)
		}
	}
	if err != nil {
		return err
	}
	id, err := p2p.NodeKeyPeerID(k)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, id)
	return err
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
