package plot

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/testnet"
	"github.com/polkadot-provisioner/provisioner/types"
)

func f(v float64) *float64 { return &v }

// fixedReport is a small process-mode report with every measurement.
func fixedReport(validators int) *testnet.Report {
	rep := &testnet.Report{Validators: validators, Nodes: validators, Paras: 2, Cores: 2, SlotMillis: 1000,
		GenesisHash: "0xabc", Pass: true,
		LatencyMillis: map[string]testnet.LatencyStats{
			testnet.LatencyBitfield:     testnet.NewLatencyStats("observer", "f", []float64{1, 2, 3, 4, 9}),
			testnet.LatencyAnnouncement: testnet.NewLatencyStats("observer", "f", []float64{20, 25}),
			testnet.LatencyDispute:      testnet.NewLatencyStats("observer", "f", nil),
		},
		ProcessResources: &testnet.ProcessResources{Scope: "the testnet process: the observer", CPUSeconds: 0.5,
			RSSBytes: 4e7, Goroutines: 30, BlocksMeasured: 3, CPUSecondsPerBlock: f(0.01)},
	}
	for i := 1; i <= 4; i++ {
		rep.Blocks = append(rep.Blocks, testnet.BlockReport{Number: types.BlockNumber(i), Bitfields: validators, Backed: 2, Included: min(2, i-1)})
	}
	for i := 0; i < validators; i++ {
		rep.NodesResources = append(rep.NodesResources, testnet.NodeResources{Node: i, Scope: "process",
			CPUSeconds: f(1 + float64(i)), RSSBytes: f(5e7), Goroutines: f(100),
			BytesSent: f(1e5 * float64(validators)), BytesReceived: f(9e4 * float64(validators)),
			BlocksMeasured: 3, CPUSecondsPerBlock: f(0.02 * float64(validators)),
			BytesSentPerBlock: f(1000 * float64(validators)), BytesReceivedPerBlock: f(900 * float64(validators))})
	}
	return rep
}

// fetches matches what would make a browser load something: scripts,
// stylesheets, images, frames, CSS imports and urls, with any address.
// Text (escaped report strings) may say anything: only tags count.
var fetches = regexp.MustCompile(`(?i)<(script|link|img|iframe|object|embed|image|use)\b|<[a-z][^>]*\s(src|href|xlink:href)\s*=|@import|url\(`)

func checkSelfContained(t *testing.T, page string, svgs int) {
	t.Helper()
	if n := strings.Count(page, "<svg "); n != svgs {
		t.Errorf("%d <svg> elements, want %d", n, svgs)
	}
	if n := strings.Count(page, "</svg>"); n != svgs {
		t.Errorf("%d </svg>, want %d", n, svgs)
	}
	if m := fetches.FindString(page); m != "" {
		t.Errorf("page fetches something: %q", m)
	}
	if strings.Contains(page, "<?xml") {
		t.Error("an XML prelude inside the HTML")
	}
	// The only addresses are the SVG namespaces, which nothing fetches.
	rest := strings.NewReplacer(`xmlns="http://www.w3.org/2000/svg"`, "", `xmlns:xlink="http://www.w3.org/1999/xlink"`, "").Replace(page)
	if i := strings.Index(rest, "http"); i >= 0 {
		t.Errorf("an address in the page: %q", rest[i:min(len(rest), i+60)])
	}
}

func TestWriteRunHasOneSVGPerPlot(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRun(&buf, fixedReport(3)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	checkSelfContained(t, page, 4)
	for _, want := range []string{
		"<h2>Gossip latency CDF by kind</h2>", "<h2>Bitfields and candidates per block</h2>",
		"<h2>CPU seconds per node</h2>", "<h2>Bytes sent and received per node</h2>",
		// The latency table, from the fixed stats.
		"<tr><td>bitfield</td><td>observer</td><td>5</td><td>3.0</td><td>4.0</td><td>4.0</td><td>9.0</td>",
		// The legend names each kind with its samples; a kind without any
		// is left out of the plot.
		"bitfield at observer (5)", "announcement at observer (2)",
		"<tr><td>2</td><td>process</td><td>3.00</td><td>0.0600</td><td>47.7 MiB</td><td>100</td><td>300000</td><td>270000</td></tr>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "dispute at observer") {
		t.Error("a kind without samples is in the legend")
	}
}

func TestWriteRunWithoutMeasurements(t *testing.T) {
	// An in-process report without bytes, and a report with nothing.
	inproc := fixedReport(2)
	for i := range inproc.NodesResources {
		n := &inproc.NodesResources[i]
		n.Scope, n.CPUSeconds, n.RSSBytes, n.Goroutines, n.BytesSent, n.BytesReceived = "in-process", nil, nil, nil, nil, nil
	}
	for _, rep := range []*testnet.Report{inproc, {}} {
		var buf bytes.Buffer
		if err := WriteRun(&buf, rep); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		checkSelfContained(t, page, 4)
		if !strings.Contains(page, "bytes not measured: the nodes export no substrate_sub_libp2p_network_bytes_total") {
			t.Error("no note that bytes were not measured")
		}
	}
}

func TestWriteRunEscapesReportStrings(t *testing.T) {
	rep := fixedReport(2)
	rep.LatencyMillis["<script>alert(1)</script>"] = testnet.NewLatencyStats("observer", "<img src=x>", []float64{1})
	var buf bytes.Buffer
	if err := WriteRun(&buf, rep); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, buf.String(), 4)
}

func TestScalingPoints(t *testing.T) {
	pt, err := Scaling("r3.json", fixedReport(3))
	if err != nil {
		t.Fatal(err)
	}
	want := ScalingPoint{Name: "r3.json", Validators: 3, Blocks: 3, CPUPerNodePerBlock: 0.06,
		CPUFrom: "node processes, from block 1", HasBytes: true,
		BytesSentPerNodePerBlock: 3000, BytesReceivedPerNodePerBlock: 2700}
	if pt.CPUPerNodePerBlock < 0.0599999 || pt.CPUPerNodePerBlock > 0.0600001 {
		t.Fatalf("cpu %v", pt.CPUPerNodePerBlock)
	}
	pt.CPUPerNodePerBlock = want.CPUPerNodePerBlock
	if pt != want {
		t.Fatalf("got  %+v\nwant %+v", pt, want)
	}
	// In process: the testnet process's CPU per block shared by the nodes.
	inproc := fixedReport(2)
	for i := range inproc.NodesResources {
		n := &inproc.NodesResources[i]
		n.Scope, n.CPUSeconds, n.CPUSecondsPerBlock = "in-process", nil, nil
	}
	pt, err = Scaling("in.json", inproc)
	if err != nil {
		t.Fatal(err)
	}
	if pt.CPUPerNodePerBlock != 0.005 || pt.CPUFrom != "testnet process / nodes (in-process), from block 1" {
		t.Fatalf("in process: %+v", pt)
	}
	if _, err := Scaling("old.json", &testnet.Report{Validators: 3}); !errors.Is(err, ErrNoMeasurements) ||
		err.Error() != "old.json: no nodes_resources or process_resources" {
		t.Fatalf("a report without measurements: %v", err)
	}
	if _, err := Scaling("x.json", &testnet.Report{}); err == nil || err.Error() != "x.json: validators 0: not a testnet report" {
		t.Fatalf("not a report: %v", err)
	}
}

func TestWriteScaling(t *testing.T) {
	var pts []ScalingPoint
	for _, v := range []int{10, 3, 5} {
		pt, err := Scaling("r.json", fixedReport(v))
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, pt)
	}
	var buf bytes.Buffer
	if err := WriteScaling(&buf, pts); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	checkSelfContained(t, page, 2)
	// The table is sorted by validators.
	i3, i5, i10 := strings.Index(page, "<td>3</td>"), strings.Index(page, "<td>5</td>"), strings.Index(page, "<td>10</td>")
	if i3 < 0 || !(i3 < i5 && i5 < i10) {
		t.Errorf("scaling rows not sorted by validators: %d %d %d", i3, i5, i10)
	}
}
