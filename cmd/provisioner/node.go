package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/testnet"
)

var log = logging.Logger("node")

const nodeUsage = `Usage: provisioner node --chain FILE --validator N [flags]
       provisioner node --chain FILE --validators LIST [flags]

Runs one validator node of a testnet: joins the network named by the chain
spec's genesis, gossips and validates signed bitfields, backed candidates,
disputes and misbehaviour reports, runs the provisioner, serves the
inherent protocol to block builders, and authors blocks in its slots. It
logs a status line every 5 s and, with --metrics or --prometheus-port,
serves /metrics, /health, /peers and /leaves over HTTP. Stops cleanly on
SIGINT or SIGTERM. A listen or metrics address already in use is an error.

Flags (Polkadot's names are accepted where they exist):
  --chain FILE            chain spec (genesis) JSON written by testnet (required)
  --validator N           this node's validator index (-1: follow the chain only)
  --validators LIST       the validator indices this node hosts, e.g. 0-9,20
                          (instead of --validator; at most 1024): it signs for
                          each, authors each one's slots and proves each key
                          to its peers, over one network identity
  --key URI               secret URI of the validator key (default: the dev URI
                          of the index, //Alice, //Bob, ... //Validator<N>)
  --name NAME             node name, shown in logs, /health and
                          substrate_build_info (default validator-N or observer)
  --base-path DIR         node data: network key in DIR/network/secret_ed25519
                          (32 raw bytes or 64 hex; created if missing;
                          default: an ephemeral key)
  --node-key HEX          network key as 64 hex characters (overrides --base-path)
  --node-key-file FILE    network key file (32 raw bytes or 64 hex)
  --listen ADDRS          comma-separated multiaddrs (default /ip4/0.0.0.0/tcp/30333)
  --port N                listen on TCP port N of every interface (instead of --listen)
  --bootnodes ADDRS       comma-separated multiaddrs ending in /p2p/<peer id>
  --metrics ADDR          serve metrics and status on ADDR (e.g. 127.0.0.1:9615)
  --prometheus-port N     the same on 127.0.0.1:N (instead of --metrics)
  --prometheus-external   with --prometheus-port: listen on 0.0.0.0 (default port 9615)
  --pprof                 also serve /debug/pprof/ on the metrics address
  --pre-propose DUR       hold inherent requests this long after a leaf (default 40% of the slot)
  --bitfield-delay DUR    sign the hosted validators' availability bitfields this
                          long after importing a leaf (default Polkadot's 1.5 s,
                          at most a quarter of the slot; 0 signs on import)
  --log-level LEVEL       debug, info, warn or error for every subsystem (default info)
  -l, --log DIRECTIVES    per-subsystem levels, e.g. provisioner=debug,p2p=info;
                          a bare level sets every subsystem (repeatable; applied
                          after --log-level). Subsystems: node, p2p, provisioner,
                          testnet, and libp2p's (pubsub, swarm2, ...)
  --builder-peer PEERID   also serve the inherent and author protocols to this
                          block builder (repeatable); the node's own builder key,
                          DIR/builder/secret_ed25519 of --base-path (created at
                          start, used by blockbuilder --base-path DIR), is always
                          allowed; nobody else is served
  --trusted-peer PEERID   admit this peer to gossip without a validator record,
                          e.g. an observer (repeatable); other peers gossip only
                          with a record signed by a session validator key
  --adversary             misbehave (for fault-injection runs)
  --version               print the version and exit
` + exitStatusText

// defaultPrometheusPort is Substrate's.
const defaultPrometheusPort = 9615

// chainName labels every metric series (chain="..."), as Substrate's
// registry labels them with the chain spec's id; the testnet's chain spec
// has no id, so every testnet is "testnet".
const chainName = "testnet"

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// nodeFlags are the parsed flags of `provisioner node`.
type nodeFlags struct {
	chain, key, name, base    string
	nodeKey, nodeKeyFile      string
	listen                    []string
	bootnodes                 []string
	metricsAddr               string // "" = no HTTP server
	pprof, adversary          bool
	builderPeers, trusted     []peer.ID
	validator                 int
	validators                []int // --validators; nil with --validator
	validatorsFlag            string
	prePropose                time.Duration
	bitfieldDelay             time.Duration // NodeConfig's: 0 default, negative on import
	logLevel                  string
	logDirectives             []logDirective
	listenSet, portSet        bool
	promPortSet, promExternal bool
	metricsSet                bool
	port, promPort            int
	listenFlag, bootnodesFlag string
	metricsFlag               string
}

// parseNodeFlags parses and checks the command line; every error is a
// usage error.
func parseNodeFlags(args []string) (*nodeFlags, error) {
	f := &nodeFlags{}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.chain, "chain", "", "")
	fs.IntVar(&f.validator, "validator", -2, "")
	fs.StringVar(&f.validatorsFlag, "validators", "", "")
	fs.StringVar(&f.key, "key", "", "")
	fs.StringVar(&f.name, "name", "", "")
	fs.StringVar(&f.base, "base-path", "", "")
	fs.StringVar(&f.nodeKey, "node-key", "", "")
	fs.StringVar(&f.nodeKeyFile, "node-key-file", "", "")
	fs.StringVar(&f.listenFlag, "listen", "/ip4/0.0.0.0/tcp/30333", "")
	fs.Func("port", "", func(s string) error {
		p, err := parsePort(s)
		f.port, f.portSet = p, true
		return err
	})
	fs.StringVar(&f.bootnodesFlag, "bootnodes", "", "")
	fs.StringVar(&f.metricsFlag, "metrics", "", "")
	fs.Func("prometheus-port", "", func(s string) error {
		p, err := parsePort(s)
		f.promPort, f.promPortSet = p, true
		return err
	})
	fs.BoolVar(&f.promExternal, "prometheus-external", false, "")
	fs.BoolVar(&f.pprof, "pprof", false, "")
	fs.DurationVar(&f.prePropose, "pre-propose", 0, "")
	fs.Func("bitfield-delay", "", func(s string) error {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return err
		case d < 0:
			return fmt.Errorf("negative delay %s", d)
		case d == 0:
			f.bitfieldDelay = -1
		default:
			f.bitfieldDelay = d
		}
		return nil
	})
	fs.StringVar(&f.logLevel, "log-level", "info", "")
	logFlag := func(s string) error {
		d, err := parseLogDirectives(s)
		f.logDirectives = append(f.logDirectives, d...)
		return err
	}
	fs.Func("l", "", logFlag)
	fs.Func("log", "", logFlag)
	fs.BoolVar(&f.adversary, "adversary", false, "")
	peerFlag := func(dst *[]peer.ID) func(string) error {
		return func(s string) error {
			id, err := peer.Decode(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("not a peer id: %w", err)
			}
			*dst = append(*dst, id)
			return nil
		}
	}
	fs.Func("builder-peer", "", peerFlag(&f.builderPeers))
	fs.Func("trusted-peer", "", peerFlag(&f.trusted))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	validatorsSet := false
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "listen":
			f.listenSet = true
		case "metrics":
			f.metricsSet = true
		case "validators":
			validatorsSet = true
		}
	})
	if validatorsSet {
		// Parsed here rather than by a flag.Func, so that its error is
		// the one line ParseValidatorSet writes.
		if f.validator != -2 {
			return nil, usagef("--validator and --validators are exclusive")
		}
		vs, err := testnet.ParseValidatorSet("validators", f.validatorsFlag)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if f.key != "" && len(vs) > 1 {
			return nil, usagef("--key names one validator: not with %d --validators", len(vs))
		}
		f.validators, f.validator = vs, vs[0]
	}
	if f.chain == "" || f.validator < -1 {
		return nil, usagef("--chain and --validator (or --validators) are required")
	}
	if _, err := logging.Parse(f.logLevel); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	switch {
	case f.portSet && f.listenSet:
		return nil, usagef("--port and --listen are exclusive")
	case f.portSet:
		f.listen = []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", f.port)}
	default:
		f.listen = splitList(f.listenFlag)
	}
	f.bootnodes = splitList(f.bootnodesFlag)
	switch {
	case f.metricsSet && (f.promPortSet || f.promExternal):
		return nil, usagef("--metrics and --prometheus-port/--prometheus-external are exclusive")
	case f.metricsSet:
		f.metricsAddr = f.metricsFlag
	case f.promPortSet || f.promExternal:
		port, host := defaultPrometheusPort, "127.0.0.1"
		if f.promPortSet {
			port = f.promPort
		}
		if f.promExternal {
			host = "0.0.0.0"
		}
		f.metricsAddr = net.JoinHostPort(host, strconv.Itoa(port))
	}
	if f.pprof && f.metricsAddr == "" {
		return nil, usagef("--pprof needs --metrics or --prometheus-port")
	}
	if f.nodeKey != "" && f.nodeKeyFile != "" {
		return nil, usagef("--node-key and --node-key-file are exclusive")
	}
	if f.name == "" {
		f.name = "observer"
		switch {
		case len(f.validators) > 1:
			// The first index and how many more: unique, and short
			// however many the node hosts.
			f.name = fmt.Sprintf("validator-%d+%d", f.validators[0], len(f.validators)-1)
		case f.validator >= 0:
			f.name = fmt.Sprintf("validator-%d", f.validator)
		}
	}
	return f, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("want a port number from 0 to 65535, got %q", s)
	}
	return int(p), nil
}

// nodeKey is the network key from --node-key or --node-key-file; nil
// leaves it to --base-path.
func (f *nodeFlags) loadNodeKey() (crypto.PrivKey, error) {
	switch {
	case f.nodeKey != "":
		k, err := p2p.ParseNodeKey(f.nodeKey)
		if err != nil {
			return nil, fmt.Errorf("--node-key: %w", err)
		}
		return k, nil
	case f.nodeKeyFile != "":
		return p2p.LoadNodeKeyFile(f.nodeKeyFile)
	}
	return nil, nil
}

// listenHTTP binds the metrics address before the node starts, so that a
// taken port stops the node at once with one clear line.
func listenHTTP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("metrics address %s: %w", addr, p2p.ErrAddrInUse)
	case err != nil:
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	return ln, nil
}

func runNode(e *env, args []string) error {
	f, err := parseNodeFlags(args)
	if err != nil {
		return err
	}
	if err := applyLogLevels(f.logLevel, f.logDirectives); err != nil {
		return usagef("%v", err)
	}
	g, err := testnet.LoadGenesis(f.chain)
	if err != nil {
		return err
	}
	key, err := f.loadNodeKey()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var ln net.Listener
	if f.metricsAddr != "" {
		if ln, err = listenHTTP(f.metricsAddr); err != nil {
			return err
		}
		defer ln.Close()
	}
	m := newNodeMetrics(f.name)
	n, err := testnet.StartNode(ctx, testnet.NodeConfig{
		Genesis: g, Validator: f.validator, Validators: f.validators, KeyURI: f.key, BasePath: f.base, NodeKey: key,
		ListenAddrs: f.listen, Bootnodes: f.bootnodes, Registerer: m.reg,
		BandwidthReporter: bytesCounter(m.reg),
		LibP2PMetrics:     m.reg, PrePropose: f.prePropose, BitfieldDelay: f.bitfieldDelay, Adversary: f.adversary,
		BuilderPeers: f.builderPeers, TrustedPeers: f.trusted,
	})
	if err != nil {
		return err
	}
	snap := nodeSnapshotter(n, f.name)
	m.observe(snap.snapshot)
	if ln != nil {
		srv := &http.Server{
			Handler:           newHTTPHandler(m.gatherer, snap, f.pprof),
			ReadHeaderTimeout: 5 * time.Second,
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Errorw("metrics server stopped", "err", err)
			}
		}()
		defer func() {
			_ = srv.Close()
			<-served
		}()
	}
	sctx, scancel := context.WithCancel(ctx)
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		statusLoop(sctx, snap, statusInterval)
	}()
	defer func() {
		scancel()
		<-statusDone
	}()
	hosted := strconv.Itoa(f.validator)
	if len(f.validators) > 0 {
		hosted = testnet.FormatValidatorSet(f.validators)
	}
	fmt.Fprintf(e.stdout, "node %s (%s, peer id %s) listening on %s (genesis %s)\n",
		hosted, f.name, n.Net().ID(), strings.Join(n.Addrs(), " "), g.Hash())
	return n.Run(ctx)
}
