// Command blockbuilder fetches the parachains inherent for a relay parent
// from a provisioner node over the inherent protocol, as a relay-chain block
// author would, and prints or writes it.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/polkadot-provisioner/provisioner/p2p/inherentclient"
	"github.com/polkadot-provisioner/provisioner/types"
)

const usage = `blockbuilder: fetch the parachains inherent from a provisioner node

Usage: blockbuilder --node MULTIADDR --genesis HEX --relay-parent HEX [flags]

  --node MULTIADDR      the node, e.g. /ip4/127.0.0.1/tcp/30333/p2p/12D3KooW...
  --genesis HEX         the network's genesis hash (testnet prints it)
  --relay-parent HEX    hash of the block to build on (an active leaf of the node)
  --format F            scale (hex of the ParaInherentData, default), json,
                        map (hex of the sp_inherents InherentData map holding
                        parachn0), or extrinsic (hex of paraInherent.enter)
  --extrinsic-version N 4 (unsigned) or 5 (bare, default) for --format extrinsic
  --pallet N            paraInherent pallet index (default 54, Polkadot/Kusama)
  --timeout DUR         give up after DUR (default 2.5s, Polkadot's builder deadline)
  --out FILE            write to FILE instead of stdout

Exit status: 0 on success, 1 when the node refuses or does not answer in
time, 2 on usage errors.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func parseHash(s string) (types.Hash, error) {
	var h types.Hash
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("%q is not a 32-byte hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("blockbuilder", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	node := fs.String("node", "", "")
	genesis := fs.String("genesis", "", "")
	relay := fs.String("relay-parent", "", "")
	format := fs.String("format", "scale", "")
	version := fs.Int("extrinsic-version", 5, "")
	pallet := fs.Int("pallet", types.ParaInherentPalletIndex, "")
	timeout := fs.Duration("timeout", 2500*time.Millisecond, "")
	out := fs.String("out", "", "")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "blockbuilder: "+format+"\n", a...)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return fail(2, "%v (see blockbuilder -h)", err)
	}
	if *node == "" || *genesis == "" || *relay == "" {
		return fail(2, "--node, --genesis and --relay-parent are required (see blockbuilder -h)")
	}
	g, err := parseHash(*genesis)
	if err != nil {
		return fail(2, "--genesis: %v", err)
	}
	rp, err := parseHash(*relay)
	if err != nil {
		return fail(2, "--relay-parent: %v", err)
	}
	addr, err := ma.NewMultiaddr(*node)
	if err != nil {
		return fail(2, "--node: %v", err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return fail(2, "--node: %v (it must end in /p2p/<peer id>)", err)
	}
	if *version != 4 && *version != 5 {
		return fail(2, "--extrinsic-version must be 4 or 5")
	}
	switch *format {
	case "scale", "json", "map", "extrinsic":
	default:
		return fail(2, "--format %q: want scale, json, map or extrinsic", *format)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		return fail(1, "libp2p: %v", err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		return fail(1, "connect to %s: %v", ai.ID, err)
	}
	start := time.Now()
	data, m, err := inherentclient.New(h, g, inherentclient.WithTimeout(*timeout)).Request(ctx, ai.ID, rp)
	if err != nil {
		return fail(1, "%v", err)
	}
	elapsed := time.Since(start)
	var output []byte
	switch *format {
	case "scale":
		output = []byte("0x" + hex.EncodeToString(types.Encode(data)) + "\n")
	case "map":
		output = []byte("0x" + hex.EncodeToString(types.Encode(&m)) + "\n")
	case "extrinsic":
		x := types.ParaInherentExtrinsic{Version: uint8(*version), PalletIndex: uint8(*pallet), Data: *data}
		output = []byte("0x" + hex.EncodeToString(types.Encode(&x)) + "\n")
	case "json":
		if output, err = json.MarshalIndent(data, "", "  "); err != nil {
			return fail(1, "json: %v", err)
		}
		output = append(output, '\n')
	}
	if *out != "" {
		if err := os.WriteFile(*out, output, 0o644); err != nil {
			return fail(1, "%v", err)
		}
	} else if _, err := stdout.Write(output); err != nil {
		return fail(1, "%v", err)
	}
	fmt.Fprintf(stderr, "blockbuilder: %d bitfields, %d backed candidates, %d dispute sets, %d bytes in %s\n",
		len(data.Bitfields), len(data.BackedCandidates), len(data.Disputes), data.EncodedSize(), elapsed.Round(time.Microsecond))
	return 0
}
