package plot

import (
	"errors"
	"fmt"
	"io"
	"sort"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

// ErrNoMeasurements: a report carries no resource figures (written before
// the testnet measured them, or every node's scrape failed).
var ErrNoMeasurements = errors.New("no nodes_resources or process_resources")

// ScalingPoint is one report's per-node cost per block.
type ScalingPoint struct {
	Name       string
	Validators int
	// Blocks the per-block figures are averaged over.
	Blocks             int
	CPUPerNodePerBlock float64
	// CPUFrom says where the CPU figure comes from.
	CPUFrom                      string
	HasBytes                     bool
	BytesSentPerNodePerBlock     float64
	BytesReceivedPerNodePerBlock float64
}

// Scaling reads one report's point. Per-block figures (measured from the
// first block, without start-up) are preferred; a report without them
// falls back to the whole run's figures over its blocks, and says so.
func Scaling(name string, rep *testnet.Report) (ScalingPoint, error) {
	pt := ScalingPoint{Name: name, Validators: rep.Validators}
	if rep.Validators <= 0 {
		return pt, fmt.Errorf("%s: validators %d: not a testnet report", name, rep.Validators)
	}
	if len(rep.NodesResources) == 0 && rep.ProcessResources == nil {
		return pt, fmt.Errorf("%s: %w", name, ErrNoMeasurements)
	}
	var cpu, sent, recv []float64
	for _, n := range rep.NodesResources {
		if n.CPUSecondsPerBlock != nil {
			cpu = append(cpu, *n.CPUSecondsPerBlock)
			pt.Blocks = max(pt.Blocks, n.BlocksMeasured)
		}
		if n.BytesSentPerBlock != nil && n.BytesReceivedPerBlock != nil {
			sent = append(sent, *n.BytesSentPerBlock)
			recv = append(recv, *n.BytesReceivedPerBlock)
		}
	}
	nodes := max(1, len(rep.NodesResources))
	pr := rep.ProcessResources
	switch {
	case len(cpu) > 0:
		pt.CPUPerNodePerBlock, pt.CPUFrom = mean(cpu), "node processes, from block 1"
	case pr != nil && pr.CPUSecondsPerBlock != nil && inProcess(rep):
		// One process for every node: its cost shared out evenly.
		pt.CPUPerNodePerBlock = *pr.CPUSecondsPerBlock / float64(nodes)
		pt.Blocks, pt.CPUFrom = pr.BlocksMeasured, "testnet process / nodes (in-process), from block 1"
	case len(rep.Blocks) > 0:
		var total []float64
		for _, n := range rep.NodesResources {
			if n.CPUSeconds != nil {
				total = append(total, *n.CPUSeconds)
			}
		}
		if len(total) == 0 {
			return pt, fmt.Errorf("%s: no CPU figures per node", name)
		}
		pt.CPUPerNodePerBlock = mean(total) / float64(len(rep.Blocks))
		pt.Blocks, pt.CPUFrom = len(rep.Blocks), "node processes, whole run with start-up"
	default:
		return pt, fmt.Errorf("%s: no blocks and no per-block CPU figures", name)
	}
	if len(sent) > 0 {
		pt.HasBytes = true
		pt.BytesSentPerNodePerBlock, pt.BytesReceivedPerNodePerBlock = mean(sent), mean(recv)
	}
	return pt, nil
}

func inProcess(rep *testnet.Report) bool {
	for _, n := range rep.NodesResources {
		if n.Scope != "in-process" {
			return false
		}
	}
	return true
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// ScalingFigures are the scaling curves of points: CPU and bytes per node
// per block against validators.
func ScalingFigures(points []ScalingPoint) ([]Figure, error) {
	ps := append([]ScalingPoint(nil), points...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Validators < ps[j].Validators })
	cpu := Figure{Title: "CPU seconds per node per block",
		Note: "mean over nodes of CPU seconds per relay-chain block, against the number of validators"}
	p := newPlot(cpu.Title, "validators", "CPU s / node / block")
	xys := make(plotter.XYs, len(ps))
	for i, pt := range ps {
		xys[i] = plotter.XY{X: float64(pt.Validators), Y: pt.CPUPerNodePerBlock}
	}
	if err := addLine(p, "cpu", 0, xys, false); err != nil {
		return nil, err
	}
	var err error
	if cpu.SVG, err = render(p); err != nil {
		return nil, err
	}

	bytesFig := Figure{Title: "Bytes per node per block",
		Note: "mean over nodes of libp2p stream bytes per relay-chain block, against the number of validators"}
	p = newPlot(bytesFig.Title, "validators", "bytes / node / block")
	p.Legend.Top = true
	var sent, recv plotter.XYs
	for _, pt := range ps {
		if pt.HasBytes {
			sent = append(sent, plotter.XY{X: float64(pt.Validators), Y: pt.BytesSentPerNodePerBlock})
			recv = append(recv, plotter.XY{X: float64(pt.Validators), Y: pt.BytesReceivedPerNodePerBlock})
		}
	}
	if len(sent) == 0 {
		bytesFig.Note = "bytes not measured in these reports: the nodes export no " + testnet.MetricNetworkBytes
	} else {
		if err := addLine(p, "sent", 0, sent, true); err != nil {
			return nil, err
		}
		if err := addLine(p, "received", 1, recv, true); err != nil {
			return nil, err
		}
	}
	if bytesFig.SVG, err = render(p); err != nil {
		return nil, err
	}
	return []Figure{cpu, bytesFig}, nil
}

// addLine adds a line with points, the i-th colour and shape.
func addLine(p *gplot.Plot, name string, i int, xys plotter.XYs, legend bool) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
	p.Add(l, pts)
	if legend {
		p.Legend.Add(name, l, pts)
	}
	return nil
}

// WriteScaling writes the HTML page of the scaling curves of points.
func WriteScaling(w io.Writer, points []ScalingPoint) error {
	figs, err := ScalingFigures(points)
	if err != nil {
		return err
	}
	ps := append([]ScalingPoint(nil), points...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Validators < ps[j].Validators })
	return writePage(w, pageData{
		Title:    fmt.Sprintf("testnet scaling: %d reports", len(points)),
		Subtitle: "per-node cost per relay-chain block against the number of validators",
		Figures:  figs, Scaling: ps,
	})
}
