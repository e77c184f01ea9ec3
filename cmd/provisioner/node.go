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
	"strings"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

const nodeUsage = `Usage: provisioner node --chain FILE --validator N [flags]

Runs one validator node of a testnet: joins the network named by the chain
spec's genesis, gossips and validates signed bitfields, backed candidates,
disputes and misbehaviour reports, runs the provisioner, serves the
inherent protocol to block builders and Prometheus metrics at /metrics, and
authors blocks in its slots. Stops cleanly on SIGINT or SIGTERM.

Flags:
  --chain FILE         chain spec (genesis) JSON written by testnet (required)
  --validator N        this node's validator index (-1: follow the chain only)
  --key URI            secret URI of the validator key (default: the dev URI
                       of the index, //Alice, //Bob, ... //Validator<N>)
  --base-path DIR      node data: network identity key (default: ephemeral)
  --listen ADDRS       comma-separated multiaddrs (default /ip4/0.0.0.0/tcp/30333)
  --bootnodes ADDRS    comma-separated multiaddrs ending in /p2p/<peer id>
  --metrics ADDR       serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9615)
  --pre-propose DUR    hold inherent requests this long after a leaf (default 40% of the slot)
  --log-level LEVEL    debug, info, warn or error (default info)
  --adversary          misbehave (for fault-injection runs)
` + exitStatusText

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runNode(e *env, args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	chain := fs.String("chain", "", "")
	validator := fs.Int("validator", -2, "")
	key := fs.String("key", "", "")
	base := fs.String("base-path", "", "")
	listen := fs.String("listen", "/ip4/0.0.0.0/tcp/30333", "")
	boot := fs.String("bootnodes", "", "")
	metrics := fs.String("metrics", "", "")
	prePropose := fs.Duration("pre-propose", 0, "")
	level := fs.String("log-level", "info", "")
	adversary := fs.Bool("adversary", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *chain == "" || *validator < -1 {
		return usagef("--chain and --validator are required")
	}
	if err := logging.SetLogLevel("*", *level); err != nil {
		return usagef("--log-level: %v", err)
	}
	g, err := testnet.LoadGenesis(*chain)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if *metrics != "" {
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	n, err := testnet.StartNode(ctx, testnet.NodeConfig{
		Genesis: g, Validator: *validator, KeyURI: *key, BasePath: *base,
		ListenAddrs: splitList(*listen), Bootnodes: splitList(*boot), Registerer: reg,
		PrePropose: *prePropose, Adversary: *adversary,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "node %d listening on %s (genesis %s)\n", *validator, strings.Join(n.Addrs(), " "), g.Hash())
	return n.Run(ctx)
}
