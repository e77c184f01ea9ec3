package provisioner

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the subsystem's Prometheus metrics, with Polkadot's names
// where Polkadot has the metric.
type metrics struct {
	requests          *prometheus.CounterVec // success = succeeded | failed
	requestTime       prometheus.Histogram
	provisionableTime prometheus.Histogram
	bitfieldsSent     prometheus.Histogram
	disputeSets       prometheus.Counter
	disputeStatements *prometheus.CounterVec // validity = valid | invalid
	partitioned       *prometheus.CounterVec // partition
	onchainDisputes   prometheus.Counter
	discarded         *prometheus.CounterVec // kind, reason
	activeJobs        prometheus.Gauge
	subscriberDrops   *prometheus.CounterVec // reason
	// backableVsInBlock is Polkadot's histogram of the candidates this node
	// held backable for a leaf's parent minus those the leaf backed.
	backableVsInBlock  prometheus.Histogram
	unknownConstraints prometheus.Counter
	misbehaviorWaiting *prometheus.GaugeVec // reason
	misbehaviorExpired prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polkadot_parachain_inherent_data_requests_total",
			Help: "Number of InherentData requests served by provisioner.",
		}, []string{"success"}),
		requestTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "polkadot_parachain_provisioner_request_inherent_data_time",
			Help: "Time spent within `provisioner::request_inherent_data`",
		}),
		provisionableTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "polkadot_parachain_provisioner_provisionable_data_time",
			Help: "Time spent within `provisioner::provisionable_data`",
		}),
		// Polkadot observes the number of bitfields it holds; we observe
		// the number actually put in the inherent, which is what the name says.
		bitfieldsSent: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "polkadot_parachain_provisioner_inherent_data_response_bitfields_sent",
			Help:    "Number of inherent bitfields sent in response to `ProvisionerMessage::RequestInherentData`.",
			Buckets: []float64{0, 25, 50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1500},
		}),
		disputeSets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polkadot_parachain_inherent_data_dispute_statement_sets",
			Help: "Number of dispute statements sets passed to `create_inherent()`.",
		}),
		disputeStatements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polkadot_parachain_inherent_data_dispute_statements",
			Help: "Number of dispute statements passed to `create_inherent()`.",
		}, []string{"validity"}),
		partitioned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polkadot_parachain_provisioner_partitioned_disputes",
			Help: "Number of disputes partitioned by type.",
		}, []string{"partition"}),
		onchainDisputes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polkadot_parachain_fetched_onchain_disputes",
			Help: "Number of disputes fetched from the runtime",
		}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polkadot_parachain_provisioner_discarded_data_total",
			Help: "Provisionable data discarded, by kind and reason (unknown relay parent, invalid, duplicate, over a bound).",
		}, []string{"kind", "reason"}),
		activeJobs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "polkadot_parachain_provisioner_active_jobs",
			Help: "Number of active leaves with a provisioning job.",
		}),
		subscriberDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "polkadot_parachain_provisioner_subscriptions_closed_total",
			Help: "Block-author subscriptions closed, by reason.",
		}, []string{"reason"}),
		// Polkadot's name, type and buckets. Its help text repeats the
		// bitfield metric's by mistake; ours says what is observed.
		backableVsInBlock: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "polkadot_parachain_provisioner_backable_vs_in_block",
			Help:    "Backable candidates this node held for a leaf's parent minus the candidates the leaf block backed.",
			Buckets: []float64{-100, -50, -40, -30, -20, -15, -10, -5, 0, 5, 10, 15, 20, 30, 40, 50, 100},
		}),
		unknownConstraints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polkadot_parachain_provisioner_unknown_constraints_total",
			Help: "Inherents assembled while the chain view could not tell the paras' backing constraints.",
		}),
		misbehaviorWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "polkadot_parachain_provisioner_misbehavior_waiting",
			Help: "Disputes holding verified misbehaviour reports that the last inherent left out, by why the runtime would refuse them.",
		}, []string{"reason"}),
		misbehaviorExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "polkadot_parachain_provisioner_misbehavior_expired_total",
			Help: "Disputes holding verified misbehaviour reports forgotten when their session left the dispute window.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.requestTime, m.provisionableTime, m.bitfieldsSent, m.disputeSets,
		m.disputeStatements, m.partitioned, m.onchainDisputes, m.discarded, m.activeJobs,
		m.subscriberDrops, m.backableVsInBlock, m.unknownConstraints, m.misbehaviorWaiting, m.misbehaviorExpired,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("provisioner: register metrics: %w", err)
		}
	}
	m.precreate()
	return m, nil
}

// precreate makes the series of every known label value exist at 0 from
// the start, as dashboards and rate() expect (a series that appears on its
// first increment hides that increment from rate()). The discarded data's
// reasons are open-ended; only the reasons every kind shares are made.
func (m *metrics) precreate() {
	for _, r := range waitingReasons {
		m.misbehaviorWaiting.WithLabelValues(r)
	}
	for _, s := range []string{"succeeded", "failed"} {
		m.requests.WithLabelValues(s)
	}
	for _, v := range []string{"valid", "invalid"} {
		m.disputeStatements.WithLabelValues(v)
	}
	for _, p := range partitionNames {
		m.partitioned.WithLabelValues(p)
	}
	for _, r := range []string{"slow", "unsubscribed", "deactivated", "shutdown", "other"} {
		m.subscriberDrops.WithLabelValues(r)
	}
	for _, k := range []string{"bitfield", "backed_candidate", "dispute_statements", "misbehavior_report"} {
		for _, r := range []string{"shutdown", "unknown_relay_parent", "chain_unavailable"} {
			m.discarded.WithLabelValues(k, r)
		}
	}
}

func (m *metrics) discard(kind, reason string) {
	m.discarded.WithLabelValues(kind, reason).Inc()
}

// subscriptionClosed counts a closed subscription by its reason.
func (m *metrics) subscriptionClosed(err error) {
	reason := "other"
	switch {
	case errors.Is(err, ErrSlowSubscriber):
		reason = "slow"
	case errors.Is(err, ErrUnsubscribed):
		reason = "unsubscribed"
	case errors.Is(err, ErrLeafDeactivated):
		reason = "deactivated"
	case errors.Is(err, ErrShuttingDown):
		reason = "shutdown"
	}
	m.subscriberDrops.WithLabelValues(reason).Inc()
}
