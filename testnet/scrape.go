package testnet

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The gossip counters the report sums over nodes, by reason label.
const (
	metricRejected = "provisioner_p2p_gossip_rejected_total"
	metricIgnored  = "provisioner_p2p_gossip_ignored_total"
)

// ParseGossipCounters reads Prometheus text exposition (a node's /metrics)
// and sums the rejected and ignored gossip counters by reason.
func ParseGossipCounters(r io.Reader) (rejected, ignored map[string]float64, err error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, nil, fmt.Errorf("parse metrics: %w", err)
	}
	rejected, ignored = map[string]float64{}, map[string]float64{}
	for _, mf := range mfs {
		addGossipCounters(mf, rejected, ignored)
	}
	return rejected, ignored, nil
}

// addGossipCounters adds one metric family's counters by reason, if it is
// one of the gossip counters.
func addGossipCounters(mf *dto.MetricFamily, rejected, ignored map[string]float64) {
	var into map[string]float64
	switch mf.GetName() {
	case metricRejected:
		into = rejected
	case metricIgnored:
		into = ignored
	default:
		return
	}
	for _, m := range mf.GetMetric() {
		v := m.GetCounter().GetValue()
		if m.GetCounter() == nil {
			v = m.GetUntyped().GetValue()
		}
		into[labelOf(m.GetLabel(), "reason")] += v
	}
}
