// Command testnet runs a local network of provisioner validator nodes over a
// simulated relay chain, shows block production live, and writes a report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

const usage = `testnet: run a local network of provisioner validator nodes

Usage: testnet [flags]

Starts --nodes validator nodes (separate processes of the provisioner binary,
or goroutines with --in-process) on loopback, with --paras parachains, runs
--blocks relay-chain blocks of --slot each, shows every block as it is
imported, prints a summary and writes --report. Exits 1 when a check fails.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("testnet", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	nodes := fs.Int("nodes", 10, "number of validator nodes")
	paras := fs.Int("paras", 5, "number of parachains (ids from 2000)")
	cores := fs.Int("cores", 0, "availability cores (default: one per para; more gives paras elastic scaling)")
	blocks := fs.Int("blocks", 20, "relay-chain blocks to produce")
	slot := fs.Duration("slot", time.Second, "slot length")
	report := fs.String("report", "", "write the JSON report to this file")
	seed := fs.Uint64("seed", 0, "seed of the slot lottery and adversaries (0: round-robin authors)")
	inProcess := fs.Bool("in-process", false, "run nodes as goroutines instead of processes")
	binary := fs.String("binary", "", "provisioner binary for node processes (default: beside this one)")
	baseDir := fs.String("base-dir", "", "directory for node data and logs (default: a temporary one)")
	var kills multiFlag
	fs.Var(&kills, "kill", "NODE@BLOCK[,restart@BLOCK]: kill -9 a node and optionally restart it (repeatable)")
	adversaries := fs.Int("adversaries", 0, "make the last K nodes misbehave")
	v1 := fs.Bool("v1-descriptors", false, "collators emit v1 candidate descriptors")
	logLevel := fs.String("log-level", "error", "log level of the nodes (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "testnet: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	_ = logging.SetLogLevel("*", *logLevel)
	cfg := testnet.Config{
		Nodes: *nodes, Paras: *paras, Cores: *cores, Blocks: *blocks, Slot: *slot, Seed: *seed,
		InProcess: *inProcess, Binary: *binary, BaseDir: *baseDir, Adversaries: *adversaries,
		V1Descriptors: *v1, Out: os.Stdout, LogLevel: *logLevel,
	}
	for _, k := range kills {
		kk, err := testnet.ParseKill(k)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testnet: %v\n", err)
			return 2
		}
		cfg.Kills = append(cfg.Kills, kk)
	}
	if !cfg.InProcess && cfg.Binary == "" {
		self, err := os.Executable()
		if err == nil {
			cfg.Binary = filepath.Join(filepath.Dir(self), "provisioner")
		}
		if _, err := os.Stat(cfg.Binary); err != nil {
			fmt.Fprintf(os.Stderr, "testnet: no provisioner binary at %s (build it with `make build`, or pass --binary or --in-process)\n", cfg.Binary)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := testnet.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testnet: %v\n", err)
		return 1
	}
	printSummary(rep)
	if *report != "" {
		if err := rep.WriteFile(*report); err != nil {
			fmt.Fprintf(os.Stderr, "testnet: write report: %v\n", err)
			return 1
		}
		fmt.Printf("report written to %s\n", *report)
	}
	if len(testnet.Failed(rep.Checks)) > 0 {
		return 1
	}
	return 0
}

func printSummary(rep *testnet.Report) {
	fmt.Printf("\nsummary: %d blocks, %d validators, %d paras on %d cores, slot %d ms\n",
		len(rep.Blocks), rep.Validators, rep.Paras, rep.Cores, rep.SlotMillis)
	var ps []string
	for p, n := range rep.ParasIncluded {
		ps = append(ps, fmt.Sprintf("%s:%d", p, n))
	}
	fmt.Printf("  paras included: %s\n", strings.Join(ps, " "))
	fmt.Printf("  bitfields: %d signed, %d in the next block (%.2f%%); gossip p50 %.1f ms, p99 %.1f ms\n",
		rep.Bitfields.Signed, rep.Bitfields.InInherent, 100*rep.Bitfields.Ratio, rep.GossipMillis.P50, rep.GossipMillis.P99)
	if len(rep.RejectedMessages) > 0 {
		fmt.Printf("  rejected messages: %v\n", rep.RejectedMessages)
	}
	for _, f := range rep.Faults {
		fmt.Printf("  fault: %s\n", f)
	}
	for _, c := range rep.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		fmt.Printf("  %s %-22s %s\n", mark, c.Name, c.Detail)
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
