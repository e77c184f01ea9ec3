package testnet

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The gossip counters the report sums over nodes, by reason label (queue
// for drops).
const (
	metricRejected = "provisioner_p2p_gossip_rejected_total"
	metricIgnored  = "provisioner_p2p_gossip_ignored_total"
	metricDropped  = "provisioner_p2p_dropped_total"
	metricFrames   = "provisioner_p2p_frames_refused_total"
	metricParked   = "provisioner_p2p_parked_total"
	// The provisioner's own refusals, by kind and reason ("kind/reason").
	metricDiscarded = "polkadot_parachain_provisioner_discarded_data_total"
)

// GossipCounters are a node's gossip counters by reason: messages its
// validators rejected and ignored, and what it dropped without judging
// (a full queue, keyed by queue; an inbound gossip stream reset for a
// frame, keyed "frame_" and the reason; a message for a leaf not known
// yet that found its sender's parking space full or whose leaf never
// came, "parked_full" and "parked_expired"). Drops are what a node loses
// through no fault of the message, so a shortfall starts there.
// Discarded is what the node's provisioner refused of what gossip
// handed it, keyed "kind/reason".
type GossipCounters struct {
	Rejected, Ignored, Dropped, Discarded map[string]float64
}

func newGossipCounters() GossipCounters {
	return GossipCounters{Rejected: map[string]float64{}, Ignored: map[string]float64{}, Dropped: map[string]float64{},
		Discarded: map[string]float64{}}
}

// ParseGossipCounters reads Prometheus text exposition (a node's /metrics)
// and sums the gossip counters by reason.
func ParseGossipCounters(r io.Reader) (GossipCounters, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return GossipCounters{}, fmt.Errorf("parse metrics: %w", err)
	}
	c := newGossipCounters()
	for _, mf := range mfs {
		c.add(mf)
	}
	return c, nil
}

// add adds one metric family's counters by reason, if it is one of the
// gossip counters.
func (c GossipCounters) add(mf *dto.MetricFamily) {
	var into map[string]float64
	label, prefix := "reason", ""
	switch mf.GetName() {
	case metricRejected:
		into = c.Rejected
	case metricIgnored:
		into = c.Ignored
	case metricDropped:
		into, label = c.Dropped, "queue"
	case metricFrames:
		into, prefix = c.Dropped, "frame_"
	case metricParked:
		into, label, prefix = c.Dropped, "result", "parked_"
	case metricDiscarded:
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				c.Discarded[labelOf(m.GetLabel(), "kind")+"/"+labelOf(m.GetLabel(), "reason")] += v
			}
		}
		return
	default:
		return
	}
	for _, m := range mf.GetMetric() {
		if mf.GetName() == metricParked {
			// Parked, replayed and judged messages were not lost.
			if r := labelOf(m.GetLabel(), label); r != "full" && r != "expired" {
				continue
			}
		}
		v := m.GetCounter().GetValue()
		if m.GetCounter() == nil {
			v = m.GetUntyped().GetValue()
		}
		into[prefix+labelOf(m.GetLabel(), label)] += v
	}
}
