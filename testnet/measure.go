package testnet

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The kinds of latency_ms. Every latency is measured on one machine's
// clock (every node of a testnet runs on it), so times taken in different
// nodes compare directly.
const (
	// LatencyBitfield: from the observer's import of a relay parent plus
	// the bitfield delay (when validators sign: each signs that long
	// after its own import) to the arrival there of each validator's
	// bitfield for it: signing to arrival, give or take the spread of the
	// import times.
	LatencyBitfield = "bitfield"
	// LatencyBitfieldToAuthor: from the signer's signing of its bitfields
	// for the relay parent to the bitfield's arrival at the author of the
	// block built on that relay parent. Only in-process runs have it:
	// node processes keep no such notes.
	LatencyBitfieldToAuthor = "bitfield_to_author"
	// LatencyCandidate: from the observer's import of the relay parent to
	// a backed candidate's arrival at the observer (backers sign on
	// import too).
	LatencyCandidate = "backed_candidate"
	// LatencyDispute: from the observer's import of its best block to a
	// dispute's arrival (adversaries equivocate on import).
	LatencyDispute = "dispute"
	// LatencyAnnouncement: from the slot's start plus the author's
	// inherent fetch (when it seals and announces) to the block's import
	// at the observer: gossip plus building and executing the block.
	LatencyAnnouncement = "announcement"
)

// latencyFrom says, in the report, what each kind measures.
var latencyFrom = map[string]string{
	LatencyBitfield:         "observer's import of the relay parent + the bitfield delay (when validators sign) -> bitfield's arrival at the observer",
	LatencyBitfieldToAuthor: "signer's signing of its bitfields -> bitfield's arrival at the block's author",
	LatencyCandidate:        "observer's import of the relay parent -> backed candidate's arrival at the observer",
	LatencyDispute:          "observer's import of its best block -> dispute's arrival at the observer",
	LatencyAnnouncement:     "slot start + author's inherent fetch -> block imported at the observer",
}

// observerKinds are always in latency_ms, with 0 samples when none came,
// so that reports of different runs have the same keys.
var observerKinds = []string{LatencyBitfield, LatencyCandidate, LatencyDispute, LatencyAnnouncement}

// maxCDFPoints bounds a latency's CDF in the report: enough to plot, small
// enough for a long run's report.
const maxCDFPoints = 200

// LatencyStats is one kind's latency distribution, in milliseconds.
type LatencyStats struct {
	// MeasuredAt is where the message arrived: "observer" or "author".
	MeasuredAt string  `json:"measured_at"`
	From       string  `json:"from"`
	Samples    int     `json:"samples"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	Max        float64 `json:"max"`
	// CDF holds [ms, fraction of samples at most ms] points, ascending:
	// every sample up to maxCDFPoints samples, evenly spaced ranks beyond.
	CDF [][2]float64 `json:"cdf"`
}

// NewLatencyStats summarises samples (ms). Percentiles are the report's
// usual lower-rank ones (see percentile), so p50 matches gossip_ms.
func NewLatencyStats(at, from string, samples []float64) LatencyStats {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	st := LatencyStats{MeasuredAt: at, From: from, Samples: len(s), CDF: [][2]float64{}}
	if len(s) == 0 {
		return st
	}
	st.P50, st.P90, st.P99 = percentile(s, 0.50), percentile(s, 0.90), percentile(s, 0.99)
	st.Max = s[len(s)-1]
	n := len(s)
	points := min(n, maxCDFPoints)
	for j := 1; j <= points; j++ {
		// The j-th of points evenly spaced ranks, the last being n.
		idx := (j*n+points-1)/points - 1
		frac := math.Round(float64(idx+1)/float64(n)*1e4) / 1e4
		st.CDF = append(st.CDF, [2]float64{round3(s[idx]), frac})
	}
	return st
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// measurements are the Recorder's latency notes; the Recorder's mutex
// guards them. Maps are made on first use, so a Recorder made by
// NewRecorder needs nothing more.
type measurements struct {
	latency map[string][]float64
	hist    *prometheus.HistogramVec
	// arrivals: leaf -> validator -> first arrival of its bitfield.
	arrivals map[types.Hash]map[types.ValidatorIndex]time.Time
	// authors: leaf -> author of the block built on it (the last one
	// heard, when there are several).
	authors map[types.Hash]types.ValidatorIndex
	// bitfieldDelay: how long after its import of a leaf a validator
	// signs its bitfield for it (the recording node's, which every node
	// of a testnet shares).
	bitfieldDelay time.Duration
	// bitfieldsSigned: leaf -> when the recording node signed its hosted
	// validators' bitfields for it.
	bitfieldsSigned map[types.Hash]time.Time
}

func (m *measurements) histogram() *prometheus.HistogramVec {
	if m.hist == nil {
		m.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "provisioner_testnet_gossip_latency_seconds",
			Help: "Gossip latency at the recording node, by kind (bitfield, backed_candidate, dispute, announcement); see the report's latency_ms for what each measures.",
			// 1 ms to about 8 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"kind"})
	}
	return m.hist
}

// observe notes one latency of kind, in ms.
func (m *measurements) observe(kind string, ms float64) {
	if m.latency == nil {
		m.latency = map[string][]float64{}
	}
	ms = max(ms, 0)
	m.latency[kind] = append(m.latency[kind], ms)
	m.histogram().WithLabelValues(kind).Observe(ms / 1000)
}

// block notes who built on which leaf, and the announcement's latency.
func (m *measurements) block(b *Block, imp *Imported, slotStart, at time.Time) {
	if m.authors == nil {
		m.authors = map[types.Hash]types.ValidatorIndex{}
	}
	m.authors[b.Header.ParentHash] = imp.Author
	sealed := slotStart.Add(time.Duration(b.Body.FetchMicros) * time.Microsecond)
	m.observe(LatencyAnnouncement, float64(at.Sub(sealed).Microseconds())/1000)
}

// bitfieldArrived notes the first arrival of v's bitfield for leaf.
func (m *measurements) bitfieldArrived(leaf types.Hash, v types.ValidatorIndex, at time.Time) {
	if m.arrivals == nil {
		m.arrivals = map[types.Hash]map[types.ValidatorIndex]time.Time{}
	}
	vs := m.arrivals[leaf]
	if vs == nil {
		vs = map[types.ValidatorIndex]time.Time{}
		m.arrivals[leaf] = vs
	}
	if _, ok := vs[v]; !ok {
		vs[v] = at
	}
}

// stats summarises every kind noted so far, the observer's kinds always.
func (m *measurements) stats(at string) map[string]LatencyStats {
	out := map[string]LatencyStats{}
	for _, k := range observerKinds {
		out[k] = NewLatencyStats(at, latencyFrom[k], m.latency[k])
	}
	for k, xs := range m.latency {
		if _, ok := out[k]; !ok {
			out[k] = NewLatencyStats(at, latencyFrom[k], xs)
		}
	}
	return out
}

// Candidate records a backed candidate for leaf arriving at the recording
// node (the Sink's BackedCandidate calls it).
func (r *Recorder) Candidate(leaf types.Hash, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seen, ok := r.leafSeen[leaf]; ok {
		r.meas.observe(LatencyCandidate, float64(at.Sub(seen).Microseconds())/1000)
	}
}

// Dispute records a dispute arriving at the recording node (the Sink's
// Dispute calls it). Disputes name no relay parent: the reference is the
// node's best block, on whose import adversaries equivocate.
func (r *Recorder) Dispute(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seen, ok := r.leafSeen[r.best]; ok {
		r.meas.observe(LatencyDispute, float64(at.Sub(seen).Microseconds())/1000)
	}
}

// LatencyCollector is the Recorder's gossip latency histogram, by kind,
// for a registry that serves it.
func (r *Recorder) LatencyCollector() prometheus.Collector {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meas.histogram()
}

// SetBitfieldDelay says how long after importing a leaf the network's
// validators sign their bitfields for it: the observer's bitfield latency
// starts that long after its own import.
func (r *Recorder) SetBitfieldDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.meas.bitfieldDelay = d
}

// BitfieldsSigned notes when the recording node signed its validators'
// bitfields for leaf (the first time, should it sign again).
func (r *Recorder) BitfieldsSigned(leaf types.Hash, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.meas.bitfieldsSigned == nil {
		r.meas.bitfieldsSigned = map[types.Hash]time.Time{}
	}
	if _, ok := r.meas.bitfieldsSigned[leaf]; !ok {
		r.meas.bitfieldsSigned[leaf] = at
	}
}

// bitfieldsSignedAt is when the recording node signed its bitfields for
// leaf.
func (r *Recorder) bitfieldsSignedAt(leaf types.Hash) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.meas.bitfieldsSigned[leaf]
	return t, ok
}

// arrivalsFor copies the first bitfield arrivals for leaf.
func (r *Recorder) arrivalsFor(leaf types.Hash) map[types.ValidatorIndex]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[types.ValidatorIndex]time.Time, len(r.meas.arrivals[leaf]))
	for v, t := range r.meas.arrivals[leaf] {
		out[v] = t
	}
	return out
}

// authorsByLeaf copies leaf -> author of the block built on it.
func (r *Recorder) authorsByLeaf() map[types.Hash]types.ValidatorIndex {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[types.Hash]types.ValidatorIndex, len(r.meas.authors))
	for l, a := range r.meas.authors {
		out[l] = a
	}
	return out
}

// BitfieldToAuthor measures, for every block the observer saw, how long
// each other validator's bitfield for the block's relay parent took from
// its signer (when the signer signed its bitfields) to the block's
// author. nodes are the validators' own Recorders by index; a pair whose
// signer or author has none (a node process, a killed node) is skipped.
func BitfieldToAuthor(obs *Recorder, nodes map[int]*Recorder) []float64 {
	var out []float64
	leaves := obs.authorsByLeaf()
	// Sorted leaves make the result's order independent of map order.
	keys := make([]types.Hash, 0, len(leaves))
	for l := range leaves {
		keys = append(keys, l)
	}
	sort.Slice(keys, func(i, j int) bool { return string(keys[i][:]) < string(keys[j][:]) })
	for _, leaf := range keys {
		author := nodes[int(leaves[leaf])]
		if author == nil {
			continue
		}
		arr := author.arrivalsFor(leaf)
		vs := make([]types.ValidatorIndex, 0, len(arr))
		for v := range arr {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
		for _, v := range vs {
			if v == leaves[leaf] {
				continue
			}
			signer := nodes[int(v)]
			if signer == nil {
				continue
			}
			signed, ok := signer.bitfieldsSignedAt(leaf)
			if !ok {
				continue
			}
			out = append(out, max(0, float64(arr[v].Sub(signed).Microseconds())/1000))
		}
	}
	return out
}

// NodeResources is one node's cost at the end of a run, from its metrics.
// A null figure was not exposed: CPU, RSS and goroutines of in-process
// nodes (one process: see Report.ProcessResources), bytes of a node
// without a byte counter.
type NodeResources struct {
	Node int `json:"node"`
	// Scope: "process" (a node process's own figures) or "in-process"
	// (a goroutine node; CPU, RSS and goroutines are the process's).
	Scope         string   `json:"scope"`
	CPUSeconds    *float64 `json:"cpu_seconds"`
	RSSBytes      *float64 `json:"rss_bytes"`
	Goroutines    *float64 `json:"goroutines"`
	BytesSent     *float64 `json:"bytes_sent"`
	BytesReceived *float64 `json:"bytes_received"`
	// Per block over BlocksMeasured blocks, from a sample taken at the
	// first block to the end: without the start-up's cost, which would
	// swamp a short run's. Absent when the node restarted in between
	// (its counters began again) or the run had no second sample.
	BlocksMeasured        int      `json:"blocks_measured,omitempty"`
	CPUSecondsPerBlock    *float64 `json:"cpu_seconds_per_block,omitempty"`
	BytesSentPerBlock     *float64 `json:"bytes_sent_per_block,omitempty"`
	BytesReceivedPerBlock *float64 `json:"bytes_received_per_block,omitempty"`
}

// ProcessResources is the testnet process's own cost: the observer's, and
// with --in-process every node's too.
type ProcessResources struct {
	Scope              string   `json:"scope"`
	CPUSeconds         float64  `json:"cpu_seconds"`
	RSSBytes           float64  `json:"rss_bytes"`
	Goroutines         float64  `json:"goroutines"`
	BlocksMeasured     int      `json:"blocks_measured,omitempty"`
	CPUSecondsPerBlock *float64 `json:"cpu_seconds_per_block,omitempty"`
}

// The metrics a resource sample reads.
const (
	metricCPU        = "process_cpu_seconds_total"
	metricRSS        = "process_resident_memory_bytes"
	metricGoroutines = "go_goroutines"
)

// resourceSample is one reading of a node's resource metrics; nil: the
// metric is not exposed.
type resourceSample struct {
	cpu, rss, goroutines, in, out *float64
}

// resourcesFrom reads a sample from metric families, summing series (one
// per chain label).
func resourcesFrom(mfs []*dto.MetricFamily) resourceSample {
	var s resourceSample
	add := func(p **float64, v float64) {
		if *p == nil {
			*p = new(float64)
		}
		**p += v
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := metricValue(m)
			switch mf.GetName() {
			case metricCPU:
				add(&s.cpu, v)
			case metricRSS:
				add(&s.rss, v)
			case metricGoroutines:
				add(&s.goroutines, v)
			case MetricNetworkBytes:
				switch labelOf(m.GetLabel(), "direction") {
				case "in":
					add(&s.in, v)
				case "out":
					add(&s.out, v)
				}
			}
		}
	}
	return s
}

// metricValue is a counter's, gauge's or untyped metric's value.
func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// ParseResources reads a node's resources from Prometheus text exposition
// (its /metrics).
func ParseResources(r io.Reader) (NodeResources, error) {
	s, err := parseSample(r)
	if err != nil {
		return NodeResources{}, err
	}
	return s.resources(0, "process"), nil
}

func parseSample(r io.Reader) (resourceSample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(r)
	if err != nil {
		return resourceSample{}, fmt.Errorf("parse metrics: %w", err)
	}
	mfs := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		mfs = append(mfs, mf)
	}
	return resourcesFrom(mfs), nil
}

func (s resourceSample) resources(node int, scope string) NodeResources {
	nr := NodeResources{Node: node, Scope: scope, CPUSeconds: s.cpu, RSSBytes: s.rss,
		Goroutines: s.goroutines, BytesSent: s.out, BytesReceived: s.in}
	if scope == "in-process" {
		// The process's figures are not this node's.
		nr.CPUSeconds, nr.RSSBytes, nr.Goroutines = nil, nil, nil
	}
	return nr
}

// perBlock is (end - start) / blocks, or nil when either is missing or a
// counter went back (the process restarted).
func perBlock(end, start *float64, blocks int) *float64 {
	if end == nil || start == nil || blocks <= 0 || *end < *start {
		return nil
	}
	v := (*end - *start) / float64(blocks)
	return &v
}

// resourceSampleOf reads a node's resource metrics: from its registry in
// process, from its /metrics otherwise.
func (h *nodeHandle) resourceSample() (resourceSample, error) {
	if h.reg != nil {
		mfs, err := h.reg.Gather()
		if err != nil {
			return resourceSample{}, fmt.Errorf("gather: %w", err)
		}
		return resourcesFrom(mfs), nil
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		return resourceSample{}, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resourceSample{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseSample(resp.Body)
}

// selfSample reads this process's CPU, RSS and goroutines through the
// same collectors the nodes export, made afresh so that nothing is kept
// between calls.
func selfSample() (resourceSample, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return resourceSample{}, fmt.Errorf("process collector: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return resourceSample{}, fmt.Errorf("go collector: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return resourceSample{}, fmt.Errorf("gather: %w", err)
	}
	return resourcesFrom(mfs), nil
}

// measurer takes the run's resource samples: one at the first block, one
// at the end. Run owns it; it is used from Run's goroutine only.
type measurer struct {
	taken     bool
	baseBlock int
	base      map[int]resourceSample
	self      resourceSample
}

// baseline samples every running node once, at the first block seen.
// A node that does not answer has no per-block figures.
func (m *measurer) baseline(handles []*nodeHandle, block int) {
	if m.taken || block < 1 {
		return
	}
	m.taken, m.baseBlock, m.base = true, block, map[int]resourceSample{}
	for _, h := range handles {
		if h == nil || h.paused {
			continue
		}
		if s, err := h.resourceSample(); err == nil {
			m.base[h.index] = s
		}
	}
	if s, err := selfSample(); err == nil {
		m.self = s
	}
}

// finish fills the report's resources and latencies at block (the best
// block at the end). rec is the observer's Recorder.
func (m *measurer) finish(rep *Report, rec *Recorder, handles []*nodeHandle, block int) {
	blocks := 0
	if m.taken {
		blocks = block - m.baseBlock
	}
	nodeRecs := map[int]*Recorder{}
	rep.NodesResources = []NodeResources{}
	for _, h := range handles {
		if h == nil || h.paused {
			// Killed, or stopped and answering no scrape.
			continue
		}
		if h.rec != nil {
			nodeRecs[h.index] = h.rec
		}
		s, err := h.resourceSample()
		if err != nil {
			rep.Faults = append(rep.Faults, fmt.Sprintf("node %d resources: %v", h.index, err))
			continue
		}
		scope := "process"
		if h.reg != nil {
			scope = "in-process"
		}
		nr := s.resources(h.index, scope)
		if b, ok := m.base[h.index]; ok && blocks > 0 {
			nr.BlocksMeasured = blocks
			if scope == "process" {
				nr.CPUSecondsPerBlock = perBlock(s.cpu, b.cpu, blocks)
			}
			nr.BytesSentPerBlock = perBlock(s.out, b.out, blocks)
			nr.BytesReceivedPerBlock = perBlock(s.in, b.in, blocks)
			if nr.CPUSecondsPerBlock == nil && nr.BytesSentPerBlock == nil && nr.BytesReceivedPerBlock == nil {
				nr.BlocksMeasured = 0
			}
		}
		rep.NodesResources = append(rep.NodesResources, nr)
	}
	if s, err := selfSample(); err == nil {
		pr := &ProcessResources{Scope: "the testnet process: the observer"}
		if len(nodeRecs) > 0 || anyInProcess(handles) {
			pr.Scope = "the testnet process: the observer and every in-process node"
		}
		pr.CPUSeconds, pr.RSSBytes, pr.Goroutines = deref(s.cpu), deref(s.rss), deref(s.goroutines)
		if blocks > 0 {
			if pr.CPUSecondsPerBlock = perBlock(s.cpu, m.self.cpu, blocks); pr.CPUSecondsPerBlock != nil {
				pr.BlocksMeasured = blocks
			}
		}
		rep.ProcessResources = pr
	}
	rep.LatencyMillis = rec.latencyStats()
	if len(nodeRecs) > 0 {
		st := NewLatencyStats("author", latencyFrom[LatencyBitfieldToAuthor], BitfieldToAuthor(rec, nodeRecs))
		rep.LatencyMillis[LatencyBitfieldToAuthor] = st
	} else {
		rep.LatencyNote = "bitfield latency is measured at the observer, not at each block's author: " +
			"node processes keep no arrival notes (run --in-process for bitfield_to_author)"
	}
}

func (r *Recorder) latencyStats() map[string]LatencyStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meas.stats("observer")
}

func anyInProcess(handles []*nodeHandle) bool {
	for _, h := range handles {
		if h != nil && h.reg != nil {
			return true
		}
	}
	return false
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
