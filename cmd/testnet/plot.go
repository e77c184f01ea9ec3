package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/polkadot-provisioner/provisioner/testnet"
	"github.com/polkadot-provisioner/provisioner/testnet/plot"
)

const plotUsage = `testnet plot: scaling curves from several testnet reports

Usage: testnet plot [--html FILE] REPORT.json...

Reads reports written by testnet --report (runs with different --nodes),
prints each one's per-node CPU seconds and bytes per block, and with --html
writes a self-contained HTML page (inline SVG, nothing fetched) plotting
them against the number of validators.

Exit status:
  0    printed (and written)
  1    a report unreadable, not a report, or without measurements; FILE not written
  2    usage error

Flags:
`

// runPlot is the plot subcommand.
func runPlot(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testnet plot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	html := fs.String("html", "", "write the HTML page of the scaling curves to this file")
	fail := func(code int, format string, a ...any) int {
		// One line, whatever the error says.
		msg := strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
		fmt.Fprintln(stderr, "testnet plot: "+msg)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, plotUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + name
		}
		return fail(2, "%s (see testnet plot --help)", msg)
	}
	if fs.NArg() == 0 {
		return fail(2, "no reports (usage: testnet plot [--html FILE] REPORT.json...)")
	}
	for _, a := range fs.Args() {
		// Go's flag package stops at the first report: a flag after it
		// would silently be read as a file name.
		if strings.HasPrefix(a, "-") {
			return fail(2, "flag %s after the reports: flags go first (see testnet plot --help)", a)
		}
	}
	var points []plot.ScalingPoint
	for _, path := range fs.Args() {
		rep, err := loadReport(path)
		if err != nil {
			return fail(1, "%v", err)
		}
		pt, err := plot.Scaling(path, rep)
		if err != nil {
			return fail(1, "%v", err)
		}
		points = append(points, pt)
	}
	writeScalingTable(stdout, points)
	if *html != "" {
		if err := writeHTML(*html, func(w io.Writer) error { return plot.WriteScaling(w, points) }); err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintf(stdout, "plots written to %s\n", *html)
	}
	return 0
}

// loadReport reads a report written by testnet --report.
func loadReport(path string) (*testnet.Report, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var rep testnet.Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("%s: not a testnet report: %w", path, err)
	}
	return &rep, nil
}

func writeScalingTable(w io.Writer, points []plot.ScalingPoint) {
	fmt.Fprintf(w, "%-24s  %10s  %6s  %16s  %17s  %17s  %s\n",
		"report", "validators", "blocks", "cpu s/node/block", "sent B/node/block", "recv B/node/block", "cpu from")
	for _, p := range points {
		sent, recv := "-", "-"
		if p.HasBytes {
			sent = fmt.Sprintf("%.0f", p.BytesSentPerNodePerBlock)
			recv = fmt.Sprintf("%.0f", p.BytesReceivedPerNodePerBlock)
		}
		fmt.Fprintf(w, "%-24s  %10d  %6d  %16.4f  %17s  %17s  %s\n",
			p.Name, p.Validators, p.Blocks, p.CPUPerNodePerBlock, sent, recv, p.CPUFrom)
	}
}

// writeHTML writes a page to path through a temporary file beside it, so
// that a failed write leaves no half page under the name.
func writeHTML(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(dirOf(path), ".testnet-plot-*.html")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	// CreateTemp makes the file private; a page is for reading.
	err = f.Chmod(0o644)
	if err == nil {
		err = write(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		return path[:i+1]
	}
	return "."
}
