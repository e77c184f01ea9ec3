// Package readmetest runs the README's "Running nodes by hand" recipe as
// written, so that the recipe a newcomer copies keeps working.
package readmetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	beginMarker = "<!-- recipe:begin -->"
	endMarker   = "<!-- recipe:end -->"
)

// recipe returns the shell block between the README's recipe markers.
func recipe(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	_, after, ok := strings.Cut(s, beginMarker)
	block, _, ok2 := strings.Cut(after, endMarker)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %s ... %s block", beginMarker, endMarker)
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```sh")
	block = strings.TrimSuffix(block, "```")
	return strings.TrimSpace(block)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func TestReadmeRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two node processes for about 20 s")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the recipe uses curl, which is not on PATH")
	}
	script := recipe(t)
	// The recipe as a user runs it, with three substitutions a test needs:
	// binaries built here instead of `make build`, a private directory
	// instead of /tmp/provisioner-demo, and free ports instead of the
	// well-known ones (another process may hold them).
	lines := strings.Split(script, "\n")
	if strings.TrimSpace(lines[0]) != "make build" {
		t.Fatalf("recipe should start with `make build`, starts with %q", lines[0])
	}
	script = strings.Join(lines[1:], "\n")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "../../../cmd/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "demo")
	replacements := []string{"/tmp/provisioner-demo", dir, "bin/", bin + "/"}
	for _, port := range []string{"30333", "30334", "9615", "9616"} {
		if !strings.Contains(script, port) {
			t.Fatalf("recipe no longer uses port %s; update this test", port)
		}
		replacements = append(replacements, port, freePort(t))
	}
	script = strings.NewReplacer(replacements...).Replace(script)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The script starts nodes in the background; whatever happens, none
	// may outlive the test (they would hold its output pipes open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	logs := func() string {
		a, _ := os.ReadFile(filepath.Join(dir, "alice.log"))
		b, _ := os.ReadFile(filepath.Join(dir, "bob.log"))
		return fmt.Sprintf("stdout:\n%s\nstderr:\n%s\nalice.log:\n%s\nbob.log:\n%s", stdout.String(), stderr.String(), a, b)
	}
	if err != nil {
		t.Fatalf("recipe failed: %v\n%s", err, logs())
	}

	spec, err := os.ReadFile(filepath.Join(dir, "chain.json"))
	if err != nil || !json.Valid(spec) {
		t.Fatalf("chain.json: %v", err)
	}
	// /health names the genesis the spec's build-spec printed, and the
	// node is healthy by then (the recipe waited for it).
	genesis := regexp.MustCompile(`"genesis": "(0x[0-9a-f]{64})"`).FindStringSubmatch(stdout.String())
	if genesis == nil {
		t.Fatalf("no genesis in /health output\n%s", logs())
	}
	if !strings.Contains(stdout.String(), `"status": "ok"`) {
		t.Fatalf("/health not healthy\n%s", logs())
	}
	// The block builder got the inherent of a real leaf, and says which.
	if !regexp.MustCompile(`blockbuilder: relay parent #\d+ 0x[0-9a-f]{64}: \d+ bitfields, \d+ backed candidates`).MatchString(stderr.String()) {
		t.Fatalf("no blockbuilder summary line\n%s", logs())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "inherent.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inh struct {
		Bitfields        []json.RawMessage `json:"bitfields"`
		BackedCandidates []json.RawMessage `json:"backed_candidates"`
		Disputes         []json.RawMessage `json:"disputes"`
		ParentHeader     struct {
			Number uint32 `json:"number"`
		} `json:"parent_header"`
	}
	if err := json.Unmarshal(raw, &inh); err != nil {
		t.Fatalf("inherent.json: %v\n%s", err, raw)
	}
	if inh.Bitfields == nil || inh.BackedCandidates == nil || inh.Disputes == nil {
		t.Fatalf("inherent.json lacks a field: %s", raw)
	}
}
