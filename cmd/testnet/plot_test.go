package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

func fp(v float64) *float64 { return &v }

// writeReport writes a process-mode report of v validators whose nodes
// cost v/50 CPU seconds and 1000 v bytes sent per block.
func writeReport(t *testing.T, dir string, v int) string {
	t.Helper()
	rep := &testnet.Report{Validators: v, Nodes: v, Paras: 2, Cores: 2, SlotMillis: 1000}
	for i := range v {
		rep.NodesResources = append(rep.NodesResources, testnet.NodeResources{Node: i, Scope: "process",
			CPUSeconds: fp(1), BlocksMeasured: 19, CPUSecondsPerBlock: fp(float64(v) / 50),
			BytesSentPerBlock: fp(1000 * float64(v)), BytesReceivedPerBlock: fp(900 * float64(v))})
	}
	path := filepath.Join(dir, fmt.Sprintf("r%02d.json", v))
	if err := rep.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlotUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeReport(t, dir, 3)
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{\"validators\": \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, []byte(`{"validators": 3, "blocks": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no reports", []string{"plot"}, 2, "testnet plot: no reports (usage: testnet plot [--html FILE] REPORT.json...)\n"},
		{"unknown flag", []string{"plot", "--svg", good}, 2, "testnet plot: unknown flag -svg (see testnet plot --help)\n"},
		{"html without file", []string{"plot", "--html"}, 2, "testnet plot: flag needs an argument: -html (see testnet plot --help)\n"},
		{"flag after reports", []string{"plot", good, "--html", "x.html"}, 2,
			"testnet plot: flag --html after the reports: flags go first (see testnet plot --help)\n"},
		{"missing file", []string{"plot", good, missing}, 1,
			"testnet plot: read report: open " + missing + ": no such file or directory\n"},
		{"a directory", []string{"plot", dir}, 1, "testnet plot: read report: read " + dir + ": is a directory\n"},
		{"not JSON", []string{"plot", garbage}, 1, "testnet plot: " + garbage + ": not a testnet report: unexpected EOF\n"},
		{"no measurements", []string{"plot", old}, 1, "testnet plot: " + old + ": no nodes_resources or process_resources\n"},
		{"unwritable html", []string{"plot", "--html", filepath.Join(dir, "no", "such", "dir.html"), good}, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), c.args, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, stderr.String())
			}
			if strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "testnet plot: ") {
				t.Errorf("stderr is not one line: %q", stderr.String())
			}
			if c.stderr != "" && stderr.String() != c.stderr {
				t.Errorf("stderr:\n got %q\nwant %q", stderr.String(), c.stderr)
			}
		})
	}
}

func TestPlotScaling(t *testing.T) {
	dir := t.TempDir()
	r10, r3, r5 := writeReport(t, dir, 10), writeReport(t, dir, 3), writeReport(t, dir, 5)
	page := filepath.Join(dir, "scaling.html")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"plot", "--html", page, r10, r3, r5}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// Reports in the order given; the page sorts by validators.
	want := strings.Join([]string{
		"report                    validators  blocks  cpu s/node/block  sent B/node/block  recv B/node/block  cpu from",
		pad(r10) + "          10      19            0.2000              10000               9000  node processes, from block 1",
		pad(r3) + "           3      19            0.0600               3000               2700  node processes, from block 1",
		pad(r5) + "           5      19            0.1000               5000               4500  node processes, from block 1",
		"plots written to " + page, ""}, "\n")
	if stdout.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "<svg "); n != 2 {
		t.Errorf("%d <svg>, want 2", n)
	}
	if strings.Contains(string(raw), "<script") || strings.Contains(string(raw), "<link") {
		t.Error("the page loads something")
	}
	left, err := filepath.Glob(filepath.Join(dir, ".testnet-plot-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("temporary files left: %v %v", left, err)
	}
}

// pad is the table's report column.
func pad(s string) string { return s + strings.Repeat(" ", max(0, 24-len(s))) }

func TestPlotHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"plot", "--help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "testnet plot: scaling curves") || !strings.Contains(stdout.String(), "-html") {
		t.Fatalf("help: %s", stdout.String())
	}
}
