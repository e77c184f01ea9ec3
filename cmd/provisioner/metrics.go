package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/testnet"
)

// nodeMetrics is the node's Prometheus registry. Everything is registered
// through reg, which adds chain="<chain>" to every series as Substrate's
// registry does, so dashboards written for Substrate nodes (and zombienet)
// select by chain the same way.
type nodeMetrics struct {
	gatherer *prometheus.Registry
	reg      prometheus.Registerer
}

func newNodeMetrics(name string) *nodeMetrics {
	r := prometheus.NewRegistry()
	m := &nodeMetrics{gatherer: r, reg: prometheus.WrapRegistererWith(prometheus.Labels{"chain": chainName}, r)}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "substrate_build_info",
		Help:        "A metric with a constant '1' value labeled by name, version",
		ConstLabels: prometheus.Labels{"name": name, "version": buildinfo.Version()},
	})
	build.Set(1)
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "substrate_process_start_time_seconds",
		Help: "Number of seconds between the UNIX epoch and the moment the process started",
	})
	start.Set(float64(time.Now().Unix()))
	m.reg.MustRegister(build, start)
	return m
}

// observe registers the metrics read from the running node. The testnet
// has no finality, so substrate_block_height has only status="best".
func (m *nodeMetrics) observe(snap func() snapshot) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "substrate_block_height",
			Help:        "Block height info of the chain",
			ConstLabels: prometheus.Labels{"status": "best"},
		}, func() float64 { return float64(snap().Best.Number) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "substrate_sub_libp2p_peers_count",
			Help: "Number of connected peers",
		}, func() float64 { return float64(snap().PeersTotal) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provisioner_node_validator_peers",
			Help: "Connected peers that proved a session validator key (validator record)",
		}, func() float64 { return float64(snap().ValidatorPeers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "provisioner_node_active_leaves",
			Help: "Active leaves of the node",
		}, func() float64 { return float64(len(snap().Leaves)) }),
	)
}

// bytesCounter registers the node's stream byte counter
// (substrate_sub_libp2p_network_bytes_total) and returns it for the host.
func bytesCounter(reg prometheus.Registerer) *testnet.ByteCounter {
	bc := testnet.NewByteCounter()
	reg.MustRegister(bc)
	return bc
}
