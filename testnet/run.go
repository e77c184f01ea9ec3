package testnet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/p2p"
)

// Kill stops node Node (kill -9 for processes) once block At is seen, and
// restarts it once block RestartAt is seen (0: never).
type Kill struct {
	Node, At, RestartAt int
}

// ParseKill reads NODE@BLOCK[,restart@BLOCK].
func ParseKill(s string) (Kill, error) {
	var k Kill
	main, restart, _ := strings.Cut(s, ",")
	node, at, ok := strings.Cut(main, "@")
	var err1, err2 error
	k.Node, err1 = strconv.Atoi(node)
	k.At, err2 = strconv.Atoi(at)
	if !ok || err1 != nil || err2 != nil || k.Node < 0 || k.At < 1 {
		return k, fmt.Errorf("--kill %q: want NODE@BLOCK[,restart@BLOCK]", s)
	}
	if restart != "" {
		r, at, ok := strings.Cut(restart, "@")
		n, err := strconv.Atoi(at)
		if !ok || r != "restart" || err != nil || n <= k.At {
			return k, fmt.Errorf("--kill %q: restart must be restart@BLOCK after the kill", s)
		}
		k.RestartAt = n
	}
	return k, nil
}

// Config of a testnet run.
type Config struct {
	Nodes, Paras, Cores int
	// Validators is the size of the validator set (0: Nodes), hosted
	// round-robin by the nodes (virtual.go): at least Nodes.
	Validators int
	// Blocks to produce; 0 runs until ctx is done (Ctrl-C).
	Blocks        int
	Slot          time.Duration
	Seed          uint64
	V1Descriptors bool
	// InProcess runs the nodes as goroutines; otherwise each is a
	// `provisioner node` process of Binary.
	InProcess bool
	Binary    string
	// BaseDir holds chain.json, network.json, prometheus.yml and a
	// directory per node; created when missing. Empty: a temporary
	// directory, removed after a run whose checks all pass.
	BaseDir string
	Kills   []Kill
	Pauses  []Pause
	// Adversaries: the last K nodes misbehave.
	Adversaries int
	// Attacks (--attack, attack.go) run from block 1 to the end, from
	// outsider identities and from identities of the Adversaries.
	Attacks []Attack
	// Latency and Bandwidth emulate a wide-area network (wan.go): with
	// either set, an InProcess run puts every host on a mocknet whose
	// links delay each write by the pair's one-way latency (drawn from
	// Seed within Latency) and cap it at Bandwidth bytes per second, one
	// budget per link shared by its two directions (0: unlimited). Node
	// processes stay on loopback sockets, so Validate refuses them there.
	Latency   Latency
	Bandwidth float64
	// The runtime's parameters: Lookahead (0: 3), GroupRotation in blocks
	// (0: 5), SessionLength in blocks (0: 10; -1: one session for ever).
	Lookahead, GroupRotation, SessionLength int
	// BitfieldDelay: how long after importing a leaf validators sign
	// their bitfields for it (0: DefaultBitfieldDelay; negative: on
	// import).
	BitfieldDelay time.Duration
	// InvalidCandidates: a para's candidate built for a block is invalid
	// and backed anyway (--invalid-candidate); Equivocations: a validator
	// votes both ways in its disputes (--equivocate).
	InvalidCandidates []ParaAt
	Equivocations     []NodeAt
	// Out receives the node table, the live table and progress (nil:
	// silent).
	Out io.Writer
	// LogLevel for node processes (default info), which log into
	// node-N/node.log.
	LogLevel string
	// Version and Flags (the command line) go into the report.
	Version string
	Flags   []string

	// observed, when set (tests), is handed the observer and its notes
	// once it runs, to inspect its chain and arrivals after Run returns.
	observed func(obs *Node, rec *Recorder)
}

// nodeHandle is a running node, in process or not.
type nodeHandle struct {
	index   int
	peerID  peer.ID
	listen  string // listen multiaddr, without the peer id
	addr    string // bootnode multiaddr
	metrics string // metrics address (processes)
	logPath string // processes
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{}
	cmd     *exec.Cmd
	paused  bool
	// rec is an in-process node's own Recorder: its arrival notes give
	// the bitfield latency at each block's author (measure.go).
	rec *Recorder
}

func (h *nodeHandle) info(i int, adversary bool) NodeInfo {
	ni := NodeInfo{Index: i, Validator: DevURI(i), PeerID: h.peerID.String(), Listen: h.listen,
		Multiaddr: h.addr, Log: h.logPath, Adversary: adversary}
	if h.metrics != "" {
		ni.MetricsURL = "http://" + h.metrics + "/metrics"
	}
	return ni
}

// ports a node process listens on; kept across restarts so that its
// multiaddr and Prometheus target stay valid.
type ports struct{ p2p, metrics int }

// Run starts the testnet, waits for cfg.Blocks blocks (or, with Blocks 0,
// for ctx to end), and returns the report. When ctx ends first (Ctrl-C),
// Run still gathers and returns the report of what ran, marked
// Interrupted; its checks judge the blocks that ran. A Config that
// Validate refuses is an error matching ErrUsage.
func Run(ctx context.Context, cfg Config) (_ *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Cores == 0 {
		cfg.Cores = cfg.Paras
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	startedAt := time.Now()
	say := func(format string, a ...any) {
		if cfg.Out != nil {
			fmt.Fprintf(cfg.Out, format+"\n", a...)
		}
	}
	// The base dir outlives a failed or interrupted run, so its logs can
	// be read; a temporary one is removed only after a clean pass.
	keep := true
	if cfg.BaseDir == "" {
		dir, err := os.MkdirTemp("", "testnet-")
		if err != nil {
			return nil, fmt.Errorf("base dir: %w", err)
		}
		cfg.BaseDir = dir
		keep = false
		// Registered first, so it runs after every node has stopped. A run
		// that failed to start keeps its logs too.
		defer func() {
			switch {
			case err != nil:
				err = fmt.Errorf("%w (base dir kept: %s)", err, dir)
			case !keep:
				_ = os.RemoveAll(dir)
			}
		}()
	} else if err = os.MkdirAll(cfg.BaseDir, 0o755); err != nil {
		return nil, fmt.Errorf("base dir: %w", err)
	}
	if abs, err := filepath.Abs(cfg.BaseDir); err == nil {
		cfg.BaseDir = abs
	}
	// Slot 0 starts after the nodes had time to start and connect.
	warmup := 3*time.Second + time.Duration(cfg.Nodes)*150*time.Millisecond
	if !cfg.InProcess {
		warmup += 2 * time.Second
	}
	warmup += virtualWarmup(cfg.Nodes, cfg.validatorCount())
	g, err := NewGenesis(cfg.validatorCount(), cfg.Cores, cfg.Paras, cfg.Slot.Milliseconds(), time.Now().Add(warmup).UnixMilli(), cfg.Seed)
	if err != nil {
		return nil, err
	}
	g.V1Descriptors = cfg.V1Descriptors
	lookahead, rotation, session := cfg.runtimeDefaults()
	g.Lookahead, g.GroupRotation, g.SessionLength = uint32(lookahead), uint32(rotation), uint32(session)
	g.InvalidCandidates, g.Equivocations = cfg.InvalidCandidates, cfg.Equivocations
	if err := g.Complete(); err != nil {
		return nil, err
	}
	specPath := filepath.Join(cfg.BaseDir, "chain.json")
	if err := g.Save(specPath); err != nil {
		return nil, err
	}
	blocks := strconv.Itoa(cfg.Blocks)
	if cfg.Blocks == 0 {
		blocks = "unlimited (until Ctrl-C)"
	}
	say("testnet: %s, %d paras on %d cores, %s blocks of %s, genesis %s", validatorsLine(cfg.Nodes, cfg.validatorCount()), cfg.Paras, cfg.Cores, blocks, cfg.Slot, g.Hash())
	say("testnet: base dir %s", cfg.BaseDir)
	// The emulated network outlives every host on it: its Close is
	// deferred before the observer's and the nodes' stops, so it runs
	// after them.
	w := newWAN(cfg)
	defer w.Close()
	if w != nil {
		bw := "unlimited"
		if cfg.Bandwidth > 0 {
			bw = formatBandwidth(cfg.Bandwidth)
		}
		say("testnet: emulated WAN (mocknet): one-way latency %s per link (seed %d), bandwidth %s per link", cfg.Latency, cfg.Seed, bw)
	}

	// The network runs on its own context: when ctx ends (Ctrl-C), the
	// loop below stops, but nodes stay up until their metrics and the
	// observer's peer scores are gathered for the report.
	netCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	rec := NewRecorder(g, cfg.Out)

	// The observer is this process's own peer: it follows the chain and
	// takes the notes of the report. It listens first; nodes boot from it.
	obs, err := StartNode(netCtx, NodeConfig{
		Genesis: g, Validator: -1, BasePath: filepath.Join(cfg.BaseDir, "observer"),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Recorder: rec, NewHost: w.hostsFor("observer"),
		BitfieldDelay: cfg.BitfieldDelay,
	})
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	obsDone := make(chan struct{})
	go func() { defer close(obsDone); _ = obs.Run(netCtx) }()
	defer func() { cancel(); <-obsDone }()
	boot := obs.Addrs()
	if cfg.observed != nil {
		cfg.observed(obs, rec)
	}

	handles := make([]*nodeHandle, cfg.Nodes)
	nodePorts := make([]ports, cfg.Nodes)
	picker := newPortPicker()
	adversary := func(i int) bool { return i >= cfg.Nodes-cfg.Adversaries }
	start := func(i int, why string) (*nodeHandle, error) {
		base := filepath.Join(cfg.BaseDir, fmt.Sprintf("node-%d", i))
		// The observer holds no validator key: the nodes admit it to
		// gossip by name.
		if cfg.InProcess {
			return startInProcess(netCtx, cfg, g, i, base, boot, adversary(i), obs.Net().ID(), w.hostsFor(fmt.Sprintf("node-%d", i)))
		}
		return startProcess(cfg, specPath, i, base, boot, adversary(i), &nodePorts[i], picker, why, obs.Net().ID())
	}
	defer func() {
		for _, h := range handles {
			if h != nil {
				h.stop()
			}
		}
	}()
	for i := range handles {
		if handles[i], err = start(i, "started"); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		boot = append(boot, handles[i].addr)
	}
	netInfo := NetworkInfo{
		GenesisHash: g.Hash().String(), ChainSpec: specPath, GenesisUnixMS: g.GenesisUnixMillis, SlotMillis: g.SlotMillis,
		Observer: ObserverIn{PeerID: obs.Net().ID().String(), Addrs: obs.Addrs()},
	}
	writeNet := func() {
		netInfo.Nodes = netInfo.Nodes[:0]
		for i, h := range handles {
			if h != nil {
				netInfo.Nodes = append(netInfo.Nodes, h.info(i, adversary(i)))
			}
		}
		if err := writeNetworkFiles(cfg.BaseDir, netInfo); err != nil {
			say("testnet: %v", err)
		}
	}
	writeNet()
	if cfg.Out != nil {
		WriteNodeTable(cfg.Out, netInfo.Nodes)
	}
	say("testnet: network.json written to %s", filepath.Join(cfg.BaseDir, "network.json"))
	if netInfo.Prometheus != "" {
		say("testnet: Prometheus: prometheus --config.file=%s", netInfo.Prometheus)
	}

	var faults []string
	var deadline time.Time
	if cfg.Blocks > 0 {
		deadline = time.Now().Add(warmup + time.Duration(cfg.Blocks*3+10)*cfg.Slot)
	}
	firstSlot := time.UnixMilli(g.GenesisUnixMillis).Add(cfg.Slot)
	var lastProgress time.Time
	killed := map[int]bool{}
	paused := map[int]bool{}
	interrupted := false
	var meas measurer
	// The attacks start once block 1 is in (attack.go); stopped before
	// the report is gathered, or here when Run returns early.
	var attacks *runAttacks
	attacksTried := false
	defer func() {
		if attacks != nil {
			attacks.att.stop()
		}
	}()
loop:
	for {
		best, _ := obs.Chain().Best()
		n := int(best.Number)
		for _, k := range cfg.Kills {
			if n >= k.At && !killed[k.Node] && handles[k.Node] != nil {
				say("testnet: killing node %d at block %d", k.Node, n)
				faults = append(faults, fmt.Sprintf("node %d killed at block %d", k.Node, n))
				handles[k.Node].kill()
				handles[k.Node] = nil
				killed[k.Node] = true
			}
			if k.RestartAt > 0 && n >= k.RestartAt && killed[k.Node] && handles[k.Node] == nil {
				say("testnet: restarting node %d at block %d", k.Node, n)
				h, err := start(k.Node, fmt.Sprintf("restarted at block %d", n))
				if err != nil {
					faults = append(faults, fmt.Sprintf("node %d failed to restart: %v", k.Node, err))
				} else {
					faults = append(faults, fmt.Sprintf("node %d restarted at block %d", k.Node, n))
					handles[k.Node] = h
					writeNet()
				}
			}
		}
		for _, p := range cfg.Pauses {
			h := handles[p.Node]
			if h == nil {
				continue
			}
			if n >= p.At && !paused[p.Node] && !h.paused {
				if err := h.pause(); err != nil {
					faults = append(faults, fmt.Sprintf("node %d not paused: %v", p.Node, err))
				} else {
					say("testnet: pausing node %d (SIGSTOP) at block %d", p.Node, n)
					faults = append(faults, fmt.Sprintf("node %d paused at block %d", p.Node, n))
				}
				paused[p.Node] = true
			}
			if p.ResumeAt > 0 && n >= p.ResumeAt && h.paused {
				if err := h.resume(); err != nil {
					faults = append(faults, fmt.Sprintf("node %d not resumed: %v", p.Node, err))
				} else {
					say("testnet: resuming node %d (SIGCONT) at block %d", p.Node, n)
					faults = append(faults, fmt.Sprintf("node %d resumed at block %d", p.Node, n))
				}
			}
		}
		// Resource counters at the first block: per-block costs leave the
		// start-up out.
		meas.baseline(handles, n)
		if len(cfg.Attacks) > 0 && !attacksTried && n >= 1 {
			attacksTried = true
			if attacks, err = startRunAttacks(netCtx, cfg, g, obs, handles); err != nil {
				faults = append(faults, fmt.Sprintf("attacks not started: %v", err))
			} else {
				say("testnet: attacking from block %d: %s", n, formatAttacks(cfg.Attacks))
			}
		}
		if n == 0 && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			say("testnet: %s", waitingLine(firstSlot, lastProgress))
		}
		if cfg.Blocks > 0 && n >= cfg.Blocks {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			faults = append(faults, fmt.Sprintf("timed out at block %d of %d", n, cfg.Blocks))
			break
		}
		select {
		case <-ctx.Done():
			interrupted = true
			say("testnet: interrupted at block %d, gathering the report", n)
			break loop
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !interrupted {
		// Let the last bitfields arrive, then gather.
		time.Sleep(cfg.Slot / 2)
	}
	rep := rec.Report(cfg.Nodes)
	rep.Faults = faults
	rep.FilteredBlocks = obs.Chain().FilteredBlocks()
	for _, h := range handles {
		if h == nil || h.paused {
			// A stopped process answers no scrape.
			continue
		}
		c, err := h.scrape()
		if err != nil {
			rep.Faults = append(rep.Faults, fmt.Sprintf("node %d metrics: %v", h.index, err))
		}
		for k, v := range c.Rejected {
			rep.RejectedMessages[k] += v
		}
		for k, v := range c.Ignored {
			rep.IgnoredMessages[k] += v
		}
		addByNode(rep.DiscardedData, rep.DiscardedByNode, h.index, c.Discarded)
		addByNode(rep.DroppedMessages, rep.DroppedByNode, h.index, c.Dropped)
	}
	if attacks != nil {
		var afaults []string
		rep.Attacks, afaults = attacks.finish(handles)
		rep.Faults = append(rep.Faults, afaults...)
		attacks = nil
	}
	endBest, _ := obs.Chain().Best()
	meas.finish(rep, rec, handles, int(endBest.Number))
	th := obs.Net().Thresholds()
	for _, p := range obs.Net().Host().Network().Peers() {
		if s, ok := obs.Net().PeerScore(p); ok && s < th.Graylist && obs.Net().Admitted(p) {
			rep.Graylisted = append(rep.Graylisted, fmt.Sprintf("%s (score %.0f)", p, s))
		}
	}
	// A graylisted peer is banned and disconnected, so most are found
	// here rather than among the connected peers.
	for _, p := range obs.Net().BannedPeers() {
		rep.Graylisted = append(rep.Graylisted, fmt.Sprintf("%s (banned)", p))
	}
	rep.Version, rep.Flags, rep.Seed = cfg.Version, cfg.Flags, cfg.Seed
	rep.GenesisHash = g.Hash().String()
	rep.Interrupted = interrupted || cfg.Blocks == 0
	evalCfg := cfg
	if rep.Interrupted {
		// Judge what ran: the blocks check asks for the blocks produced.
		evalCfg.Blocks = len(rep.Blocks)
	}
	rep.Checks = Evaluate(rep, evalCfg)
	rep.Pass = len(Failed(rep.Checks)) == 0
	if keep = keep || !rep.Pass || rep.Interrupted; keep {
		rep.BaseDir = cfg.BaseDir
	}
	rep.StartedAt = startedAt.UTC().Format(TimeFormat)
	rep.EndedAt = time.Now().UTC().Format(TimeFormat)
	return rep, nil
}

// waitingLine is the progress line shown once a second until block 1.
func waitingLine(firstSlot, now time.Time) string {
	d := firstSlot.Sub(now)
	if d > 0 {
		return fmt.Sprintf("waiting for block 1: slot 1 starts in %.1f s", d.Seconds())
	}
	return fmt.Sprintf("waiting for block 1: slot 1 started %.1f s ago", -d.Seconds())
}

func startInProcess(ctx context.Context, cfg Config, g *Genesis, i int, base string, boot []string, adversary bool, observer peer.ID,
	newHost func(role string, key crypto.PrivKey) (host.Host, error)) (*nodeHandle, error) {
	reg := prometheus.NewRegistry()
	rec := NewRecorder(g, nil)
	bw := NewByteCounter()
	reg.MustRegister(bw)
	ctx, cancel := context.WithCancel(ctx)
	n, err := StartNode(ctx, NodeConfig{
		Genesis: g, Validator: i, Validators: HostedValidators(cfg.validatorCount(), cfg.Nodes, i), BasePath: base,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootnodes: boot, Registerer: reg, Adversary: adversary,
		TrustedPeers: []peer.ID{observer}, Recorder: rec, NewHost: newHost, BandwidthReporter: bw,
		BitfieldDelay: cfg.BitfieldDelay,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	addr := n.Addrs()[0]
	listen, _, _ := strings.Cut(addr, "/p2p/")
	h := &nodeHandle{index: i, peerID: n.Net().ID(), listen: listen, addr: addr, reg: reg, cancel: cancel, done: make(chan struct{}), rec: rec}
	go func() { defer close(h.done); _ = n.Run(ctx) }()
	return h, nil
}

// nodeArgs is the command line of node i's `provisioner node` process.
func nodeArgs(cfg Config, spec string, i int, base, listen string, boot []string, metrics string, observer peer.ID, adversary bool) []string {
	args := []string{"node", "--chain", spec}
	if cfg.validatorCount() == cfg.Nodes {
		args = append(args, "--validator", strconv.Itoa(i))
	} else {
		args = append(args, "--validators", FormatValidatorSet(HostedValidators(cfg.validatorCount(), cfg.Nodes, i)))
	}
	args = append(args, "--base-path", base,
		"--listen", listen, "--bootnodes", strings.Join(boot, ","), "--metrics", metrics,
		"--log-level", cfg.LogLevel, "--trusted-peer", observer.String())
	if adversary {
		args = append(args, "--adversary")
	}
	if cfg.BitfieldDelay != 0 {
		// The node's default is the testnet's: only a chosen delay is
		// passed ("0s" signs on import).
		args = append(args, "--bitfield-delay", max(cfg.BitfieldDelay, 0).String())
	}
	return args
}

// startProcess starts a `provisioner node` process. Its ports are picked
// on the first start and reused on restarts; its log is appended to, so a
// restarted node's log keeps what it said before it was killed.
func startProcess(cfg Config, spec string, i int, base string, boot []string, adversary bool, pt *ports, picker *portPicker, why string, observer peer.ID) (*nodeHandle, error) {
	key, err := p2p.LoadOrCreateIdentity(base)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if pt.p2p == 0 {
		if pt.p2p, err = picker.pick(); err != nil {
			return nil, err
		}
		if pt.metrics, err = picker.pick(); err != nil {
			return nil, err
		}
	}
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", pt.p2p)
	metrics := fmt.Sprintf("127.0.0.1:%d", pt.metrics)
	args := nodeArgs(cfg, spec, i, base, listen, boot, metrics, observer, adversary)
	logPath := filepath.Join(base, "node.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "=== testnet: node %d %s at %s ===\n", i, why, time.Now().UTC().Format(TimeFormat))
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = nodeProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	h := &nodeHandle{index: i, peerID: id, listen: listen, addr: listen + "/p2p/" + id.String(), metrics: metrics,
		logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { defer close(h.done); _ = cmd.Wait(); logf.Close() }()
	return h, nil
}

// pause stops the node's process (SIGSTOP).
func (h *nodeHandle) pause() error {
	if h.cmd == nil {
		return fmt.Errorf("node %d runs in process: %w", h.index, ErrUsage)
	}
	if err := pauseProcess(h.cmd.Process); err != nil {
		return err
	}
	h.paused = true
	return nil
}

// resume continues a paused process (SIGCONT).
func (h *nodeHandle) resume() error {
	if err := resumeProcess(h.cmd.Process); err != nil {
		return err
	}
	h.paused = false
	return nil
}

// kill stops the node at once: kill -9 for a process, cancellation in
// process (the closest a goroutine gets).
func (h *nodeHandle) kill() {
	if h.cmd != nil {
		_ = h.cmd.Process.Kill()
	} else {
		h.cancel()
	}
	<-h.done
}

// stop ends the node gracefully; a paused process is resumed first, as a
// stopped one cannot handle SIGINT.
func (h *nodeHandle) stop() {
	if h.cmd != nil {
		if h.paused {
			_ = h.resume()
		}
		_ = h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.done:
			return
		case <-time.After(3 * time.Second):
			_ = h.cmd.Process.Kill()
		}
	} else {
		h.cancel()
	}
	<-h.done
}

// addByNode adds node's nonzero counts to the totals and to byNode.
func addByNode(totals map[string]float64, byNode map[int]map[string]float64, node int, counts map[string]float64) {
	for k, v := range counts {
		if v <= 0 {
			continue
		}
		totals[k] += v
		if byNode[node] == nil {
			byNode[node] = map[string]float64{}
		}
		byNode[node][k] += v
	}
}

// scrape reads the node's gossip counters by reason: from its registry in
// process, from its /metrics otherwise (a node process's whole /metrics
// is kept as metrics.txt beside its log).
func (h *nodeHandle) scrape() (GossipCounters, error) {
	if h.reg != nil {
		mfs, err := h.reg.Gather()
		if err != nil {
			return GossipCounters{}, err
		}
		c := newGossipCounters()
		for _, mf := range mfs {
			c.add(mf)
		}
		return c, nil
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		return GossipCounters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return GossipCounters{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	body := io.Reader(resp.Body)
	if h.logPath != "" {
		// Every counter of the node at the end of the run, beside its
		// log: the report sums only a few of them.
		if f, err := os.Create(filepath.Join(filepath.Dir(h.logPath), "metrics.txt")); err == nil {
			defer f.Close()
			body = io.TeeReader(resp.Body, f)
		}
	}
	return ParseGossipCounters(body)
}

type labelPair interface {
	GetName() string
	GetValue() string
}

func labelOf[L labelPair](ls []L, name string) string {
	for _, l := range ls {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
