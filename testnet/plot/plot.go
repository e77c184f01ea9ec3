// Package plot draws testnet reports as self-contained HTML pages: every
// figure is an SVG rendered by gonum.org/v1/plot and written inline, and
// the page loads nothing (no script, stylesheet, font or image from
// anywhere), so it opens the same from a CI artefact, a mail or a laptop
// without a network.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

// Figure size, in points.
const (
	figW = 6.5 * vg.Inch
	figH = 3.6 * vg.Inch
)

// Figure is one plot of a page.
type Figure struct {
	Title string
	// Note explains what is plotted, or why nothing is.
	Note string
	SVG  template.HTML
}

// RunFigures are the plots of one run, in page order: latency CDF per
// kind, bitfields and candidates per block, CPU per node, bytes per node.
func RunFigures(rep *testnet.Report) ([]Figure, error) {
	var figs []Figure
	for _, f := range []func(*testnet.Report) (Figure, error){latencyFigure, blocksFigure, cpuFigure, bytesFigure} {
		fig, err := f(rep)
		if err != nil {
			return nil, err
		}
		figs = append(figs, fig)
	}
	return figs, nil
}

// render draws p as an SVG element, without the XML prelude that has no
// place inside HTML.
func render(p *gplot.Plot) (template.HTML, error) {
	c := vgsvg.New(figW, figH)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", errors.New("render svg: no <svg> element")
	}
	// vgsvg escapes every text it writes (titles, labels, legends), so
	// the SVG is safe to inline even when a report's strings are not.
	return template.HTML(s[i:]), nil //nolint:gosec // see above
}

func newPlot(title, x, y string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// sortedKinds orders latency kinds by name, for stable colours and legends.
func sortedKinds(m map[string]testnet.LatencyStats) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func latencyFigure(rep *testnet.Report) (Figure, error) {
	fig := Figure{Title: "Gossip latency CDF by kind"}
	p := newPlot(fig.Title, "latency (ms)", "fraction of messages")
	p.Legend.Top = false
	p.Legend.Left = false
	drawn := 0
	for i, k := range sortedKinds(rep.LatencyMillis) {
		st := rep.LatencyMillis[k]
		if len(st.CDF) == 0 {
			continue
		}
		// A step from 0 at the first sample makes the curve start at
		// the axis, as an empirical CDF does.
		xys := plotter.XYs{{X: st.CDF[0][0], Y: 0}}
		for _, pt := range st.CDF {
			xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fig, fmt.Errorf("latency %s: %w", k, err)
		}
		l.StepStyle = plotter.PostStep
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s at %s (%d)", k, st.MeasuredAt, st.Samples), l)
		drawn++
	}
	fig.Note = "each kind's empirical CDF; the legend gives where it was measured and the number of samples"
	if drawn == 0 {
		fig.Note = "no latency samples in this report"
	} else if rep.LatencyNote != "" {
		fig.Note += "; " + rep.LatencyNote
	}
	svg, err := render(p)
	fig.SVG = svg
	return fig, err
}

func blocksFigure(rep *testnet.Report) (Figure, error) {
	fig := Figure{Title: "Bitfields and candidates per block",
		Note: "per block: signed bitfields, backed candidates and candidates included"}
	p := newPlot(fig.Title, "block", "count")
	p.Legend.Top = true
	series := []struct {
		name string
		get  func(b testnet.BlockReport) int
	}{
		{"bitfields", func(b testnet.BlockReport) int { return b.Bitfields }},
		{"backed", func(b testnet.BlockReport) int { return b.Backed }},
		{"included", func(b testnet.BlockReport) int { return b.Included }},
	}
	if len(rep.Blocks) == 0 {
		fig.Note = "no blocks in this report"
	}
	top := 0
	for _, b := range rep.Blocks {
		top = max(top, b.Bitfields, b.Backed, b.Included)
	}
	// Head room above the highest line for the legend.
	p.Y.Min, p.Y.Max = 0, float64(max(1, top))*1.35
	for i, s := range series {
		if len(rep.Blocks) == 0 {
			break
		}
		xys := make(plotter.XYs, len(rep.Blocks))
		for j, b := range rep.Blocks {
			xys[j] = plotter.XY{X: float64(b.Number), Y: float64(s.get(b))}
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fig, fmt.Errorf("blocks %s: %w", s.name, err)
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	svg, err := render(p)
	fig.SVG = svg
	return fig, err
}

// bars adds one bar chart per series, side by side, over named groups.
func bars(p *gplot.Plot, names []string, series []string, values [][]float64) error {
	n := len(series)
	w := vg.Points(min(40, 240/float64(max(1, len(names)*n))))
	for i := range series {
		b, err := plotter.NewBarChart(plotter.Values(values[i]), w)
		if err != nil {
			return fmt.Errorf("bars %s: %w", series[i], err)
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		if n > 1 {
			p.Legend.Add(series[i], b)
		}
	}
	p.NominalX(names...)
	return nil
}

func cpuFigure(rep *testnet.Report) (Figure, error) {
	fig := Figure{Title: "CPU seconds per node"}
	var names []string
	var cpu []float64
	for _, n := range rep.NodesResources {
		if n.CPUSeconds != nil {
			names = append(names, "node "+strconv.Itoa(n.Node))
			cpu = append(cpu, *n.CPUSeconds)
		}
	}
	fig.Note = "each node process's CPU seconds over the whole run"
	if pr := rep.ProcessResources; pr != nil {
		// The testnet process: the observer, and every node in process.
		names = append(names, "testnet")
		cpu = append(cpu, pr.CPUSeconds)
		fig.Note += "; testnet: " + pr.Scope
	}
	p := newPlot(fig.Title, "", "CPU seconds")
	if len(cpu) == 0 {
		fig.Note = "no CPU figures in this report"
	} else if err := bars(p, names, []string{"cpu"}, [][]float64{cpu}); err != nil {
		return fig, err
	}
	svg, err := render(p)
	fig.SVG = svg
	return fig, err
}

func bytesFigure(rep *testnet.Report) (Figure, error) {
	fig := Figure{Title: "Bytes sent and received per node",
		Note: "libp2p stream bytes over the whole run (without transport framing)"}
	var names []string
	sent, recv := []float64{}, []float64{}
	for _, n := range rep.NodesResources {
		if n.BytesSent == nil && n.BytesReceived == nil {
			continue
		}
		names = append(names, "node "+strconv.Itoa(n.Node))
		sent = append(sent, deref(n.BytesSent))
		recv = append(recv, deref(n.BytesReceived))
	}
	p := newPlot(fig.Title, "", "bytes")
	p.Legend.Top = true
	if len(names) == 0 {
		fig.Note = "bytes not measured: the nodes export no " + testnet.MetricNetworkBytes
	} else if err := bars(p, names, []string{"sent", "received"}, [][]float64{sent, recv}); err != nil {
		return fig, err
	}
	svg, err := render(p)
	fig.SVG = svg
	return fig, err
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// pageData is what page.html shows.
type pageData struct {
	Title    string
	Subtitle string
	Figures  []Figure
	Latency  []latencyRow
	Nodes    []nodeRow
	Scaling  []ScalingPoint
}

type latencyRow struct {
	Kind string
	testnet.LatencyStats
}

type nodeRow struct {
	Node, Scope, CPU, RSS, Goroutines, Sent, Received, CPUPerBlock string
}

func num(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

// WriteRun writes the HTML page of one run.
func WriteRun(w io.Writer, rep *testnet.Report) error {
	figs, err := RunFigures(rep)
	if err != nil {
		return err
	}
	d := pageData{
		Title: fmt.Sprintf("testnet: %d validators, %d paras, %d blocks of %d ms", rep.Validators, rep.Paras,
			len(rep.Blocks), rep.SlotMillis),
		Subtitle: fmt.Sprintf("genesis %s, started %s, pass %v", rep.GenesisHash, rep.StartedAt, rep.Pass),
		Figures:  figs,
	}
	for _, k := range sortedKinds(rep.LatencyMillis) {
		d.Latency = append(d.Latency, latencyRow{k, rep.LatencyMillis[k]})
	}
	for _, n := range rep.NodesResources {
		d.Nodes = append(d.Nodes, nodeRow{
			Node: strconv.Itoa(n.Node), Scope: n.Scope, CPU: num(n.CPUSeconds, "%.2f"),
			RSS: num(mib(n.RSSBytes), "%.1f MiB"), Goroutines: num(n.Goroutines, "%.0f"),
			Sent: num(n.BytesSent, "%.0f"), Received: num(n.BytesReceived, "%.0f"),
			CPUPerBlock: num(n.CPUSecondsPerBlock, "%.4f"),
		})
	}
	return writePage(w, d)
}

func mib(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p / (1 << 20)
	return &v
}

func writePage(w io.Writer, d pageData) error {
	if err := page.Execute(w, d); err != nil {
		return fmt.Errorf("write page: %w", err)
	}
	return nil
}

// page is the HTML around the figures: inline style only, nothing that
// loads from elsewhere.
var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
figure { margin: 1em 0 2em 0; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Subtitle}}</p>
{{range .Figures}}<figure>
<h2>{{.Title}}</h2>
{{.SVG}}
<figcaption>{{.Note}}</figcaption>
</figure>
{{end}}{{if .Latency}}<h2>Latency (ms)</h2>
<table>
<tr><th>kind</th><th>at</th><th>samples</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>from</th></tr>
{{range .Latency}}<tr><td>{{.Kind}}</td><td>{{.MeasuredAt}}</td><td>{{.Samples}}</td><td>{{printf "%.1f" .P50}}</td><td>{{printf "%.1f" .P90}}</td><td>{{printf "%.1f" .P99}}</td><td>{{printf "%.1f" .Max}}</td><td>{{.From}}</td></tr>
{{end}}</table>
{{end}}{{if .Nodes}}<h2>Resources per node</h2>
<table>
<tr><th>node</th><th>scope</th><th>CPU s</th><th>CPU s / block</th><th>RSS</th><th>goroutines</th><th>bytes sent</th><th>bytes received</th></tr>
{{range .Nodes}}<tr><td>{{.Node}}</td><td>{{.Scope}}</td><td>{{.CPU}}</td><td>{{.CPUPerBlock}}</td><td>{{.RSS}}</td><td>{{.Goroutines}}</td><td>{{.Sent}}</td><td>{{.Received}}</td></tr>
{{end}}</table>
{{end}}{{if .Scaling}}<h2>Scaling points</h2>
<table>
<tr><th>report</th><th>validators</th><th>blocks</th><th>CPU s / node / block</th><th>bytes sent / node / block</th><th>bytes received / node / block</th><th>CPU from</th></tr>
{{range .Scaling}}<tr><td>{{.Name}}</td><td>{{.Validators}}</td><td>{{.Blocks}}</td><td>{{printf "%.4f" .CPUPerNodePerBlock}}</td><td>{{if .HasBytes}}{{printf "%.0f" .BytesSentPerNodePerBlock}}{{else}}-{{end}}</td><td>{{if .HasBytes}}{{printf "%.0f" .BytesReceivedPerNodePerBlock}}{{else}}-{{end}}</td><td>{{.CPUFrom}}</td></tr>
{{end}}</table>
{{end}}</body>
</html>
`))
