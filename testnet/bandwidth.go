package testnet

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricNetworkBytes is Substrate's name for the bytes a node's network
// sent (direction="out") and received (direction="in"), so that the same
// dashboards read it from both.
const MetricNetworkBytes = "substrate_sub_libp2p_network_bytes_total"

// ByteCounter counts the bytes of a libp2p host's streams, in and out, and
// exports them as MetricNetworkBytes. Pass it to the host with
// libp2p.BandwidthReporter and register it with the node's registry.
//
// libp2p's own metrics.BandwidthCounter would do, but it keeps rates per
// peer and protocol in meters refreshed by a package-level sweeper
// goroutine, and its totals lag by up to a sweep; two atomic counters are
// exact and cost nothing when scraped. The counts are stream payload bytes
// (what protocols wrote and read), without the noise and yamux framing.
type ByteCounter struct {
	in, out atomic.Uint64
	desc    *prometheus.Desc
}

// NewByteCounter returns a counter at zero.
func NewByteCounter() *ByteCounter {
	return &ByteCounter{desc: prometheus.NewDesc(MetricNetworkBytes,
		"Bytes of the node's libp2p streams, by direction (in, out); payload bytes without transport framing.",
		[]string{"direction"}, nil)}
}

var (
	_ metrics.Reporter     = (*ByteCounter)(nil)
	_ prometheus.Collector = (*ByteCounter)(nil)
)

// Totals returns the bytes received and sent so far.
func (b *ByteCounter) Totals() (in, out uint64) { return b.in.Load(), b.out.Load() }

// LogSentMessage counts n bytes sent.
func (b *ByteCounter) LogSentMessage(n int64) { b.add(&b.out, n) }

// LogRecvMessage counts n bytes received.
func (b *ByteCounter) LogRecvMessage(n int64) { b.add(&b.in, n) }

// LogSentMessageStream counts n bytes sent on a stream.
func (b *ByteCounter) LogSentMessageStream(n int64, _ protocol.ID, _ peer.ID) { b.add(&b.out, n) }

// LogRecvMessageStream counts n bytes received on a stream.
func (b *ByteCounter) LogRecvMessageStream(n int64, _ protocol.ID, _ peer.ID) { b.add(&b.in, n) }

// add ignores negative counts: a counter only goes up.
func (b *ByteCounter) add(c *atomic.Uint64, n int64) {
	if n > 0 {
		c.Add(uint64(n))
	}
}

// GetBandwidthTotals reports the totals; rates are not kept.
func (b *ByteCounter) GetBandwidthTotals() metrics.Stats {
	in, out := b.Totals()
	return metrics.Stats{TotalIn: int64(in), TotalOut: int64(out)}
}

// Per-peer and per-protocol figures are not kept (see the type's comment).

func (b *ByteCounter) GetBandwidthForPeer(peer.ID) metrics.Stats         { return metrics.Stats{} }
func (b *ByteCounter) GetBandwidthForProtocol(protocol.ID) metrics.Stats { return metrics.Stats{} }
func (b *ByteCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats     { return nil }
func (b *ByteCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats {
	return nil
}

// Reset is a no-op: Prometheus counters must not go back.
func (b *ByteCounter) Reset() {}

// TrimIdle is a no-op: nothing is kept per peer.
func (b *ByteCounter) TrimIdle(time.Time) {}

// Describe implements prometheus.Collector.
func (b *ByteCounter) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

// Collect implements prometheus.Collector.
func (b *ByteCounter) Collect(ch chan<- prometheus.Metric) {
	in, out := b.Totals()
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(in), "in")
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(out), "out")
}
