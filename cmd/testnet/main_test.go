package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
)

func TestUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"version", []string{"--version"}, 0, buildinfo.Line("testnet") + "\n", ""},
		{"one node", []string{"--nodes", "1", "--in-process"}, 2, "", "testnet: --nodes must be at least 2\n"},
		{"short slot", []string{"--slot", "100ms", "--in-process"}, 2, "", "testnet: --slot 100ms is too short: the minimum is 500ms\n"},
		{"kill beyond blocks", []string{"--blocks", "5", "--kill", "1@6", "--in-process"}, 2, "", "testnet: --kill 1@6: block 6 is beyond --blocks 5\n"},
		{"pause in process", []string{"--pause", "1@2", "--in-process"}, 2, "",
			"testnet: --pause needs node processes (SIGSTOP): it cannot be used with --in-process\n"},
		{"bad pause", []string{"--pause", "1"}, 2, "", "testnet: --pause \"1\": want NODE@BLOCK[,resume@BLOCK]\n"},
		{"unknown flag", []string{"--frobnicate"}, 2, "", "testnet: unknown flag -frobnicate (see testnet --help)\n"},
		{"bad value", []string{"--nodes", "x"}, 2, "", "testnet: invalid value \"x\" for flag -nodes: parse error (see testnet --help)\n"},
		{"argument", []string{"extra"}, 2, "", "testnet: unexpected argument \"extra\" (see testnet --help)\n"},
		{"negative bitfield delay", []string{"--bitfield-delay", "-1s", "--in-process"}, 2, "",
			"testnet: --bitfield-delay \"-1s\": want a duration such as 1.5s, or 0 to sign on import\n"},
		{"bitfield delay past the slot", []string{"--bitfield-delay", "1s", "--in-process"}, 2, "",
			"testnet: --bitfield-delay 1s must be shorter than the slot (1s)\n"},
		{"log level", []string{"--log-level", "loud"}, 2, "", "testnet: --log-level \"loud\": want debug, info, warn or error\n"},
		{"cpu profile", []string{"--in-process", "--cpuprofile", "/nonexistent/cpu.prof"}, 1, "",
			"testnet: --cpuprofile: open /nonexistent/cpu.prof: no such file or directory\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), c.args, &stdout, &stderr)
			if code != c.code || stdout.String() != c.stdout || stderr.String() != c.stderr {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), c.code, c.stdout, c.stderr)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), usage) ||
		!strings.Contains(stdout.String(), "-pause value") || stderr.Len() != 0 {
		t.Fatalf("help: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// syncBuffer is a bytes.Buffer the test reads while run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type reportFields struct {
	Version     string   `json:"version"`
	Flags       []string `json:"flags"`
	GenesisHash string   `json:"genesis_hash"`
	StartedAt   string   `json:"started_at"`
	EndedAt     string   `json:"ended_at"`
	Pass        bool     `json:"pass"`
	Interrupted bool     `json:"interrupted"`
	BaseDir     string   `json:"base_dir"`
	Blocks      []struct {
		Number     int    `json:"number"`
		ParentHash string `json:"parent_hash"`
		Timestamp  string `json:"timestamp"`
	} `json:"blocks"`
}

func readReport(t *testing.T, path string) reportFields {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r reportFields
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []string{r.StartedAt, r.EndedAt} {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("time %q: %v", ts, err)
		}
	}
	return r
}

// TestInterruptedRun: --blocks 0 runs until the context ends (Ctrl-C);
// the summary and the report cover what ran, the base dir (created when
// missing) is kept with network.json, the CPU profile is written, and the
// exit status is 0.
func TestInterruptedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	dir := filepath.Join(t.TempDir(), "new", "base")
	report := filepath.Join(t.TempDir(), "report.json")
	profile := filepath.Join(t.TempDir(), "cpu.prof")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	args := []string{"--in-process", "--nodes", "3", "--paras", "1", "--blocks", "0", "--slot", "700ms",
		"--base-dir", dir, "--report", report, "--cpuprofile", profile}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stdout.String(), "\n     3  0x") {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no block 3 within a minute:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not end after the interrupt")
	}
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out, stderr.String())
	}
	for _, want := range []string{"waiting for block 1: slot 1 ", "\nsummary (interrupted): ", "  base dir: " + dir,
		"report written to " + report + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A pprof profile is gzipped protobuf.
	if raw, err := os.ReadFile(profile); err != nil || len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Errorf("cpu profile: %d bytes, %v", len(raw), err)
	}
	r := readReport(t, report)
	if !r.Pass || !r.Interrupted || r.BaseDir != dir || r.Version != buildinfo.Version() ||
		strings.Join(r.Flags, " ") != strings.Join(args, " ") || len(r.Blocks) < 3 || r.Blocks[0].Number != 1 ||
		r.Blocks[1].ParentHash == "" || r.Blocks[0].Timestamp == "" || !strings.HasPrefix(r.GenesisHash, "0x") {
		t.Fatalf("report: %+v", r)
	}
	var net struct {
		GenesisHash string `json:"genesis_hash"`
		ChainSpec   string `json:"chain_spec"`
		Nodes       []struct {
			Index     int    `json:"index"`
			Validator string `json:"validator"`
			PeerID    string `json:"peer_id"`
		} `json:"nodes"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &net); err != nil {
		t.Fatal(err)
	}
	if net.GenesisHash != r.GenesisHash || net.ChainSpec != filepath.Join(dir, "chain.json") || len(net.Nodes) != 3 ||
		net.Nodes[2].Validator != "//Charlie" || net.Nodes[2].PeerID == "" {
		t.Fatalf("network.json: %s", raw)
	}
}
