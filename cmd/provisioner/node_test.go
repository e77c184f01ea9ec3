package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/testnet"
)

func TestParseNodeFlags(t *testing.T) {
	base := []string{"--chain", "c.json", "--validator", "1"}
	cases := []struct {
		name              string
		args              []string
		listen            []string
		metrics, nodeName string
		pprof             bool
	}{
		{"defaults", nil, []string{"/ip4/0.0.0.0/tcp/30333"}, "", "validator-1", false},
		{"--port", []string{"--port", "30444"}, []string{"/ip4/0.0.0.0/tcp/30444"}, "", "validator-1", false},
		{"--listen", []string{"--listen", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/1/quic-v1"},
			[]string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/1/quic-v1"}, "", "validator-1", false},
		{"--prometheus-port", []string{"--prometheus-port", "9700"}, []string{"/ip4/0.0.0.0/tcp/30333"}, "127.0.0.1:9700", "validator-1", false},
		{"--prometheus-external", []string{"--prometheus-external"}, []string{"/ip4/0.0.0.0/tcp/30333"}, "0.0.0.0:9615", "validator-1", false},
		{"both prometheus flags", []string{"--prometheus-port=9701", "--prometheus-external"}, []string{"/ip4/0.0.0.0/tcp/30333"}, "0.0.0.0:9701", "validator-1", false},
		{"--metrics and --pprof", []string{"--metrics", "127.0.0.1:9999", "--pprof"}, []string{"/ip4/0.0.0.0/tcp/30333"}, "127.0.0.1:9999", "validator-1", true},
		{"--name", []string{"--name", "Alice"}, []string{"/ip4/0.0.0.0/tcp/30333"}, "", "Alice", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseNodeFlags(append(append([]string(nil), base...), c.args...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.listen, c.listen) || f.metricsAddr != c.metrics || f.name != c.nodeName || f.pprof != c.pprof {
				t.Fatalf("got listen %q metrics %q name %q pprof %v", f.listen, f.metricsAddr, f.name, f.pprof)
			}
		})
	}
	t.Run("observer name", func(t *testing.T) {
		f, err := parseNodeFlags([]string{"--chain", "c.json", "--validator", "-1"})
		if err != nil || f.name != "observer" {
			t.Fatalf("name %q, %v", f.name, err)
		}
	})
	t.Run("bitfield delay", func(t *testing.T) {
		// Unset: the node's default (0); 0s: on import (negative); else as given.
		for arg, want := range map[string]time.Duration{"": 0, "0s": -1, "0": -1, "700ms": 700 * time.Millisecond} {
			args := append([]string(nil), base...)
			if arg != "" {
				args = append(args, "--bitfield-delay", arg)
			}
			f, err := parseNodeFlags(args)
			if err != nil || f.bitfieldDelay != want {
				t.Fatalf("--bitfield-delay %q: %v, %v; want %v", arg, f.bitfieldDelay, err, want)
			}
		}
	})
	t.Run("log directives", func(t *testing.T) {
		f, err := parseNodeFlags(append(append([]string(nil), base...), "-l", "provisioner=debug,p2p=info", "--log", "warn"))
		if err != nil {
			t.Fatal(err)
		}
		want := []logDirective{{"provisioner", "debug"}, {"p2p", "info"}, {"", "warn"}}
		if !reflect.DeepEqual(f.logDirectives, want) {
			t.Fatalf("directives %+v, want %+v", f.logDirectives, want)
		}
	})
}

func TestNodeUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--port", "1", "--listen", "/ip4/0.0.0.0/tcp/1"}, "provisioner node: --port and --listen are exclusive"},
		{[]string{"--port", "70000"}, `provisioner node: invalid value "70000" for flag -port: want a port number from 0 to 65535, got "70000"`},
		{[]string{"--metrics", "127.0.0.1:1", "--prometheus-port", "2"}, "provisioner node: --metrics and --prometheus-port/--prometheus-external are exclusive"},
		{[]string{"--pprof"}, "provisioner node: --pprof needs --metrics or --prometheus-port"},
		{[]string{"--bitfield-delay", "-1s"}, `provisioner node: invalid value "-1s" for flag -bitfield-delay: negative delay -1s`},
		{[]string{"--bitfield-delay", "soon"}, `provisioner node: invalid value "soon" for flag -bitfield-delay: time: invalid duration "soon"`},
		{[]string{"--node-key", "00", "--node-key-file", "f"}, "provisioner node: --node-key and --node-key-file are exclusive"},
		{[]string{"-l", "p2p=loud"}, `provisioner node: invalid value "p2p=loud" for flag -l: log directive "p2p=loud": unknown level "loud" (debug, info, warn, error)`},
		{[]string{"--log", "=debug"}, `provisioner node: invalid value "=debug" for flag -log: log directive "=debug": empty target`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			args := append([]string{"node", "--chain", "c.json", "--validator", "0"}, c.args...)
			code, out, errOut := cli(t, "", args...)
			if code != exitUsage || out != "" || errOut != c.want+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}

func TestParseLogDirectives(t *testing.T) {
	cases := []struct {
		in   string
		want []logDirective
		err  string
	}{
		{"debug", []logDirective{{"", "debug"}}, ""},
		{"provisioner=debug,p2p=info", []logDirective{{"provisioner", "debug"}, {"p2p", "info"}}, ""},
		{"info, p2p = TRACE", []logDirective{{"", "info"}, {"p2p", "debug"}}, ""},
		{",", nil, `empty log directive ","`},
		{"p2p=", nil, `log directive "p2p=": unknown level "" (debug, info, warn, error)`},
	}
	for _, c := range cases {
		got, err := parseLogDirectives(c.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseLogDirectives(%q) = %+v, %q; want %+v, %q", c.in, got, gotErr, c.want, c.err)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	want := buildinfo.Line("provisioner") + "\n"
	for _, args := range [][]string{{"--version"}, {"-V"}, {"node", "--version"}, {"key", "--version"}, {"node", "--chain", "x", "--version"}} {
		code, out, errOut := cli(t, "", args...)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errOut, want)
		}
	}
}

// writeChain writes a small chain spec whose slots start far in the future
// (nodes in tests never author).
func writeChain(t testing.TB, validators int) (string, *testnet.Genesis) {
	t.Helper()
	g, err := testnet.NewGenesis(validators, 1, 1, 1000, time.Now().Add(time.Hour).UnixMilli(), 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain.json")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	return path, g
}

// TestNodeAddressInUse: a taken listen or metrics port stops the node with
// exactly one line naming the address.
func TestNodeAddressInUse(t *testing.T) {
	chain, _ := writeChain(t, 2)
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	heldUDP, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer heldUDP.Close()
	udpPort := heldUDP.LocalAddr().(*net.UDPAddr).Port
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"tcp listen", []string{"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)},
			fmt.Sprintf("provisioner node: network: p2p: listen /ip4/127.0.0.1/tcp/%d: address already in use", port)},
		{"quic listen", []string{"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/%d/quic-v1", udpPort)},
			fmt.Sprintf("provisioner node: network: p2p: listen /ip4/127.0.0.1/udp/%d/quic-v1: address already in use", udpPort)},
		{"metrics", []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--metrics", fmt.Sprintf("127.0.0.1:%d", port)},
			fmt.Sprintf("provisioner node: metrics address 127.0.0.1:%d: address already in use", port)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"node", "--chain", chain, "--validator", "0", "--log-level", "error"}, c.args...)
			code, out, errOut := cli(t, "", args...)
			if code != exitData || out != "" || errOut != c.want+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, c.want)
			}
		})
	}
}

// Substrate's node-template Alice bootnode key and its peer id.
const (
	aliceNodeKey = "0000000000000000000000000000000000000000000000000000000000000001"
	alicePeerID  = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
)

func TestNodeKeyCommands(t *testing.T) {
	dir := t.TempDir()
	hexFile := filepath.Join(dir, "hex")
	rawFile := filepath.Join(dir, "raw")
	if err := os.WriteFile(hexFile, []byte(aliceNodeKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	raw[31] = 1
	if err := os.WriteFile(rawFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		out, errOut string
	}{
		{"inspect hex file", "", []string{"key", "inspect-node-key", "--file", hexFile}, 0, alicePeerID + "\n", ""},
		{"inspect raw file", "", []string{"key", "inspect-node-key", "--file", rawFile}, 0, alicePeerID + "\n", ""},
		{"inspect --bin raw file", "", []string{"key", "inspect-node-key", "--bin", "--file", rawFile}, 0, alicePeerID + "\n", ""},
		{"inspect stdin", aliceNodeKey, []string{"key", "inspect-node-key"}, 0, alicePeerID + "\n", ""},
		{"inspect bad stdin", "abc", []string{"key", "inspect-node-key"}, 1, "",
			"provisioner key: invalid node key: 3 hex characters, want 64 (or 32 raw bytes; the file has 3 bytes)\n"},
		{"inspect missing file", "", []string{"key", "inspect-node-key", "--file", filepath.Join(dir, "nope")}, 1, "",
			"provisioner key: p2p: node key: open " + filepath.Join(dir, "nope") + ": no such file or directory\n"},
		{"generate refuses to overwrite", "", []string{"key", "generate-node-key", "--file", hexFile}, 1, "",
			"provisioner key: write node key: open " + hexFile + ": file exists\n"},
		{"no subcommand", "", []string{"key"}, 2, "",
			"provisioner key: missing subcommand (inspect, generate-node-key, inspect-node-key)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := cli(t, c.stdin, c.args...)
			if code != c.code || out != c.out || errOut != c.errOut {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, c.code, c.out, c.errOut)
			}
		})
	}
	t.Run("generate to file, then inspect", func(t *testing.T) {
		f := filepath.Join(dir, "new")
		code, out, errOut := cli(t, "", "key", "generate-node-key", "--file", f)
		if code != 0 || out != "" || !strings.HasPrefix(errOut, "12D3KooW") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		b, err := os.ReadFile(f)
		if err != nil || len(b) != 64 {
			t.Fatalf("key file %q, %v", b, err)
		}
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode())
		}
		if got := mustSucceed(t, "", "key", "inspect-node-key", "--file", f); got != errOut {
			t.Fatalf("inspect says %q, generate said %q", got, errOut)
		}
	})
	t.Run("generate to stdout, then inspect", func(t *testing.T) {
		code, out, errOut := cli(t, "", "key", "generate-node-key")
		if code != 0 || len(out) != 64 || !strings.HasPrefix(errOut, "12D3KooW") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if got := mustSucceed(t, out, "key", "inspect-node-key"); got != errOut {
			t.Fatalf("inspect says %q, generate said %q", got, errOut)
		}
	})
}

func TestBuildSpec(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "new", "chain.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"build-spec", "--out", out, "--validators", "3", "--paras", "2", "--slot", "1s"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	g, err := testnet.LoadGenesis(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), g.Hash().String()+"\n"; got != want {
		t.Fatalf("stdout %q, want the genesis hash %q", got, want)
	}
	if len(g.Validators) != 3 || len(g.Paras) != 2 || g.Cores != 2 || g.SlotMillis != 1000 {
		t.Fatalf("spec: %d validators, %d paras, %d cores, slot %d ms", len(g.Validators), len(g.Paras), g.Cores, g.SlotMillis)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"build-spec", "--out", out}, exitData, "provisioner build-spec: " + out + " exists (pass --force to overwrite it)\n"},
		{[]string{"build-spec"}, exitUsage, "provisioner build-spec: --out FILE is required\n"},
		{[]string{"build-spec", "--out", out, "--validators", "1"}, exitUsage, "provisioner build-spec: --validators must be at least 2\n"},
		{[]string{"build-spec", "--out", out, "--slot", "100ms"}, exitUsage, "provisioner build-spec: --slot must be at least 500ms\n"},
	}
	for _, c := range cases {
		stdout.Reset()
		stderr.Reset()
		if code := run(c.args, nil, &stdout, &stderr); code != c.code || stderr.String() != c.want {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
