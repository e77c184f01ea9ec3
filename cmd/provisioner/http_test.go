package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/testnet"
	"github.com/polkadot-provisioner/provisioner/types"
)

func get(t testing.TB, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func compactJSON(t testing.TB, s string) string {
	t.Helper()
	return compact(t, []byte(s))
}

func TestHTTPEndpointsFake(t *testing.T) {
	best := testnet.BlockRef{Number: 7, Hash: types.Hash{0xaa}}
	other := testnet.BlockRef{Number: 6, Hash: types.Hash{0xbb}}
	pid := mustPeer(t)
	base := snapshot{Name: "Alice", Version: "1.2.3", PeerID: "12D3KooWself", Genesis: "0x01", Best: best}
	cases := []struct {
		name   string
		snap   snapshot
		code   int
		health string
	}{
		{"healthy", func() snapshot {
			s := base
			s.Leaves, s.PeersTotal, s.ValidatorPeers = []testnet.BlockRef{best, other}, 3, 2
			return s
		}(), 200, `{"status":"ok","reasons":[],"name":"Alice","version":"1.2.3","peer_id":"12D3KooWself","genesis":"0x01","best":{"number":7,"hash":"0xaa00000000000000000000000000000000000000000000000000000000000000"},"active_leaves":2,"peers":3,"validator_peers":2}`},
		{"no peers", func() snapshot {
			s := base
			s.Leaves = []testnet.BlockRef{best}
			return s
		}(), 503, `{"status":"unhealthy","reasons":["no peers"],"name":"Alice","version":"1.2.3","peer_id":"12D3KooWself","genesis":"0x01","best":{"number":7,"hash":"0xaa00000000000000000000000000000000000000000000000000000000000000"},"active_leaves":1,"peers":0,"validator_peers":0}`},
		{"no leaf", func() snapshot {
			s := base
			s.PeersTotal = 1
			return s
		}(), 503, `{"status":"unhealthy","reasons":["no active leaf"],"name":"Alice","version":"1.2.3","peer_id":"12D3KooWself","genesis":"0x01","best":{"number":7,"hash":"0xaa00000000000000000000000000000000000000000000000000000000000000"},"active_leaves":0,"peers":1,"validator_peers":0}`},
	}
	peers := []p2p.PeerInfo{
		{ID: pid, Addrs: []string{"/ip4/10.0.0.1/tcp/30333"}, Score: 1.5, HasScore: true, Topics: []string{"bitfield", "backed"},
			Validator: &p2p.PeerValidator{Index: 4, Session: 1}, Validators: []p2p.PeerValidator{{Index: 4, Session: 1}}},
		// A node hosting virtual validators proves each of them.
		{ID: pid, Addrs: []string{"/ip4/10.0.0.2/tcp/30333"}, Topics: []string{"bitfield"},
			Validator:  &p2p.PeerValidator{Index: 2, Session: 3},
			Validators: []p2p.PeerValidator{{Index: 2, Session: 3}, {Index: 12, Session: 3}, {Index: 22, Session: 3}}},
		{ID: pid, Topics: nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHTTPHandler(newNodeMetrics("Alice").gatherer, nodeView{
				snapshot: func() snapshot { return c.snap },
				peers:    func() []p2p.PeerInfo { return peers },
			}, false)
			code, body := get(t, h, "/health")
			if code != c.code || compactJSON(t, body) != c.health {
				t.Fatalf("/health %d %s\nwant %d %s", code, compactJSON(t, body), c.code, c.health)
			}
		})
	}
	h := newHTTPHandler(newNodeMetrics("Alice").gatherer, nodeView{
		snapshot: func() snapshot { return cases[0].snap },
		peers:    func() []p2p.PeerInfo { return peers },
	}, false)
	code, body := get(t, h, "/peers")
	wantPeers := `[{"peer_id":"` + pid.String() + `","addresses":["/ip4/10.0.0.1/tcp/30333"],"score":1.5,"topics":["bitfield","backed"],"is_validator":true,"validator":{"index":4,"session":1},"validators":[{"index":4,"session":1}]},` +
		`{"peer_id":"` + pid.String() + `","addresses":["/ip4/10.0.0.2/tcp/30333"],"score":null,"topics":["bitfield"],"is_validator":true,"validator":{"index":2,"session":3},` +
		`"validators":[{"index":2,"session":3},{"index":12,"session":3},{"index":22,"session":3}]},` +
		`{"peer_id":"` + pid.String() + `","addresses":[],"score":null,"topics":[],"is_validator":false,"validator":null,"validators":[]}]`
	if code != 200 || compactJSON(t, body) != wantPeers {
		t.Fatalf("/peers %d %s\nwant %s", code, compactJSON(t, body), wantPeers)
	}
	code, body = get(t, h, "/leaves")
	wantLeaves := `[{"number":7,"hash":"0xaa00000000000000000000000000000000000000000000000000000000000000"},{"number":6,"hash":"0xbb00000000000000000000000000000000000000000000000000000000000000"}]`
	if code != 200 || compactJSON(t, body) != wantLeaves {
		t.Fatalf("/leaves %d %s", code, body)
	}
	for _, path := range []string{"/", "/nope", "/debug/pprof/", "/metrics/x", "/healthz"} {
		if code, _ := get(t, h, path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
	withPprof := newHTTPHandler(newNodeMetrics("Alice").gatherer, nodeView{
		snapshot: func() snapshot { return cases[0].snap },
		peers:    func() []p2p.PeerInfo { return peers },
	}, true)
	if code, body := get(t, withPprof, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ with --pprof: %d", code)
	}
	if code, _ := get(t, withPprof, "/nope"); code != 404 {
		t.Fatalf("/nope with --pprof: %d", code)
	}
}

func mustPeer(t testing.TB) peer.ID {
	t.Helper()
	k, err := p2p.ParseNodeKey(aliceNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	id, err := p2p.NodeKeyPeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestStatusLine(t *testing.T) {
	s := snapshot{Name: "Alice", Best: testnet.BlockRef{Number: 12, Hash: types.Hash{0xab, 0xcd}},
		Leaves: []testnet.BlockRef{{}}, PeersTotal: 5, ValidatorPeers: 3,
		Held: testnet.Held{Bitfields: 9, Candidates: 2, Disputes: 1}}
	cases := []struct {
		name string
		mod  func(*snapshot)
		line string
		warn bool
	}{
		{"normal", func(*snapshot) {},
			"Alice: best #12 (0xabcd…0000), 1 active leaves, 5 peers (3 validators, 2 others), held for the best leaf: 9 bitfields, 2 candidates; 1 disputes, 0 misbehaviour reports", false},
		{"no peers", func(s *snapshot) { s.PeersTotal, s.ValidatorPeers = 0, 0 },
			"Alice: best #12 (0xabcd…0000), 1 active leaves, 0 peers (0 validators, 0 others), held for the best leaf: 9 bitfields, 2 candidates; 1 disputes, 0 misbehaviour reports; no peers", true},
		{"bootnode and foreign", func(s *snapshot) { s.Unreachable, s.ForeignPeers = 1, 2 },
			"Alice: best #12 (0xabcd…0000), 1 active leaves, 5 peers (3 validators, 2 others), held for the best leaf: 9 bitfields, 2 candidates; 1 disputes, 0 misbehaviour reports; 1 bootnodes unreachable; 2 peers on another network", false},
	}
	for _, c := range cases {
		s := s
		c.mod(&s)
		line, warn := statusLine(s)
		if line != c.line || warn != c.warn {
			t.Errorf("%s:\n got %q %v\nwant %q %v", c.name, line, warn, c.line, c.warn)
		}
	}
}

// startTestNode starts an in-process testnet node on loopback; Run is
// never called (the chain's slots start in an hour), so the node keeps its
// genesis leaf.
func startTestNode(t testing.TB, g *testnet.Genesis, validator int, cfg func(*testnet.NodeConfig)) *testnet.Node {
	t.Helper()
	nc := testnet.NodeConfig{Genesis: g, Validator: validator, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}
	if cfg != nil {
		cfg(&nc)
	}
	n, err := testnet.StartNode(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = n.Run(ctx) // returns at once and shuts the node down
	})
	return n
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeHTTPLive runs two validator nodes, the second hosting validators
// 1 and 3 of 4, and checks the endpoints and the metrics of the first.
func TestNodeHTTPLive(t *testing.T) {
	_, g := writeChain(t, 4)
	m := newNodeMetrics("Alice")
	a := startTestNode(t, g, 0, func(c *testnet.NodeConfig) {
		c.Registerer, c.LibP2PMetrics = m.reg, m.reg
	})
	view := nodeSnapshotter(a, "Alice")
	m.observe(view.snapshot)
	h := newHTTPHandler(m.gatherer, view, false)

	if code, body := get(t, h, "/health"); code != 503 || !strings.Contains(body, `"reasons": [
    "no peers"
  ]`) {
		t.Fatalf("/health alone: %d %s", code, body)
	}
	b := startTestNode(t, g, 1, func(c *testnet.NodeConfig) { c.Validators = []int{1, 3} })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Net().Connect(ctx, b.Net().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b verified as validators 1 and 3", func() bool {
		return len(a.Net().PeerValidators(b.Net().ID())) == 2
	})

	code, body := get(t, h, "/health")
	var hj healthJSON
	if err := json.Unmarshal([]byte(body), &hj); err != nil {
		t.Fatal(err)
	}
	gh := g.GenesisHeader()
	genesisLeaf := gh.Hash()
	want := healthJSON{Status: "ok", Reasons: []string{}, Name: "Alice", Version: buildinfo.Version(),
		PeerID: a.Net().ID().String(), Genesis: g.Hash().String(), Best: blockJSON{Number: 0, Hash: genesisLeaf},
		ActiveLeaves: 1, Peers: 1, ValidatorPeers: 1}
	if code != 200 || !reflectEqualJSON(t, hj, want) {
		t.Fatalf("/health %d %+v\nwant 200 %+v", code, hj, want)
	}
	code, body = get(t, h, "/peers")
	var pj []peerJSON
	if err := json.Unmarshal([]byte(body), &pj); err != nil {
		t.Fatal(err)
	}
	s := uint32(g.Session)
	if code != 200 || len(pj) != 1 || pj[0].PeerID != b.Net().ID().String() || !pj[0].IsValidator ||
		*pj[0].Validator != (validatorJSON{Index: 1, Session: s}) || len(pj[0].Addresses) != 1 ||
		!slices.Equal(pj[0].Validators, []validatorJSON{{Index: 1, Session: s}, {Index: 3, Session: s}}) {
		t.Fatalf("/peers %d %s", code, body)
	}
	code, body = get(t, h, "/leaves")
	if wantLeaves := `[{"number":0,"hash":"` + genesisLeaf.String() + `"}]`; code != 200 || compactJSON(t, body) != wantLeaves {
		t.Fatalf("/leaves %d %s, want %s", code, body, wantLeaves)
	}

	code, body = get(t, h, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	fams := parseMetrics(t, body)
	for _, c := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"substrate_build_info", map[string]string{"chain": "testnet", "name": "Alice", "version": buildinfo.Version()}, 1},
		{"substrate_block_height", map[string]string{"chain": "testnet", "status": "best"}, 0},
		{"substrate_sub_libp2p_peers_count", map[string]string{"chain": "testnet"}, 1},
		{"provisioner_node_validator_peers", map[string]string{"chain": "testnet"}, 1},
		{"provisioner_p2p_validator_records_total", map[string]string{"chain": "testnet", "result": "verified"}, 1},
		{"provisioner_p2p_gossip_rejected_total", map[string]string{"chain": "testnet", "topic": "bitfield", "reason": "bad_signature"}, 0},
		{"provisioner_p2p_gossip_ignored_total", map[string]string{"chain": "testnet", "topic": "backed", "reason": "unknown_group"}, 0},
		{"provisioner_p2p_inherent_requests_total", map[string]string{"chain": "testnet", "code": "busy"}, 0},
		{"polkadot_parachain_inherent_data_requests_total", map[string]string{"chain": "testnet", "success": "failed"}, 0},
		{"polkadot_parachain_provisioner_partitioned_disputes", map[string]string{"chain": "testnet", "partition": "misbehavior"}, 0},
	} {
		if got, ok := metricValue(fams, c.name, c.labels); !ok || got != c.value {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.value)
		}
	}
	start, ok := metricValue(fams, "substrate_process_start_time_seconds", map[string]string{"chain": "testnet"})
	if !ok || start > float64(time.Now().Unix()) || start < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("substrate_process_start_time_seconds = %v", start)
	}
	for _, name := range []string{"libp2p_rcmgr_connections", "libp2p_identify_addrs_count"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("libp2p metric %s missing", name)
		}
	}
	// Every series carries the chain label.
	for name, mf := range fams {
		for _, s := range mf.GetMetric() {
			if !hasLabel(s, "chain", "testnet") {
				t.Fatalf("%s has a series without chain=\"testnet\"", name)
			}
		}
	}
	checkDashboard(t, fams)
}

func reflectEqualJSON(t testing.TB, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func parseMetrics(t testing.TB, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// metricValue finds the series of name whose labels include labels.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		match := true
		for k, v := range labels {
			if !hasLabel(m, k, v) {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

var metricNameRE = regexp.MustCompile(`\b(?:substrate|polkadot|provisioner|libp2p|process|go)_[a-zA-Z0-9_]+`)

// checkDashboard: every metric the Grafana dashboard queries is one the
// node exposes (histograms by their _bucket/_sum/_count series).
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../../testnet/grafana/provisioner-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Type != "datasource" {
		t.Fatal("dashboard has no datasource variable")
	}
	exposed := map[string]bool{}
	for name, mf := range fams {
		exposed[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exposed[name+s] = true
			}
		}
	}
	var queried []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(string(raw), "${datasource}") {
				t.Fatal("panels do not use the datasource variable")
			}
			for _, name := range metricNameRE.FindAllString(tg.Expr, -1) {
				queried = append(queried, name)
				if !exposed[name] {
					t.Errorf("panel %q queries %s, which the node does not expose", p.Title, name)
				}
			}
		}
	}
	slices.Sort(queried)
	if len(slices.Compact(queried)) < 15 {
		t.Errorf("dashboard queries only %d metrics", len(queried))
	}
}
