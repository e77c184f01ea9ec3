// Command blockbuilder fetches the parachains inherent for a relay parent
// from a provisioner node over the inherent protocol, as a relay-chain block
// author would, and prints or writes it.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/p2p/inherentclient"
	"github.com/polkadot-provisioner/provisioner/types"
)

const usage = `blockbuilder: fetch the parachains inherent from a provisioner node

Usage: blockbuilder --node MULTIADDR --genesis HEX --relay-parent HEX|best [flags]

  --node MULTIADDR      the node, e.g. /ip4/127.0.0.1/tcp/30333/p2p/12D3KooW...
  --genesis HEX         the network's genesis hash (testnet prints it)
  --relay-parent R      hash of the block to build on (an active leaf of the
                        node), or best: the node's best leaf (the relay
                        parent it chose is printed on stderr). Default: the
                        hash of --parent-header when that is given
  --parent-header HEX   SCALE-encoded header of the relay parent, for
                        --fallback-empty when the node cannot send it
  --fallback-empty      on any error or past --timeout, write the empty
                        inherent (no bitfields, candidates or disputes) on
                        the real parent header, warn on stderr, exit 0, as
                        Polkadot's ParachainsInherentDataProvider does
  --format F            scale (hex of the ParaInherentData, default), json,
                        map (hex of the sp_inherents InherentData map holding
                        parachn0), or extrinsic (hex of paraInherent.enter)
  --extrinsic-version N 4 (unsigned) or 5 (bare, default) for --format extrinsic
  --pallet N            paraInherent pallet index (default 54, Polkadot/Kusama)
  --timeout DUR         give up after DUR (default 2.5s, Polkadot's builder deadline)
  --base-path DIR       the node's base path: use its builder key,
                        DIR/builder/secret_ed25519 (the node creates it at start
                        and serves only its builders), as this builder's
                        identity. Without it the identity is ephemeral, and a
                        node started with the node command will not serve it
                        unless given --builder-peer with its id
  --out FILE            write to FILE instead of stdout
  --version             print the version and exit

The parent header of the empty inherent is, in this order: the header the
node sent with its error (it knows the block), else --parent-header. With
neither (the node is unreachable, or does not know the block, and no
--parent-header was given) there is no real parent to build on: that is an
error (exit 1), never an inherent on a made-up header.

Exit status: 0 on success (also when --fallback-empty wrote the empty
inherent), 1 when the node refuses or does not answer in time (without
--fallback-empty) or no parent header is available, 2 on usage errors.
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

func parseHeader(s string) (*types.Header, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	h := new(types.Header)
	if err := types.DecodeOwned(b, h, codec.DefaultLimits); err != nil {
		return nil, err
	}
	return h, nil
}

// oneLine keeps a reason on one line of stderr: remote error messages are
// peer bytes and may hold anything.
func oneLine(err error) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("blockbuilder", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	node := fs.String("node", "", "")
	genesis := fs.String("genesis", "", "")
	relay := fs.String("relay-parent", "", "")
	parentHex := fs.String("parent-header", "", "")
	fallback := fs.Bool("fallback-empty", false, "")
	format := fs.String("format", "scale", "")
	version := fs.Int("extrinsic-version", 5, "")
	pallet := fs.Int("pallet", types.ParaInherentPalletIndex, "")
	timeout := fs.Duration("timeout", inherentclient.DefaultTimeout, "")
	out := fs.String("out", "", "")
	basePath := fs.String("base-path", "", "")
	showVersion := fs.Bool("version", false, "")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "blockbuilder: "+format+"\n", a...)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return fail(2, "%v (see blockbuilder -h)", err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, buildinfo.Line("blockbuilder"))
		return 0
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q (see blockbuilder -h)", fs.Arg(0))
	}
	var flagParent *types.Header
	if *parentHex != "" {
		h, err := parseHeader(*parentHex)
		if err != nil {
			return fail(2, "--parent-header: %v", err)
		}
		flagParent = h
		if *relay == "" {
			*relay = h.Hash().String()
		}
	}
	if *node == "" || *genesis == "" || *relay == "" {
		return fail(2, "--node, --genesis and --relay-parent are required (see blockbuilder -h)")
	}
	g, err := parseHash(*genesis)
	if err != nil {
		return fail(2, "--genesis: %v", err)
	}
	// The zero hash asks the node for its best leaf (see p2p.InherentRequest).
	var rp types.Hash
	if *relay != "best" {
		if rp, err = parseHash(*relay); err != nil {
			return fail(2, "--relay-parent: %v (or best)", err)
		}
		if rp.IsZero() {
			return fail(2, "--relay-parent: the zero hash is no block; use best for the node's best leaf")
		}
		if flagParent != nil && flagParent.Hash() != rp {
			return fail(2, "--parent-header hashes to %s, not --relay-parent %s", flagParent.Hash(), rp)
		}
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
	if *timeout <= 0 {
		return fail(2, "--timeout must be positive")
	}
	switch *format {
	case "scale", "json", "map", "extrinsic":
	default:
		return fail(2, "--format %q: want scale, json, map or extrinsic", *format)
	}

	start := time.Now()
	var key crypto.PrivKey
	if *basePath != "" {
		// Load only: a key the node never created is one it does not allow.
		path := filepath.Join(*basePath, filepath.FromSlash(p2p.BuilderIdentityFile))
		if key, err = p2p.LoadNodeKeyFile(path); err != nil {
			return fail(2, "--base-path: %v (start the node with this base path first)", err)
		}
	}
	ans, err := fetch(*ai, g, rp, *timeout, *fallback, key)
	elapsed := time.Since(start)
	data, m := ans.Data, ans.Map
	fellBack := false
	if err != nil {
		if !*fallback {
			return fail(1, "%s", oneLine(err))
		}
		parent := ans.Parent
		if parent == nil {
			parent = flagParent
		}
		if parent == nil {
			return fail(1, "no parent header for the empty inherent (%s); pass --parent-header HEX", oneLine(err))
		}
		data = inherentclient.EmptyInherent(parent)
		m = types.NewParachainsInherentDataMap(data)
		fellBack = true
		fmt.Fprintf(stderr, "blockbuilder: warning: empty inherent on #%d %s: %s\n",
			parent.Number, parent.Hash(), oneLine(err))
	}
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
	if !fellBack {
		fmt.Fprintf(stderr, "blockbuilder: relay parent #%d %s: %d bitfields, %d backed candidates, %d dispute sets, %d bytes in %s\n",
			data.ParentHeader.Number, data.ParentHeader.Hash(), len(data.Bitfields), len(data.BackedCandidates),
			len(data.Disputes), data.EncodedSize(), elapsed.Round(time.Microsecond))
	}
	return 0
}

// fetch dials the node and asks it for the inherent, all within timeout.
// With fallback it asks for the parent header along with any error
// (inherentclient.Fetch); without, it sends the protocol's first request
// form, which every node version answers.
func fetch(ai peer.AddrInfo, g, rp types.Hash, timeout time.Duration, fallback bool, key crypto.PrivKey) (inherentclient.Answer, error) {
	opts := []libp2p.Option{libp2p.NoListenAddrs, libp2p.DisableRelay()}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return inherentclient.Answer{}, fmt.Errorf("libp2p: %w", err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return inherentclient.Answer{}, fmt.Errorf("connect to %s: %w", ai.ID, err)
	}
	c := inherentclient.New(h, g, inherentclient.WithTimeout(timeout))
	if fallback {
		return c.Fetch(ctx, ai.ID, rp)
	}
	data, m, err := c.Request(ctx, ai.ID, rp)
	a := inherentclient.Answer{Data: data, Map: m}
	if data != nil {
		a.Parent = &data.ParentHeader
	}
	return a, err
}
