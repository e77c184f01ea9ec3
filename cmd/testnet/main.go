// Command testnet runs a local network of provisioner validator nodes over a
// simulated relay chain, shows block production live, and writes a report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/testnet"
	"github.com/polkadot-provisioner/provisioner/testnet/plot"
)

const usage = `testnet: run a local network of provisioner validator nodes

Usage: testnet [flags]
       testnet plot [--html FILE] REPORT.json...   (scaling curves; see testnet plot --help)

Starts --nodes validator nodes (separate processes of the provisioner binary,
or goroutines with --in-process) on loopback (with --in-process and --latency
or --bandwidth: on an emulated WAN, go-libp2p's mocknet), with --paras parachains, runs
--blocks relay-chain blocks of --slot each (--blocks 0: until Ctrl-C), shows
every block as it is imported, prints a summary and writes --report.

At start it prints a node table (also in BASE/network.json, with a
Prometheus scrape config in BASE/prometheus.yml). Node processes log at
--log-level into BASE/node-N/node.log (appended to across restarts). The
base dir is kept, and its path printed, when a check fails or the run is
interrupted; a temporary one is removed after a clean pass.

Ctrl-C (or SIGTERM) ends the run: the summary of what ran is printed and
--report written, its checks judging the blocks that ran. A second Ctrl-C
exits at once.

Exit status:
  0    every check passed (with --blocks 0, also when ended by Ctrl-C)
  1    a check failed, or the network could not start
  2    usage error
  130  interrupted before --blocks blocks, every check of what ran passed
       (128 + SIGINT, the shell's convention for a run cut short)

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, the default behaviour comes back: a second
	// Ctrl-C ends the process at once instead of waiting for the report.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "plot" {
		return runPlot(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("testnet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nodes := fs.Int("nodes", 10, "number of validator nodes (at least 2)")
	validators := fs.Int("validators", 0, "size of the validator set, at least --nodes (default: one per node); node k hosts validators k, k+N, k+2N, ... (round-robin), signs for each and authors each one's slots")
	paras := fs.Int("paras", 5, "number of parachains (ids from 2000)")
	cores := fs.Int("cores", 0, "availability cores (default: one per para; more gives paras elastic scaling)")
	blocks := fs.Int("blocks", 20, "relay-chain blocks to produce (0: until Ctrl-C)")
	slot := fs.Duration("slot", time.Second, fmt.Sprintf("slot length (at least %v)", testnet.MinSlot))
	bitfieldDelay := fs.String("bitfield-delay", "", fmt.Sprintf("validators sign their availability bitfields this long after importing a leaf, as Polkadot's do 1.5 s after (default: %v, at most a quarter of the slot; 0: on import)", testnet.PolkadotBitfieldDelay))
	report := fs.String("report", "", "write the JSON report to this file")
	htmlPage := fs.String("html", "", "write a self-contained HTML page of the run's plots to this file")
	seed := fs.Uint64("seed", 0, "seed of the slot lottery and adversaries (0: round-robin authors)")
	inProcess := fs.Bool("in-process", false, "run nodes as goroutines instead of processes")
	binary := fs.String("binary", "", "provisioner binary for node processes (default: beside this one)")
	baseDir := fs.String("base-dir", "", "directory for node data and logs, created when missing (default: a temporary one)")
	var kills, pauses multiFlag
	fs.Var(&kills, "kill", "NODE@BLOCK[,restart@BLOCK]: kill -9 a node and optionally restart it (repeatable)")
	fs.Var(&pauses, "pause", "NODE@BLOCK[,resume@BLOCK]: SIGSTOP a node process and optionally SIGCONT it (repeatable; not with --in-process)")
	adversaries := fs.Int("adversaries", 0, "make the last K nodes misbehave")
	var attacks multiFlag
	fs.Var(&attacks, "attack", "KIND[:RATE]: attack the nodes from block 1 on, from fresh outsider identities and from identities of the --adversaries validators (repeatable); KIND is sybil-join, unknown-leaf, slow-frames, inherent-spam, conn-flood or garbage, RATE per second (identities, messages, frames or requests)")
	lookahead := fs.Int("lookahead", testnet.DefaultLookahead, "scheduling lookahead: claim-queue depth and allowed relay parents (1: no async backing)")
	rotation := fs.Int("group-rotation", testnet.DefaultGroupRotation, "group rotation frequency in blocks")
	sessionLength := fs.Int("session-length", testnet.DefaultSessionLength, "session length in blocks (0: one session for ever)")
	var invalids, equivocations multiFlag
	fs.Var(&invalids, "invalid-candidate", "PARA@BLOCK: the para's candidate for BLOCK is invalid and backed by 2 colluding backers; the others dispute it (repeatable; needs 7 nodes)")
	fs.Var(&equivocations, "equivocate", "NODE@BLOCK: the validator votes both ways in disputes from BLOCK on, reported as misbehaviour (repeatable)")
	latency := fs.String("latency", "", "MIN-MAX: emulate a WAN (needs --in-process): each pair of hosts gets a one-way link latency in [MIN, MAX] drawn from --seed, e.g. 50ms-150ms")
	bandwidth := fs.String("bandwidth", "", "RATE: emulate a WAN (needs --in-process): cap each link (both directions together) at RATE, e.g. 100Mbit, 1Gbit, 10MB")
	v1 := fs.Bool("v1-descriptors", false, "collators emit v1 candidate descriptors")
	logLevel := fs.String("log-level", "info", "log level of the node processes (debug, info, warn, error); also of this process when given")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to FILE for the run (with --in-process it covers every node)")
	version := fs.Bool("version", false, "print the version and exit")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "testnet: "+format+"\n", a...)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + name
		}
		return fail(2, "%s (see testnet --help)", msg)
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.Line("testnet"))
		return 0
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q (see testnet --help)", fs.Arg(0))
	}
	level, err := logging.LevelFromString(*logLevel)
	if err != nil {
		return fail(2, "--log-level %q: want debug, info, warn or error", *logLevel)
	}
	// This process (the observer, and the nodes with --in-process) logs to
	// the terminal, under the live table: only errors, unless asked.
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "log-level" })
	if !explicit {
		level = logging.LevelError
	}
	logging.SetAllLoggers(level)

	cfg := testnet.Config{
		Nodes: *nodes, Validators: *validators, Paras: *paras, Cores: *cores, Blocks: *blocks, Slot: *slot, Seed: *seed,
		InProcess: *inProcess, Binary: *binary, BaseDir: *baseDir, Adversaries: *adversaries,
		V1Descriptors: *v1, Out: stdout, LogLevel: *logLevel,
		Version: buildinfo.Version(), Flags: append([]string(nil), args...),
	}
	if *bitfieldDelay != "" {
		d, err := time.ParseDuration(*bitfieldDelay)
		if err != nil || d < 0 {
			return fail(2, "--bitfield-delay %q: want a duration such as 1.5s, or 0 to sign on import", *bitfieldDelay)
		}
		cfg.BitfieldDelay = d
		if d == 0 {
			cfg.BitfieldDelay = -1 // Config's "on import"
		}
	}
	if *latency != "" {
		if cfg.Latency, err = testnet.ParseLatency(*latency); err != nil {
			return fail(2, "%v", err)
		}
	}
	if *bandwidth != "" {
		if cfg.Bandwidth, err = testnet.ParseBandwidth(*bandwidth); err != nil {
			return fail(2, "%v", err)
		}
	}
	for _, k := range kills {
		kk, err := testnet.ParseKill(k)
		if err != nil {
			return fail(2, "%v", err)
		}
		cfg.Kills = append(cfg.Kills, kk)
	}
	switch {
	case *lookahead < 1:
		return fail(2, "--lookahead %d: want 1..64", *lookahead)
	case *rotation < 1:
		return fail(2, "--group-rotation %d: want at least 1 block", *rotation)
	case *sessionLength < 0:
		return fail(2, "--session-length %d: want 0 (one session) or more", *sessionLength)
	}
	cfg.Lookahead, cfg.GroupRotation, cfg.SessionLength = *lookahead, *rotation, *sessionLength
	if *sessionLength == 0 {
		cfg.SessionLength = -1 // Config's "one session for ever"
	}
	for _, s := range invalids {
		f, err := testnet.ParseParaAt("invalid-candidate", s)
		if err != nil {
			return fail(2, "%v", err)
		}
		cfg.InvalidCandidates = append(cfg.InvalidCandidates, f)
	}
	for _, s := range equivocations {
		e, err := testnet.ParseNodeAt("equivocate", s)
		if err != nil {
			return fail(2, "%v", err)
		}
		cfg.Equivocations = append(cfg.Equivocations, e)
	}
	for _, s := range attacks {
		a, err := testnet.ParseAttack(s)
		if err != nil {
			return fail(2, "%v", err)
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	for _, p := range pauses {
		pp, err := testnet.ParsePause(p)
		if err != nil {
			return fail(2, "%v", err)
		}
		cfg.Pauses = append(cfg.Pauses, pp)
	}
	if err := cfg.Validate(); err != nil {
		return fail(2, "%v", err)
	}
	if !cfg.InProcess && cfg.Binary == "" {
		self, err := os.Executable()
		if err == nil {
			cfg.Binary = filepath.Join(filepath.Dir(self), "provisioner")
		}
		if _, err := os.Stat(cfg.Binary); err != nil {
			return fail(2, "no provisioner binary at %s (build it with `make build`, or pass --binary or --in-process)", cfg.Binary)
		}
	}
	stopProfile := func() error { return nil }
	if *cpuProfile != "" {
		if stopProfile, err = startCPUProfile(*cpuProfile); err != nil {
			return fail(1, "%v", err)
		}
	}
	rep, err := testnet.Run(ctx, cfg)
	if perr := stopProfile(); perr != nil {
		fmt.Fprintf(stderr, "testnet: %v\n", perr)
	}
	if err != nil {
		if errors.Is(err, testnet.ErrUsage) {
			return fail(2, "%v", err)
		}
		return fail(1, "%v", err)
	}
	rep.WriteSummary(stdout)
	code := 0
	switch {
	case !rep.Pass:
		code = 1
	case rep.Interrupted && cfg.Blocks > 0:
		code = 130
	}
	if *report != "" {
		if err := rep.WriteFile(*report); err != nil {
			return fail(1, "write report: %v", err)
		}
		fmt.Fprintf(stdout, "report written to %s\n", *report)
	}
	if *htmlPage != "" {
		if err := writeHTML(*htmlPage, func(w io.Writer) error { return plot.WriteRun(w, rep) }); err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(stdout, "plots written to %s\n", *htmlPage)
	}
	return code
}

// startCPUProfile profiles this process into path until the returned
// function is called.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
