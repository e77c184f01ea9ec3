package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/polkadot-provisioner/provisioner/types"
)

func TestNewLatencyStats(t *testing.T) {
	st := NewLatencyStats("observer", "x", []float64{5, 1, 3, 2, 4, 10, 7, 6, 9, 8})
	want := LatencyStats{MeasuredAt: "observer", From: "x", Samples: 10, P50: 5, P90: 9, P99: 9, Max: 10,
		CDF: [][2]float64{{1, 0.1}, {2, 0.2}, {3, 0.3}, {4, 0.4}, {5, 0.5}, {6, 0.6}, {7, 0.7}, {8, 0.8}, {9, 0.9}, {10, 1}}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats:\n got %+v\nwant %+v", st, want)
	}
}

func TestNewLatencyStatsBoundsCDF(t *testing.T) {
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(1000 - i) // 1000 .. 1, unsorted on purpose
	}
	st := NewLatencyStats("observer", "", xs)
	if len(st.CDF) != maxCDFPoints {
		t.Fatalf("cdf points: got %d, want %d", len(st.CDF), maxCDFPoints)
	}
	if st.CDF[0] != [2]float64{5, 0.005} || st.CDF[1] != [2]float64{10, 0.01} || st.CDF[len(st.CDF)-1] != [2]float64{1000, 1} {
		t.Fatalf("cdf ends: %v %v .. %v", st.CDF[0], st.CDF[1], st.CDF[len(st.CDF)-1])
	}
	if st.P50 != 500 || st.P90 != 900 || st.P99 != 990 || st.Max != 1000 {
		t.Fatalf("percentiles: %+v", st)
	}
}

func TestNewLatencyStatsEmptyIsAnEmptyCDF(t *testing.T) {
	raw, err := json.Marshal(NewLatencyStats("author", "f", nil))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"measured_at":"author","from":"f","samples":0,"p50":0,"p90":0,"p99":0,"max":0,"cdf":[]}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
}

const nodeMetricsText = `# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total{chain="dev"} 1.25
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes{chain="dev"} 5.24288e+07
# TYPE go_goroutines gauge
go_goroutines{chain="dev"} 123
# TYPE substrate_sub_libp2p_network_bytes_total counter
substrate_sub_libp2p_network_bytes_total{chain="dev",direction="in"} 1000
substrate_sub_libp2p_network_bytes_total{chain="dev",direction="out"} 2500
# TYPE provisioner_p2p_gossip_rejected_total counter
provisioner_p2p_gossip_rejected_total{chain="dev",reason="decode",topic="bitfield"} 3
`

func TestParseResourcesGolden(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"all", nodeMetricsText,
			`{"node":0,"scope":"process","cpu_seconds":1.25,"rss_bytes":52428800,"goroutines":123,"bytes_sent":2500,"bytes_received":1000}`},
		// A node without a byte counter: bytes are null, not 0.
		{"no bytes", strings.Split(nodeMetricsText, "# TYPE substrate_sub")[0],
			`{"node":0,"scope":"process","cpu_seconds":1.25,"rss_bytes":52428800,"goroutines":123,"bytes_sent":null,"bytes_received":null}`},
		{"nothing", "# TYPE other gauge\nother 1\n",
			`{"node":0,"scope":"process","cpu_seconds":null,"rss_bytes":null,"goroutines":null,"bytes_sent":null,"bytes_received":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nr, err := ParseResources(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(nr)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != tc.want {
				t.Fatalf("got  %s\nwant %s", raw, tc.want)
			}
		})
	}
}

func TestParseResourcesRefusesGarbage(t *testing.T) {
	_, err := ParseResources(strings.NewReader("process_cpu_seconds_total{ 1\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "parse metrics: ") || errors.Unwrap(err) == nil {
		t.Fatalf("err = %v, want a wrapped parse error", err)
	}
}

func TestByteCounter(t *testing.T) {
	b := NewByteCounter()
	b.LogSentMessageStream(100, "/p", "")
	b.LogSentMessage(20)
	b.LogRecvMessageStream(40, "/p", "")
	b.LogRecvMessage(2)
	b.LogSentMessage(-5) // ignored: a counter never goes down
	b.Reset()            // a no-op, for the same reason
	if in, out := b.Totals(); in != 42 || out != 120 {
		t.Fatalf("totals: in %d out %d, want 42 120", in, out)
	}
	if s := b.GetBandwidthTotals(); s.TotalIn != 42 || s.TotalOut != 120 {
		t.Fatalf("GetBandwidthTotals: %+v", s)
	}
	const want = `# HELP substrate_sub_libp2p_network_bytes_total Bytes of the node's libp2p streams, by direction (in, out); payload bytes without transport framing.
# TYPE substrate_sub_libp2p_network_bytes_total counter
substrate_sub_libp2p_network_bytes_total{direction="in"} 42
substrate_sub_libp2p_network_bytes_total{direction="out"} 120
`
	if err := testutil.CollectAndCompare(b, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// recorderFixture: genesis at t0 with 1 s slots; block 1 (author 1) in
// slot 1, block 2 (author 2) on it in slot 2.
type recorderFixture struct {
	g      *Genesis
	t0     time.Time
	b1, b2 *Block
	i1, i2 *Imported
}

func newRecorderFixture(t *testing.T) recorderFixture {
	t.Helper()
	t0 := time.UnixMilli(1_700_000_000_000)
	g, err := NewGenesis(3, 2, 2, 1000, t0.UnixMilli(), 0)
	if err != nil {
		t.Fatal(err)
	}
	gh := g.GenesisHeader()
	h1, h2 := types.Hash{1}, types.Hash{2}
	f := recorderFixture{g: g, t0: t0,
		b1: &Block{Header: types.Header{Number: 1, ParentHash: gh.Hash()}, Body: BlockBody{FetchMicros: 400_000}},
		b2: &Block{Header: types.Header{Number: 2, ParentHash: h1}, Body: BlockBody{FetchMicros: 400_000}},
		i1: &Imported{Hash: h1, Slot: 1, Author: 1, BecameBest: true},
		i2: &Imported{Hash: h2, Slot: 2, Author: 2, BecameBest: true},
	}
	return f
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestRecorderLatencyByKind(t *testing.T) {
	f := newRecorderFixture(t)
	rec := NewRecorder(f.g, nil)
	seen := f.t0.Add(ms(1000 + 450)) // slot 1 + fetch 400 ms + 50 ms
	rec.Block(f.b1, f.i1, seen)
	rec.Bitfield(f.i1.Hash, 0, seen.Add(ms(10)))
	rec.Bitfield(f.i1.Hash, 2, seen.Add(ms(30)))
	rec.Bitfield(f.i1.Hash, 2, seen.Add(ms(90))) // a repeat: not a sample
	rec.Candidate(f.i1.Hash, seen.Add(ms(20)))
	rec.Candidate(types.Hash{9}, seen.Add(ms(20))) // unknown leaf: no reference time
	rec.Dispute(seen.Add(ms(5)))
	got := rec.latencyStats()
	want := map[string]LatencyStats{
		LatencyBitfield:     NewLatencyStats("observer", latencyFrom[LatencyBitfield], []float64{10, 30}),
		LatencyCandidate:    NewLatencyStats("observer", latencyFrom[LatencyCandidate], []float64{20}),
		LatencyDispute:      NewLatencyStats("observer", latencyFrom[LatencyDispute], []float64{5}),
		LatencyAnnouncement: NewLatencyStats("observer", latencyFrom[LatencyAnnouncement], []float64{50}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("latency:\n got %+v\nwant %+v", got, want)
	}
	if got[LatencyBitfield].P99 != 10 || got[LatencyBitfield].Max != 30 {
		t.Fatalf("bitfield: %+v", got[LatencyBitfield])
	}
	// The report's gossip_ms is the same distribution as the bitfield kind.
	if rep := rec.Report(3); rep.GossipMillis.P50 != got[LatencyBitfield].P50 {
		t.Fatalf("gossip_ms p50 %v, bitfield p50 %v", rep.GossipMillis.P50, got[LatencyBitfield].P50)
	}
	// The histogram has the same samples, in seconds.
	reg := prometheus.NewRegistry()
	reg.MustRegister(rec.LatencyCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			counts[labelOf(m.GetLabel(), "kind")] = m.GetHistogram().GetSampleCount()
		}
	}
	wantCounts := map[string]uint64{LatencyBitfield: 2, LatencyCandidate: 1, LatencyDispute: 1, LatencyAnnouncement: 1}
	if !reflect.DeepEqual(counts, wantCounts) {
		t.Fatalf("histogram counts %v, want %v", counts, wantCounts)
	}
}

func TestBitfieldToAuthor(t *testing.T) {
	f := newRecorderFixture(t)
	obs := NewRecorder(f.g, nil)
	nodes := map[int]*Recorder{0: NewRecorder(f.g, nil), 1: NewRecorder(f.g, nil), 2: NewRecorder(f.g, nil)}
	// Each validator imports block 1 at its own time and signs its
	// bitfield a bitfield delay later; the import is not what counts.
	imported := map[int]time.Time{0: f.t0.Add(ms(1250)), 1: f.t0.Add(ms(1150)), 2: f.t0.Add(ms(1270))}
	signed := map[int]time.Time{0: f.t0.Add(ms(1500)), 1: f.t0.Add(ms(1400)), 2: f.t0.Add(ms(1520))}
	for i, r := range nodes {
		r.Block(f.b1, f.i1, imported[i])
		r.BitfieldsSigned(f.i1.Hash, signed[i])
		r.BitfieldsSigned(f.i1.Hash, signed[i].Add(ms(300))) // signed again: the first counts
	}
	obs.Block(f.b1, f.i1, f.t0.Add(ms(1260)))
	// Node 2 authors block 2 on block 1: its arrivals are what counts.
	nodes[2].Bitfield(f.i1.Hash, 0, f.t0.Add(ms(1512))) // 12 ms after node 0 signed
	nodes[2].Bitfield(f.i1.Hash, 1, f.t0.Add(ms(1437))) // 37 ms after node 1 signed
	nodes[2].Bitfield(f.i1.Hash, 2, f.t0.Add(ms(1521))) // its own: not a sample
	nodes[0].Bitfield(f.i1.Hash, 1, f.t0.Add(ms(1401))) // not the author: not a sample
	obs.Block(f.b2, f.i2, f.t0.Add(ms(2500)))
	if got, want := BitfieldToAuthor(obs, nodes), []float64{12, 37}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Without the signer's notes (a killed node), its bitfields are skipped.
	delete(nodes, 1)
	if got, want := BitfieldToAuthor(obs, nodes), []float64{12}; !reflect.DeepEqual(got, want) {
		t.Fatalf("without node 1: got %v, want %v", got, want)
	}
}

// The observer's bitfield latency starts a bitfield delay after its own
// import, when validators sign; a bitfield that comes sooner (its signer
// imported first) counts as no latency, not a negative one.
func TestRecorderBitfieldDelay(t *testing.T) {
	f := newRecorderFixture(t)
	rec := NewRecorder(f.g, nil)
	rec.SetBitfieldDelay(ms(250))
	seen := f.t0.Add(ms(1450))
	rec.Block(f.b1, f.i1, seen)
	rec.Bitfield(f.i1.Hash, 0, seen.Add(ms(260)))
	rec.Bitfield(f.i1.Hash, 1, seen.Add(ms(100)))
	rec.Bitfield(f.i1.Hash, 2, seen.Add(ms(330)))
	got := rec.latencyStats()[LatencyBitfield]
	want := NewLatencyStats("observer", latencyFrom[LatencyBitfield], []float64{10, 0, 80})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bitfield latency:\n got %+v\nwant %+v", got, want)
	}
	rep := rec.Report(3)
	if rep.BitfieldDelayMillis != 250 || rep.GossipMillis != (Percentiles{P50: 10, P99: 10}) {
		t.Fatalf("report: bitfield_delay_ms %v, gossip_ms %+v", rep.BitfieldDelayMillis, rep.GossipMillis)
	}
}

func TestMeasurerFinishInProcess(t *testing.T) {
	f := newRecorderFixture(t)
	obs := NewRecorder(f.g, nil)
	reg := prometheus.NewRegistry()
	bc := NewByteCounter()
	reg.MustRegister(bc)
	bc.LogRecvMessage(1100)
	bc.LogSentMessage(2200)
	h := &nodeHandle{index: 0, reg: reg, rec: NewRecorder(f.g, nil)}
	m := measurer{taken: true, baseBlock: 1, base: map[int]resourceSample{0: {in: ptr(100), out: ptr(200)}}}
	// Run alone, the test process may not have used a clock tick of CPU
	// yet, and the kernel counts in ticks: sample (which costs CPU) until
	// it has (or the platform has no CPU figure, which the checks below
	// then report).
	for {
		if s, err := selfSample(); err != nil || s.cpu == nil || *s.cpu > 0 {
			break
		}
	}
	rep := &Report{}
	m.finish(rep, obs, []*nodeHandle{h, nil}, 11)
	raw, err := json.Marshal(rep.NodesResources)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"node":0,"scope":"in-process","cpu_seconds":null,"rss_bytes":null,"goroutines":null,` +
		`"bytes_sent":2200,"bytes_received":1100,"blocks_measured":10,"bytes_sent_per_block":200,"bytes_received_per_block":100}]`
	if string(raw) != want {
		t.Fatalf("nodes_resources:\n got %s\nwant %s", raw, want)
	}
	pr := rep.ProcessResources
	if pr == nil || pr.CPUSeconds <= 0 || pr.RSSBytes <= 0 || pr.Goroutines < 1 ||
		pr.Scope != "the testnet process: the observer and every in-process node" {
		t.Fatalf("process_resources: %+v", pr)
	}
	if _, ok := rep.LatencyMillis[LatencyBitfieldToAuthor]; !ok || rep.LatencyNote != "" {
		t.Fatalf("in process, bitfield_to_author is measured: %v, note %q", rep.LatencyMillis, rep.LatencyNote)
	}
	for _, k := range observerKinds {
		if st, ok := rep.LatencyMillis[k]; !ok || st.MeasuredAt != "observer" {
			t.Errorf("kind %s: %+v, %v", k, st, ok)
		}
	}
}

func TestPerBlock(t *testing.T) {
	for _, tc := range []struct {
		end, start *float64
		blocks     int
		want       *float64
	}{
		{ptr(30), ptr(10), 4, ptr(5)},
		{ptr(5), ptr(10), 4, nil}, // restarted: the counter began again
		{nil, ptr(10), 4, nil},
		{ptr(30), nil, 4, nil},
		{ptr(30), ptr(10), 0, nil},
	} {
		got := perBlock(tc.end, tc.start, tc.blocks)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("perBlock(%v, %v, %d) = %v, want %v", deref(tc.end), deref(tc.start), tc.blocks, got, tc.want)
		}
	}
}

func ptr(v float64) *float64 { return &v }

// TestRecorderListsLateBitfields: a bitfield seen signed for a leaf but
// left out of the leaf's child is listed with the block, its author and
// when the observer got it relative to the child's slot; one the observer
// never saw and the block included is signed, not late.
func TestRecorderListsLateBitfields(t *testing.T) {
	f := newRecorderFixture(t)
	rec := NewRecorder(f.g, nil)
	slot2 := f.t0.Add(ms(2000))
	rec.Block(f.b1, f.i1, f.t0.Add(ms(1450)))
	rec.Bitfield(f.i1.Hash, 0, slot2.Add(-ms(500)))
	rec.Bitfield(f.i1.Hash, 2, slot2.Add(ms(40)))   // after the author asked
	rec.Bitfield(f.i1.Hash, 1, slot2.Add(-ms(300))) // in time, yet left out
	b2 := *f.b2
	b2.Body.Extrinsic.Data.Bitfields = []types.UncheckedSignedAvailabilityBitfield{{ValidatorIndex: 0}, {ValidatorIndex: 3}}
	rec.Block(&b2, f.i2, slot2.Add(ms(450)))
	rep := rec.Report(4)
	if rep.Bitfields.Signed != 4 || rep.Bitfields.InInherent != 2 {
		t.Fatalf("bitfields: %+v", rep.Bitfields)
	}
	f1, f2 := -300.0, 40.0
	want := []LateBitfield{
		{Block: 2, Author: "2 (//Charlie)", Validator: 1, ObserverMillis: &f1},
		{Block: 2, Author: "2 (//Charlie)", Validator: 2, ObserverMillis: &f2},
	}
	if !reflect.DeepEqual(rep.Bitfields.Late, want) {
		t.Fatalf("late:\n got %s\nwant %s", mustJSON(t, rep.Bitfields.Late), mustJSON(t, want))
	}
	var out bytes.Buffer
	rep.WriteSummary(&out)
	const line = "  late bitfields: validator 1 left out of #2 by 2 (//Charlie) (at the observer -300 ms from its slot); " +
		"validator 2 left out of #2 by 2 (//Charlie) (at the observer +40 ms from its slot)\n"
	if !strings.Contains(out.String(), line) {
		t.Fatalf("summary has no line %q:\n%s", line, out.String())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
