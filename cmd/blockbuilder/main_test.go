package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

var genesis = types.Blake2_256([]byte("blockbuilder test genesis"))

type noChain struct{}

func (noChain) Leaf(types.Hash) (p2p.LeafInfo, bool) { return p2p.LeafInfo{}, false }
func (noChain) BackingGroup(types.Hash, types.CoreIndex) ([]types.ValidatorIndex, int, error) {
	return nil, 0, p2p.ErrIgnore
}
func (noChain) SessionValidators(types.SessionIndex) ([]types.ValidatorID, bool) { return nil, false }

// provider: best is a leaf with data; slow is a known block whose data
// never comes in time; gone is a known block that is no active leaf.
type provider struct {
	best, slow, gone types.Header
}

func (p provider) RequestInherentData(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
	switch rp {
	case p.best.Hash():
		return &types.InherentData{ParentHeader: p.best}, nil
	case p.slow.Hash():
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, p2p.ErrUnknownLeaf
}

func (p provider) BestLeaf() (types.Hash, bool) { return p.best.Hash(), true }

func (p provider) Header(h types.Hash) (types.Header, bool) {
	for _, hdr := range []types.Header{p.best, p.slow, p.gone} {
		if hdr.Hash() == h {
			return hdr, true
		}
	}
	return types.Header{}, false
}

func hexOf(v types.Encoder) string { return "0x" + hex.EncodeToString(types.Encode(v)) }

func TestRun(t *testing.T) {
	prov := provider{
		best: types.Header{ParentHash: types.Hash{1}, Number: 41},
		slow: types.Header{ParentHash: types.Hash{2}, Number: 43},
		gone: types.Header{ParentHash: types.Hash{3}, Number: 42},
	}
	unknown := types.Header{ParentHash: types.Hash{4}, Number: 44}
	srv, err := p2p.New(context.Background(), p2p.Config{
		Genesis: genesis, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Chain: noChain{}, Inherents: prov,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	node := srv.P2PAddrs()[0]
	common := []string{"--node", node, "--genesis", genesis.String()}
	empty := func(h types.Header) string { return hexOf(&types.InherentData{ParentHeader: h}) + "\n" }
	unreachable := "/ip4/127.0.0.1/tcp/1/p2p/" + srv.ID().String()

	cases := []struct {
		name         string
		args         []string
		code         int
		stdout       string
		stderr       string // exact, or a prefix when stderrPrefix
		stderrPrefix bool
	}{
		{"version", []string{"--version"}, 0, buildinfo.Line("blockbuilder") + "\n", "", false},
		{"best leaf", append([]string{"--relay-parent", "best"}, common...), 0, empty(prov.best),
			"blockbuilder: relay parent #41 " + prov.best.Hash().String() + ": 0 bitfields, 0 backed candidates, 0 dispute sets, ", true},
		{"error without fallback", append([]string{"--relay-parent", prov.gone.Hash().String()}, common...), 1, "",
			"blockbuilder: remote: unknown_leaf: relay parent is not an active leaf\n", false},
		{"fallback with the node's header", append([]string{"--relay-parent", prov.gone.Hash().String(), "--fallback-empty"}, common...), 0,
			empty(prov.gone),
			"blockbuilder: warning: empty inherent on #42 " + prov.gone.Hash().String() + ": remote: unknown_leaf: relay parent is not an active leaf\n", false},
		{"fallback past the deadline", append([]string{"--relay-parent", prov.slow.Hash().String(), "--fallback-empty", "--timeout", "400ms"}, common...), 0,
			empty(prov.slow),
			"blockbuilder: warning: empty inherent on #43 " + prov.slow.Hash().String() + ": remote: not_ready: no inherent data within ", true},
		{"fallback without any header", append([]string{"--relay-parent", unknown.Hash().String(), "--fallback-empty"}, common...), 1, "",
			"blockbuilder: no parent header for the empty inherent (remote: unknown_leaf: relay parent is not an active leaf); pass --parent-header HEX\n", false},
		{"fallback with --parent-header", append([]string{"--parent-header", hexOf(&unknown), "--fallback-empty"}, common...), 0,
			empty(unknown),
			"blockbuilder: warning: empty inherent on #44 " + unknown.Hash().String() + ": remote: unknown_leaf: relay parent is not an active leaf\n", false},
		{"unreachable node with --parent-header", []string{"--node", unreachable, "--genesis", genesis.String(),
			"--parent-header", hexOf(&unknown), "--fallback-empty", "--timeout", "500ms"}, 0, empty(unknown),
			"blockbuilder: warning: empty inherent on #44 " + unknown.Hash().String() + ": connect to " + srv.ID().String(), true},
		{"header does not match", append([]string{"--relay-parent", prov.gone.Hash().String(), "--parent-header", hexOf(&unknown)}, common...), 2, "",
			"blockbuilder: --parent-header hashes to " + unknown.Hash().String() + ", not --relay-parent " + prov.gone.Hash().String() + "\n", false},
		{"zero relay parent", append([]string{"--relay-parent", types.Hash{}.String()}, common...), 2, "",
			"blockbuilder: --relay-parent: the zero hash is no block; use best for the node's best leaf\n", false},
		{"bad header", append([]string{"--parent-header", "0x00"}, common...), 2, "", "blockbuilder: --parent-header: ", true},
		{"missing relay parent", common, 2, "", "blockbuilder: --node, --genesis and --relay-parent are required (see blockbuilder -h)\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(c.args, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr.String())
			}
			if stdout.String() != c.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), c.stdout)
			}
			got := stderr.String()
			if c.stderrPrefix {
				if !strings.HasPrefix(got, c.stderr) || strings.Count(got, "\n") != 1 {
					t.Errorf("stderr %q, want one line starting %q", got, c.stderr)
				}
			} else if got != c.stderr {
				t.Errorf("stderr %q, want %q", got, c.stderr)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
