package testnet

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteSummary(t *testing.T) {
	rep := &Report{
		Validators: 4, Paras: 3, Cores: 3, SlotMillis: 1000,
		Blocks:              []BlockReport{{Number: 1}, {Number: 2, Fork: true}},
		ParasIncluded:       map[string]int{"2010": 1, "2002": 7, "2000": 9},
		Bitfields:           BitfieldStats{Signed: 8, InInherent: 8, Ratio: 1},
		GossipMillis:        Percentiles{P50: 1.25, P99: 9.5},
		BitfieldDelayMillis: 250,
		RejectedMessages:    map[string]float64{"validator_index": 2, "bad_signature": 16, "decode": 432, "oversize": 0},
		IgnoredMessages:     map[string]float64{"duplicate": 0},
		DroppedMessages:     map[string]float64{"outbound_rpc": 3, "frame_stalled": 1},
		DroppedByNode:       map[int]map[string]float64{2: {"outbound_rpc": 3}, 0: {"frame_stalled": 1}},
		Faults:              []string{"node 1 killed at block 2"},
		Checks:              []Check{{Name: "blocks", Pass: true, Detail: "2 of 2 blocks"}, {Name: "bitfields_included", Detail: "x"}},
		Interrupted:         true,
		BaseDir:             "/tmp/tn",
	}
	var b bytes.Buffer
	rep.WriteSummary(&b)
	want := `
summary (interrupted): 2 blocks, 4 validators, 3 paras on 3 cores, slot 1000 ms
  paras included: 2000:9 2002:7 2010:1
  bitfields: 8 signed 250 ms after import, 8 in the next block (100.00%); gossip p50 1.2 ms, p99 9.5 ms
  rejected messages: bad_signature 16, decode 432, validator_index 2 (450 in all)
  ignored messages: none
  dropped messages: frame_stalled 1, outbound_rpc 3 (4 in all); node 0: frame_stalled 1 (1 in all); node 2: outbound_rpc 3 (3 in all)
  forks: 1 blocks did not build on the previous best
  fault: node 1 killed at block 2
  PASS blocks                 2 of 2 blocks
  FAIL bitfields_included     x
  base dir: /tmp/tn (chain.json, network.json, node-N/node.log)
`
	if b.String() != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestReportJSONFields(t *testing.T) {
	rep := &Report{Version: "v1.2.3", Flags: []string{"--nodes", "3"}, Seed: 7, GenesisHash: "0xab",
		StartedAt: "2026-01-02T03:04:05.000Z", EndedAt: "2026-01-02T03:05:05.000Z", Pass: true,
		Blocks: []BlockReport{{Number: 1, Hash: "0x01", ParentHash: "0x00", Slot: 1, Timestamp: "2026-01-02T03:04:06.000Z"}}}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"version": "v1.2.3", "seed": 7.0, "genesis_hash": "0xab", "pass": true,
		"started_at": "2026-01-02T03:04:05.000Z", "ended_at": "2026-01-02T03:05:05.000Z"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if f, _ := json.Marshal(m["flags"]); string(f) != `["--nodes","3"]` {
		t.Errorf("flags = %s", f)
	}
	b := m["blocks"].([]any)[0].(map[string]any)
	if b["parent_hash"] != "0x00" || b["timestamp"] != "2026-01-02T03:04:06.000Z" || b["slot"] != 1.0 {
		t.Errorf("block = %v", b)
	}
	if _, ok := b["fork"]; ok {
		t.Errorf("fork present on a block that is none: %v", b)
	}
}

func TestParseGossipCounters(t *testing.T) {
	text := `# HELP provisioner_p2p_gossip_rejected_total Rejected.
# TYPE provisioner_p2p_gossip_rejected_total counter
provisioner_p2p_gossip_rejected_total{reason="decode",topic="bitfield"} 3
provisioner_p2p_gossip_rejected_total{reason="decode",topic="backed"} 4
provisioner_p2p_gossip_rejected_total{topic="dispute",reason="bad_signature"} 1e+00
# TYPE provisioner_p2p_gossip_ignored_total counter
provisioner_p2p_gossip_ignored_total{reason="duplicate",topic="bitfield"} 12
# TYPE provisioner_p2p_dropped_total counter
provisioner_p2p_dropped_total{queue="outbound_rpc"} 2
provisioner_p2p_dropped_total{queue="validation_queue"} 0
# TYPE provisioner_p2p_frames_refused_total counter
provisioner_p2p_frames_refused_total{reason="budget"} 1
# TYPE provisioner_p2p_parked_total counter
provisioner_p2p_parked_total{result="parked"} 40
provisioner_p2p_parked_total{result="replayed"} 30
provisioner_p2p_parked_total{result="expired"} 4
provisioner_p2p_parked_total{result="full"} 0
# TYPE polkadot_parachain_provisioner_discarded_data_total counter
polkadot_parachain_provisioner_discarded_data_total{kind="bitfield",reason="unoccupied"} 15
polkadot_parachain_provisioner_discarded_data_total{kind="bitfield",reason="shutdown"} 0
# TYPE other_total counter
other_total{reason="decode"} 100
`
	c, err := ParseGossipCounters(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if FormatCounts(c.Rejected) != "bad_signature 1, decode 7 (8 in all)" || FormatCounts(c.Ignored) != "duplicate 12 (12 in all)" {
		t.Fatalf("rejected %v, ignored %v", c.Rejected, c.Ignored)
	}
	if got := FormatCounts(c.Dropped); got != "frame_budget 1, outbound_rpc 2, parked_expired 4 (7 in all)" {
		t.Fatalf("dropped %v: %s", c.Dropped, got)
	}
	if len(c.Discarded) != 1 || c.Discarded["bitfield/unoccupied"] != 15 {
		t.Fatalf("discarded %v", c.Discarded)
	}
	if _, err := ParseGossipCounters(strings.NewReader("metric{ 1\n")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestPrometheusConfig(t *testing.T) {
	nodes := []NodeInfo{
		{Index: 0, Validator: "//Alice", MetricsURL: "http://127.0.0.1:9615/metrics"},
		{Index: 1, Validator: "//Bob"}, // in process: no endpoint
		{Index: 2, Validator: "//Charlie", MetricsURL: "http://127.0.0.1:9617/metrics"},
	}
	want := `# Prometheus scrape config of a provisioner testnet, written by testnet.
# prometheus --config.file=prometheus.yml
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: provisioner-testnet
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:9615"]
        labels:
          node: "0"
          validator: "//Alice"
      - targets: ["127.0.0.1:9617"]
        labels:
          node: "2"
          validator: "//Charlie"
`
	if got := PrometheusConfig(nodes); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := PrometheusConfig(nodes[1:2]); got != "" {
		t.Fatalf("config without targets: %q", got)
	}
	dir := t.TempDir()
	info := NetworkInfo{GenesisHash: "0xab", ChainSpec: filepath.Join(dir, "chain.json"), Nodes: nodes,
		Observer: ObserverIn{PeerID: "12D3", Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3"}}}
	if err := writeNetworkFiles(dir, info); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back NetworkInfo
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.GenesisHash != "0xab" || back.Prometheus != filepath.Join(dir, "prometheus.yml") || len(back.Nodes) != 3 ||
		back.Nodes[1].MetricsURL != "" || back.Observer.PeerID != "12D3" {
		t.Fatalf("network.json = %s", raw)
	}
	if yml, _ := os.ReadFile(back.Prometheus); string(yml) != want {
		t.Fatalf("prometheus.yml = %s", yml)
	}
}

func TestWaitingLine(t *testing.T) {
	slot1 := time.Unix(100, 0)
	cases := []struct {
		now  time.Time
		want string
	}{
		{slot1.Add(-3200 * time.Millisecond), "waiting for block 1: slot 1 starts in 3.2 s"},
		{slot1.Add(1500 * time.Millisecond), "waiting for block 1: slot 1 started 1.5 s ago"},
	}
	for _, c := range cases {
		if got := waitingLine(slot1, c.now); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

// TestRecorderMarksForks: a block whose parent is not the previous best is
// marked in the live table and the report.
func TestRecorderMarksForks(t *testing.T) {
	g, err := NewGenesis(4, 2, 2, 1000, 1_700_000_000_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rec := NewRecorder(g, &out)
	h0 := g.GenesisHeader()
	b1 := &Block{Header: h0}
	b1.Header.ParentHash, b1.Header.Number = h0.Hash(), 1
	h1 := b1.Header.Hash()
	rec.Block(b1, &Imported{Hash: h1, Slot: 1, Author: 1, BecameBest: true}, time.Now())
	// A sibling of block 1: its parent (genesis) is no longer the best.
	b1b := &Block{Header: b1.Header}
	b1b.Header.StateRoot[0] = 1
	rec.Block(b1b, &Imported{Hash: b1b.Header.Hash(), Slot: 2, Author: 2}, time.Now())
	rep := rec.Report(4)
	if len(rep.Blocks) != 2 || rep.Blocks[0].Fork || !rep.Blocks[1].Fork {
		t.Fatalf("forks: %+v", rep.Blocks)
	}
	if rep.Blocks[0].Timestamp != "2023-11-14T22:13:21.000Z" || rep.Blocks[0].ParentHash != h0.Hash().String() {
		t.Fatalf("block 1: %+v", rep.Blocks[0])
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || strings.Contains(lines[1], "FORK") ||
		!strings.HasSuffix(lines[2], "FORK: parent "+h0.Hash().String()[:14]+" is not the previous best") {
		t.Fatalf("table:\n%s", out.String())
	}
}

// TestAddByNode: a node's nonzero counts go into the totals and under the
// node; zeros leave no trace, and a node with nothing gets no entry.
func TestAddByNode(t *testing.T) {
	totals, byNode := map[string]float64{}, map[int]map[string]float64{}
	addByNode(totals, byNode, 3, map[string]float64{"outbound_rpc": 2, "validation_queue": 0})
	addByNode(totals, byNode, 5, map[string]float64{"outbound_rpc": 1, "frame_stalled": 4})
	addByNode(totals, byNode, 7, map[string]float64{"outbound_rpc": 0})
	if want := map[string]float64{"outbound_rpc": 3, "frame_stalled": 4}; !maps.Equal(totals, want) {
		t.Fatalf("totals %v, want %v", totals, want)
	}
	if len(byNode) != 2 || !maps.Equal(byNode[3], map[string]float64{"outbound_rpc": 2}) ||
		!maps.Equal(byNode[5], map[string]float64{"outbound_rpc": 1, "frame_stalled": 4}) {
		t.Fatalf("by node %v", byNode)
	}
}
