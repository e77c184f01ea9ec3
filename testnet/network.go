package testnet

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NodeInfo is one row of the node table and of network.json.
type NodeInfo struct {
	Index     int    `json:"index"`
	Validator string `json:"validator"` // secret URI of its key, e.g. //Alice
	PeerID    string `json:"peer_id"`
	Listen    string `json:"listen"`    // multiaddr without the peer id
	Multiaddr string `json:"multiaddr"` // with it: a bootnode or blockbuilder --node address
	// MetricsURL is empty for in-process nodes, whose metrics live in the
	// testnet's own process.
	MetricsURL string `json:"metrics_url,omitempty"`
	// Log is empty for in-process nodes, which log to the testnet's stderr.
	Log       string `json:"log,omitempty"`
	Adversary bool   `json:"adversary,omitempty"`
}

// NetworkInfo is what network.json in the base dir holds: enough to reach
// every node by hand (blockbuilder, curl, Prometheus) while the testnet runs.
type NetworkInfo struct {
	GenesisHash   string     `json:"genesis_hash"`
	ChainSpec     string     `json:"chain_spec"`
	GenesisUnixMS int64      `json:"genesis_unix_ms"`
	SlotMillis    int64      `json:"slot_ms"`
	Observer      ObserverIn `json:"observer"`
	Nodes         []NodeInfo `json:"nodes"`
	// Prometheus is the scrape config's path; empty when no node serves
	// metrics over HTTP (in process).
	Prometheus string `json:"prometheus_config,omitempty"`
}

// ObserverIn is the testnet's own peer, which follows the chain.
type ObserverIn struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// WriteNodeTable prints the node table.
func WriteNodeTable(w io.Writer, nodes []NodeInfo) {
	fmt.Fprintf(w, "%4s  %-12s  %-52s  %-26s  %-32s  %s\n", "node", "validator", "peer id", "listen", "metrics", "log")
	for _, n := range nodes {
		name := n.Validator
		if n.Adversary {
			name += " (adv)"
		}
		fmt.Fprintf(w, "%4d  %-12s  %-52s  %-26s  %-32s  %s\n", n.Index, name, n.PeerID, n.Listen,
			dash(n.MetricsURL), dash(n.Log))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeNetworkFiles writes network.json and, when some node serves
// metrics, prometheus.yml into dir.
func writeNetworkFiles(dir string, info NetworkInfo) error {
	info.Prometheus = ""
	if yml := PrometheusConfig(info.Nodes); yml != "" {
		info.Prometheus = filepath.Join(dir, "prometheus.yml")
		if err := os.WriteFile(info.Prometheus, []byte(yml), 0o644); err != nil {
			return fmt.Errorf("prometheus config: %w", err)
		}
	}
	raw, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "network.json"), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("network.json: %w", err)
	}
	return nil
}

// PrometheusConfig is a Prometheus scrape config for the nodes that serve
// metrics (empty when none does): one target group per node, labelled
// with its index and validator, so dashboards can tell nodes apart.
func PrometheusConfig(nodes []NodeInfo) string {
	var b strings.Builder
	b.WriteString("# Prometheus scrape config of a provisioner testnet, written by testnet.\n")
	b.WriteString("# prometheus --config.file=prometheus.yml\n")
	b.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
	b.WriteString("scrape_configs:\n  - job_name: provisioner-testnet\n    metrics_path: /metrics\n    static_configs:\n")
	targets := 0
	for _, n := range nodes {
		host, ok := strings.CutPrefix(n.MetricsURL, "http://")
		if !ok {
			continue
		}
		host = strings.TrimSuffix(host, "/metrics")
		fmt.Fprintf(&b, "      - targets: [%s]\n        labels:\n          node: %s\n          validator: %s\n",
			strconv.Quote(host), strconv.Quote(strconv.Itoa(n.Index)), strconv.Quote(n.Validator))
		targets++
	}
	if targets == 0 {
		return ""
	}
	return b.String()
}
