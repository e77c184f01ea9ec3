package testnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	Nodes, Paras, Cores, Blocks int
	Slot                        time.Duration
	Seed                        uint64
	V1Descriptors               bool
	// InProcess runs the nodes as goroutines; otherwise each is a
	// `provisioner node` process of Binary.
	InProcess bool
	Binary    string
	BaseDir   string
	Kills     []Kill
	// Adversaries: the last K nodes misbehave.
	Adversaries int
	// Out receives the live table and progress (nil: silent).
	Out io.Writer
	// LogLevel for node processes.
	LogLevel string
}

// nodeHandle is a running node, in process or not.
type nodeHandle struct {
	index   int
	addr    string // bootnode multiaddr
	metrics string // metrics address (processes)
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{}
	cmd     *exec.Cmd
}

// Run starts the testnet, waits for cfg.Blocks blocks (or a timeout), and
// returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Nodes < 1 || cfg.Blocks < 1 || cfg.Paras < 1 {
		return nil, fmt.Errorf("testnet needs at least one node, para and block")
	}
	if cfg.Cores == 0 {
		cfg.Cores = cfg.Paras
	}
	if cfg.Adversaries >= cfg.Nodes {
		return nil, fmt.Errorf("--adversaries %d leaves no honest node of %d", cfg.Adversaries, cfg.Nodes)
	}
	for _, k := range cfg.Kills {
		if k.Node >= cfg.Nodes {
			return nil, fmt.Errorf("--kill: no node %d (nodes are 0..%d)", k.Node, cfg.Nodes-1)
		}
	}
	if cfg.BaseDir == "" {
		dir, err := os.MkdirTemp("", "testnet-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.BaseDir = dir
	}
	// Slot 0 starts after the nodes had time to start and connect.
	warmup := 3*time.Second + time.Duration(cfg.Nodes)*150*time.Millisecond
	if !cfg.InProcess {
		warmup += 2 * time.Second
	}
	g, err := NewGenesis(cfg.Nodes, cfg.Cores, cfg.Paras, cfg.Slot.Milliseconds(), time.Now().Add(warmup).UnixMilli(), cfg.Seed)
	if err != nil {
		return nil, err
	}
	g.V1Descriptors = cfg.V1Descriptors
	specPath := filepath.Join(cfg.BaseDir, "chain.json")
	if err := g.Save(specPath); err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if cfg.Out != nil {
			fmt.Fprintf(cfg.Out, format+"\n", a...)
		}
	}
	say("testnet: %d validators, %d paras on %d cores, %d blocks of %s, genesis %s", cfg.Nodes, cfg.Paras, cfg.Cores, cfg.Blocks, cfg.Slot, g.Hash())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := NewRecorder(g, cfg.Out)

	// The observer is this process's own peer: it follows the chain and
	// takes the notes of the report. It listens first; nodes boot from it.
	obs, err := StartNode(ctx, NodeConfig{
		Genesis: g, Validator: -1, BasePath: filepath.Join(cfg.BaseDir, "observer"),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Recorder: rec,
	})
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	obsDone := make(chan struct{})
	go func() { defer close(obsDone); _ = obs.Run(ctx) }()
	defer func() { cancel(); <-obsDone }()
	boot := obs.Addrs()

	handles := make([]*nodeHandle, cfg.Nodes)
	start := func(i int) (*nodeHandle, error) {
		adversary := i >= cfg.Nodes-cfg.Adversaries
		base := filepath.Join(cfg.BaseDir, fmt.Sprintf("node-%d", i))
		if cfg.InProcess {
			return startInProcess(ctx, g, i, base, boot, adversary)
		}
		return startProcess(ctx, cfg, specPath, i, base, boot, adversary)
	}
	for i := range handles {
		if handles[i], err = start(i); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		boot = append(boot, handles[i].addr)
	}
	defer func() {
		for _, h := range handles {
			if h != nil {
				h.stop()
			}
		}
	}()
	rep := &Report{}
	var faults []string
	deadline := time.Now().Add(warmup + time.Duration(cfg.Blocks*3+10)*cfg.Slot)
	killed := map[int]bool{}
	for {
		best, _ := obs.Chain().Best()
		n := int(best.Number)
		for _, k := range cfg.Kills {
			if n >= k.At && !killed[k.Node] && handles[k.Node] != nil && k.RestartAt != -1 {
				say("testnet: killing node %d at block %d", k.Node, n)
				faults = append(faults, fmt.Sprintf("node %d killed at block %d", k.Node, n))
				handles[k.Node].kill()
				handles[k.Node] = nil
				killed[k.Node] = true
			}
			if k.RestartAt > 0 && n >= k.RestartAt && killed[k.Node] && handles[k.Node] == nil {
				say("testnet: restarting node %d at block %d", k.Node, n)
				h, err := start(k.Node)
				if err != nil {
					faults = append(faults, fmt.Sprintf("node %d failed to restart: %v", k.Node, err))
				} else {
					faults = append(faults, fmt.Sprintf("node %d restarted at block %d", k.Node, n))
					handles[k.Node] = h
				}
			}
		}
		if n >= cfg.Blocks {
			break
		}
		if time.Now().After(deadline) {
			faults = append(faults, fmt.Sprintf("timed out at block %d of %d", n, cfg.Blocks))
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Let the last bitfields arrive, then gather.
	time.Sleep(cfg.Slot / 2)
	rep = rec.Report(cfg.Nodes)
	rep.Faults = faults
	for _, h := range handles {
		if h == nil {
			continue
		}
		rej, ign := h.scrape()
		for k, v := range rej {
			rep.RejectedMessages[k] += v
		}
		for k, v := range ign {
			rep.IgnoredMessages[k] += v
		}
	}
	th := obs.Net().Thresholds()
	for _, p := range obs.Net().Host().Network().Peers() {
		if s, ok := obs.Net().PeerScore(p); ok && s < th.Graylist {
			rep.Graylisted = append(rep.Graylisted, fmt.Sprintf("%s (score %.0f)", p, s))
		}
	}
	rep.Checks = Evaluate(rep, cfg)
	return rep, nil
}

func startInProcess(ctx context.Context, g *Genesis, i int, base string, boot []string, adversary bool) (*nodeHandle, error) {
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(ctx)
	n, err := StartNode(ctx, NodeConfig{
		Genesis: g, Validator: i, BasePath: base, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootnodes: boot, Registerer: reg, Adversary: adversary,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	h := &nodeHandle{index: i, addr: n.Addrs()[0], reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = n.Run(ctx) }()
	return h, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startProcess(ctx context.Context, cfg Config, spec string, i int, base string, boot []string, adversary bool) (*nodeHandle, error) {
	key, err := p2p.LoadOrCreateIdentity(base)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	args := []string{"node", "--chain", spec, "--validator", strconv.Itoa(i), "--base-path", base,
		"--listen", listen, "--bootnodes", strings.Join(boot, ","), "--metrics", fmt.Sprintf("127.0.0.1:%d", mport)}
	if adversary {
		args = append(args, "--adversary")
	}
	if cfg.LogLevel != "" {
		args = append(args, "--log-level", cfg.LogLevel)
	}
	cmd := exec.Command(cfg.Binary, args...)
	logf, err := os.Create(filepath.Join(base, "node.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	h := &nodeHandle{index: i, addr: listen + "/p2p/" + id.String(), metrics: fmt.Sprintf("127.0.0.1:%d", mport), cmd: cmd, done: make(chan struct{})}
	go func() { defer close(h.done); _ = cmd.Wait(); logf.Close() }()
	return h, nil
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

// stop ends the node gracefully.
func (h *nodeHandle) stop() {
	if h.cmd != nil {
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

// scrape reads the node's rejected and ignored gossip counters by reason.
func (h *nodeHandle) scrape() (rejected, ignored map[string]float64) {
	rejected, ignored = map[string]float64{}, map[string]float64{}
	if h.reg != nil {
		mfs, err := h.reg.Gather()
		if err != nil {
			return
		}
		for _, mf := range mfs {
			var into map[string]float64
			switch mf.GetName() {
			case "provisioner_p2p_gossip_rejected_total":
				into = rejected
			case "provisioner_p2p_gossip_ignored_total":
				into = ignored
			default:
				continue
			}
			for _, m := range mf.GetMetric() {
				into[labelOf(m.GetLabel(), "reason")] += m.GetCounter().GetValue()
			}
		}
		return
	}
	resp, err := http.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var into map[string]float64
		switch {
		case strings.HasPrefix(line, "provisioner_p2p_gossip_rejected_total{"):
			into = rejected
		case strings.HasPrefix(line, "provisioner_p2p_gossip_ignored_total{"):
			into = ignored
		default:
			continue
		}
		_, rest, _ := strings.Cut(line, `reason="`)
		reason, rest, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			into[reason] += v
		}
	}
	return
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

// Evaluate applies the testnet's done-criteria to a report.
func Evaluate(rep *Report, cfg Config) []Check {
	var checks []Check
	add := func(name string, pass bool, format string, a ...any) {
		checks = append(checks, Check{Name: name, Pass: pass, Detail: fmt.Sprintf(format, a...)})
	}
	add("blocks", len(rep.Blocks) >= cfg.Blocks, "%d of %d blocks", len(rep.Blocks), cfg.Blocks)
	fallbacks := 0
	for _, b := range rep.Blocks {
		if b.Number > 2 && b.EmptyFallback {
			fallbacks++
		}
	}
	add("no_empty_fallback", fallbacks == 0, "%d blocks after #2 used the empty fallback", fallbacks)
	worst := -1
	blocks := len(rep.Blocks)
	for _, n := range rep.ParasIncluded {
		if worst < 0 || n < worst {
			worst = n
		}
	}
	// Every para included at least every other block, once the pipeline
	// is primed (block 1 backs, block 2 includes).
	need := (blocks - 2) / 2
	add("paras_included", worst >= need, "least-included para: %d inclusions in %d blocks (need %d)", worst, blocks, need)
	add("bitfields_included", rep.Bitfields.Ratio >= 0.99, "%d of %d signed bitfields in the next block (%.2f%%)",
		rep.Bitfields.InInherent, rep.Bitfields.Signed, 100*rep.Bitfields.Ratio)
	if cfg.Adversaries > 0 {
		total := 0.0
		for _, v := range rep.RejectedMessages {
			total += v
		}
		add("bad_messages_rejected", total > 0, "%.0f messages rejected: %v", total, rep.RejectedMessages)
		add("adversaries_graylisted", len(rep.Graylisted) > 0, "%d peers graylisted by the observer", len(rep.Graylisted))
	}
	return checks
}

// ErrChecksFailed is returned by callers when a report's checks fail.
var ErrChecksFailed = errors.New("testnet checks failed")

// Failed lists the checks that did not pass.
func Failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}
