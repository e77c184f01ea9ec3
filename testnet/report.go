package testnet

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// TimeFormat is RFC 3339 with milliseconds, in UTC: the report's times.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// BlockReport is one row of the testnet report.
type BlockReport struct {
	Number     types.BlockNumber `json:"number"`
	Hash       string            `json:"hash"`
	ParentHash string            `json:"parent_hash"`
	Slot       uint64            `json:"slot"`
	// Timestamp is the start of the block's slot (genesis time + slot x
	// slot length), as Substrate's timestamp inherent would say.
	Timestamp     string  `json:"timestamp"`
	Author        string  `json:"author"`
	InherentBytes int     `json:"inherent_bytes"`
	FetchMillis   float64 `json:"fetch_ms"`
	Bitfields     int     `json:"bitfields"`
	Backed        int     `json:"backed"`
	Included      int     `json:"included"`
	Disputes      int     `json:"disputes"`
	EmptyFallback bool    `json:"empty_fallback"`
	// Fork: the block's parent was not the observer's best block when it
	// arrived (a competing block, or a reorganisation).
	Fork bool `json:"fork,omitempty"`
	// The runtime's view of the block (chainreport.go): its session, the
	// inherent's weight, what enter filtered (0 for every block a node
	// accepts), the candidates it backed and the cores in use.
	Session    types.SessionIndex `json:"session"`
	Weight     WeightReport       `json:"weight"`
	Filtered   int                `json:"filtered"`
	Candidates []BackedInfo       `json:"candidates"`
	CoresUsed  int                `json:"cores_used"`
}

// Report is what `testnet --report FILE` writes.
type Report struct {
	Version     string   `json:"version"`
	Flags       []string `json:"flags"`
	Seed        uint64   `json:"seed"`
	GenesisHash string   `json:"genesis_hash"`
	StartedAt   string   `json:"started_at"`
	EndedAt     string   `json:"ended_at"`
	// Pass: every check passed.
	Pass bool `json:"pass"`
	// Interrupted: the run was ended by Ctrl-C (or its context) before
	// --blocks were produced, or ran until then with --blocks 0; its
	// checks judge the blocks that ran.
	Interrupted bool `json:"interrupted,omitempty"`
	// BaseDir is set when the base dir was kept (a check failed, the run
	// was interrupted, or it was given with --base-dir).
	BaseDir    string `json:"base_dir,omitempty"`
	Nodes      int    `json:"nodes"`
	Validators int    `json:"validators"`
	Paras      int    `json:"paras"`
	Cores      int    `json:"cores"`
	SlotMillis int64  `json:"slot_ms"`
	// BitfieldDelayMillis: how long after importing a leaf validators
	// signed their bitfields for it (gossip_ms starts then).
	BitfieldDelayMillis float64            `json:"bitfield_delay_ms"`
	Blocks              []BlockReport      `json:"blocks"`
	ParasIncluded       map[string]int     `json:"paras_included"`
	Bitfields           BitfieldStats      `json:"bitfields"`
	GossipMillis        Percentiles        `json:"gossip_ms"`
	RejectedMessages    map[string]float64 `json:"rejected_messages"`
	IgnoredMessages     map[string]float64 `json:"ignored_messages"`
	// DroppedMessages: what the nodes lost without judging it (a full
	// queue, an inbound gossip stream reset for a frame, a parked message
	// that found no room or whose leaf never came; GossipCounters), by
	// reason, and by node (nodes that dropped nothing are left out).
	DroppedMessages map[string]float64         `json:"dropped_messages"`
	DroppedByNode   map[int]map[string]float64 `json:"dropped_by_node,omitempty"`
	// DiscardedData: what the nodes' provisioners refused of what gossip
	// handed them, "kind/reason" (unknown_relay_parent is mostly data for
	// a leaf just replaced, superseded a bitfield with no more bits).
	DiscardedData   map[string]float64         `json:"discarded_data"`
	DiscardedByNode map[int]map[string]float64 `json:"discarded_by_node,omitempty"`
	Graylisted      []string                   `json:"graylisted,omitempty"`
	Faults          []string                   `json:"faults,omitempty"`
	Checks          []Check                    `json:"checks"`
	// Measurements (measure.go): each node's cost, the testnet process's,
	// and gossip latency by kind.
	NodesResources   []NodeResources         `json:"nodes_resources,omitempty"`
	ProcessResources *ProcessResources       `json:"process_resources,omitempty"`
	LatencyMillis    map[string]LatencyStats `json:"latency_ms,omitempty"`
	LatencyNote      string                  `json:"latency_note,omitempty"`
	// The runtime's totals (chainreport.go).
	Lookahead      uint32             `json:"lookahead"`
	SessionLength  uint32             `json:"session_length"`
	GroupRotation  uint32             `json:"group_rotation"`
	AsyncBacked    AsyncBackedStats   `json:"async_backed"`
	Sessions       int                `json:"sessions"`
	FilteredBlocks int                `json:"filtered_blocks"`
	Disputes       DisputeStats       `json:"disputes"`
	InvalidParas   []InvalidParaStats `json:"invalid_paras,omitempty"`

	// Attacks: per --attack, what the attacker saw and what the nodes
	// refused (attack.go).
	Attacks []AttackReport `json:"attacks,omitempty"`
}

// BitfieldStats compares bitfields signed for a leaf with those included in
// the block built on it.
type BitfieldStats struct {
	Signed     int     `json:"signed"`
	InInherent int     `json:"in_inherent"`
	Ratio      float64 `json:"ratio"`
	// Late lists the signed bitfields that the next block left out (the
	// first maxLateListed of them, by block and validator), so that a
	// shortfall says whose bitfields were missing and whether they were
	// late at the observer too.
	Late []LateBitfield `json:"late,omitempty"`
}

// LateBitfield is a bitfield signed for a leaf that the block built on
// the leaf did not include.
type LateBitfield struct {
	Block     types.BlockNumber    `json:"block"` // the block that left it out
	Author    string               `json:"author"`
	Validator types.ValidatorIndex `json:"validator"`
	// ObserverMillis is when the observer got the bitfield, in ms from the
	// start of that block's slot (the author asks for its inherent at
	// about that moment): after 0, the gossip was late everywhere; well
	// before it, the author's node lost or refused it. Absent when the
	// observer never got it.
	ObserverMillis *float64 `json:"observer_ms,omitempty"`
}

// maxLateListed bounds BitfieldStats.Late: a run that loses thousands
// needs no list to say so.
const maxLateListed = 50

// Percentiles of a latency distribution.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// Check is one of the testnet's pass/fail criteria.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// Recorder is the observer's notebook: it hears every block and bitfield
// the observer node sees and turns them into a Report.
type Recorder struct {
	mu          sync.Mutex
	g           *Genesis
	blocks      []BlockReport
	byHash      map[types.Hash]int // index in blocks
	leafSeen    map[types.Hash]time.Time
	signed      map[types.Hash]map[types.ValidatorIndex]bool // leaf -> validators whose bitfield arrived
	inInherent  map[types.Hash]int                           // leaf -> bitfields included by its child
	inBlock     map[types.Hash]map[types.ValidatorIndex]bool // leaf -> validators whose bitfield a child included
	children    map[types.Hash][]int                         // leaf -> its children's indices in blocks
	hasChild    map[types.Hash]bool
	gossip      []float64
	included    map[types.ParaID]int
	out         io.Writer
	printedHead bool
	best        types.Hash // the observer's best block, for fork marks
	meas        measurements
	chain       chainNotes // the runtime's events (chainreport.go)
}

// NewRecorder writes a live table to out (nil: silent).
func NewRecorder(g *Genesis, out io.Writer) *Recorder {
	genesis := g.GenesisHeader()
	return &Recorder{
		g: g, byHash: map[types.Hash]int{}, leafSeen: map[types.Hash]time.Time{},
		signed: map[types.Hash]map[types.ValidatorIndex]bool{}, inInherent: map[types.Hash]int{},
		inBlock:  map[types.Hash]map[types.ValidatorIndex]bool{},
		children: map[types.Hash][]int{},
		hasChild: map[types.Hash]bool{}, included: map[types.ParaID]int{}, out: out,
		best: genesis.Hash(),
	}
}

// Block records an imported block.
func (r *Recorder) Block(b *Block, imp *Imported, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inh := &b.Body.Extrinsic.Data
	slotStart := time.UnixMilli(r.g.GenesisUnixMillis + int64(imp.Slot)*r.g.SlotMillis)
	row := BlockReport{
		Number:        b.Header.Number,
		Hash:          imp.Hash.String(),
		ParentHash:    b.Header.ParentHash.String(),
		Slot:          imp.Slot,
		Timestamp:     slotStart.UTC().Format(TimeFormat),
		Author:        fmt.Sprintf("%d (%s)", imp.Author, DevURI(int(imp.Author))),
		InherentBytes: inh.EncodedSize(),
		FetchMillis:   float64(b.Body.FetchMicros) / 1000,
		Bitfields:     len(inh.Bitfields),
		Backed:        len(inh.BackedCandidates),
		Disputes:      len(inh.Disputes),
		EmptyFallback: b.Body.Fallback,
		Fork:          b.Header.ParentHash != r.best,
	}
	if imp.BecameBest {
		r.best = imp.Hash
	}
	if imp.Result != nil {
		row.Included = len(imp.Result.Included)
		for _, p := range imp.Result.Included {
			r.included[p.Para]++
		}
	}
	r.chain.block(r.g, &row, imp)
	r.byHash[imp.Hash] = len(r.blocks)
	r.children[b.Header.ParentHash] = append(r.children[b.Header.ParentHash], len(r.blocks))
	r.blocks = append(r.blocks, row)
	r.leafSeen[imp.Hash] = at
	r.meas.block(b, imp, slotStart, at)
	r.inInherent[b.Header.ParentHash] += len(inh.Bitfields)
	// A bitfield in the block was signed even if its gossip never reached
	// the observer: count it among the signed ones.
	m := r.signed[b.Header.ParentHash]
	if m == nil {
		m = map[types.ValidatorIndex]bool{}
		r.signed[b.Header.ParentHash] = m
	}
	in := r.inBlock[b.Header.ParentHash]
	if in == nil {
		in = map[types.ValidatorIndex]bool{}
		r.inBlock[b.Header.ParentHash] = in
	}
	for i := range inh.Bitfields {
		m[inh.Bitfields[i].ValidatorIndex] = true
		in[inh.Bitfields[i].ValidatorIndex] = true
	}
	r.hasChild[b.Header.ParentHash] = true
	if r.out != nil {
		if !r.printedHead {
			fmt.Fprintf(r.out, "%6s  %-14s  %-18s  %7s  %9s  %6s  %8s  %9s  %9s  %8s  %s\n",
				"block", "hash", "author", "session", "bitfields", "backed", "included", "bytes", "fetch ms", "fallback", "note")
			r.printedHead = true
		}
		fb := ""
		if row.EmptyFallback {
			fb = "EMPTY"
		}
		note := ""
		if row.Fork {
			note = "FORK: parent " + row.ParentHash[:14] + " is not the previous best"
		}
		if d := r.chain.note(imp); d != "" {
			note = strings.TrimSpace(note + " " + d)
		}
		fmt.Fprintf(r.out, "%6d  %-14s  %-18s  %7d  %9d  %6d  %8d  %9d  %9.1f  %8s  %s\n",
			row.Number, row.Hash[:14], row.Author, row.Session, row.Bitfields, row.Backed, row.Included,
			row.InherentBytes, row.FetchMillis, fb, note)
	}
}

// Bitfield records a bitfield for leaf arriving at the observer.
func (r *Recorder) Bitfield(leaf types.Hash, v types.ValidatorIndex, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.meas.bitfieldArrived(leaf, v, at)
	m := r.signed[leaf]
	if m == nil {
		m = map[types.ValidatorIndex]bool{}
		r.signed[leaf] = m
	}
	if m[v] {
		return
	}
	m[v] = true
	if seen, ok := r.leafSeen[leaf]; ok {
		// A validator that imported the leaf before the observer signs
		// before the observer's import + delay: its bitfield may come
		// sooner than that, which is no latency at all.
		r.gossip = append(r.gossip, max(0, float64(at.Sub(seen.Add(r.meas.bitfieldDelay)).Microseconds())/1000))
		r.meas.observe(LatencyBitfield, r.gossip[len(r.gossip)-1])
	}
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// Report builds the report so far.
func (r *Recorder) Report(nodes int) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{
		Nodes: nodes, Validators: len(r.g.Validators), Paras: len(r.g.Paras), Cores: r.g.Cores,
		SlotMillis: r.g.SlotMillis, Blocks: append([]BlockReport(nil), r.blocks...),
		BitfieldDelayMillis: float64(r.meas.bitfieldDelay.Microseconds()) / 1000,
		ParasIncluded:       map[string]int{},
		RejectedMessages:    map[string]float64{}, IgnoredMessages: map[string]float64{},
		DroppedMessages: map[string]float64{}, DroppedByNode: map[int]map[string]float64{},
		DiscardedData: map[string]float64{}, DiscardedByNode: map[int]map[string]float64{},
		GossipMillis: Percentiles{P50: percentile(r.gossip, 0.50), P99: percentile(r.gossip, 0.99)},
	}
	sort.Slice(rep.Blocks, func(i, j int) bool { return rep.Blocks[i].Number < rep.Blocks[j].Number })
	for _, p := range r.g.Paras {
		rep.ParasIncluded[strconv.Itoa(int(p))] = r.included[p]
	}
	// Only leaves that got a child count: the last leaf's bitfields have
	// no block to go into yet.
	for leaf, vs := range r.signed {
		if r.hasChild[leaf] {
			rep.Bitfields.Signed += len(vs)
			rep.Bitfields.InInherent += min(r.inInherent[leaf], len(vs))
		}
	}
	if rep.Bitfields.Signed > 0 {
		rep.Bitfields.Ratio = float64(rep.Bitfields.InInherent) / float64(rep.Bitfields.Signed)
	}
	rep.Bitfields.Late = r.lateLocked()
	r.chain.fill(r.g, rep)
	return rep
}

// lateLocked lists the bitfields signed for a leaf that the leaf's child
// left out (the first child, when the leaf has several), by block number
// and validator index, at most maxLateListed.
func (r *Recorder) lateLocked() []LateBitfield {
	var out []LateBitfield
	for leaf, vs := range r.signed {
		kids := r.children[leaf]
		if len(kids) == 0 {
			continue
		}
		child := &r.blocks[kids[0]]
		slotStart := time.UnixMilli(r.g.GenesisUnixMillis + int64(child.Slot)*r.g.SlotMillis)
		for v := range vs {
			if r.inBlock[leaf][v] {
				continue
			}
			lb := LateBitfield{Block: child.Number, Author: child.Author, Validator: v}
			if at, ok := r.meas.arrivals[leaf][v]; ok {
				ms := float64(at.Sub(slotStart).Microseconds()) / 1000
				lb.ObserverMillis = &ms
			}
			out = append(out, lb)
		}
	}
	slices.SortFunc(out, func(x, y LateBitfield) int {
		if c := cmp.Compare(x.Block, y.Block); c != 0 {
			return c
		}
		return cmp.Compare(x.Validator, y.Validator)
	})
	if len(out) > maxLateListed {
		out = out[:maxLateListed]
	}
	return out
}

// WriteSummary prints the report for a terminal: paras by id, message
// reasons sorted, one check per line.
func (rep *Report) WriteSummary(w io.Writer) {
	state := ""
	if rep.Interrupted {
		state = " (interrupted)"
	}
	fmt.Fprintf(w, "\nsummary%s: %d blocks, %d validators, %d paras on %d cores, slot %d ms\n",
		state, len(rep.Blocks), rep.Validators, rep.Paras, rep.Cores, rep.SlotMillis)
	type para struct {
		id, n int
	}
	var ps []para
	for k, n := range rep.ParasIncluded {
		id, err := strconv.Atoi(k)
		if err != nil {
			id = -1
		}
		ps = append(ps, para{id, n})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d:%d", p.id, p.n)
	}
	fmt.Fprintf(w, "  paras included: %s\n", strings.Join(parts, " "))
	rep.writeChainSummary(w)
	signed := "on import"
	if rep.BitfieldDelayMillis > 0 {
		signed = fmt.Sprintf("%g ms after import", rep.BitfieldDelayMillis)
	}
	fmt.Fprintf(w, "  bitfields: %d signed %s, %d in the next block (%.2f%%); gossip p50 %.1f ms, p99 %.1f ms\n",
		rep.Bitfields.Signed, signed, rep.Bitfields.InInherent, 100*rep.Bitfields.Ratio, rep.GossipMillis.P50, rep.GossipMillis.P99)
	if late := rep.Bitfields.Late; len(late) > 0 {
		const show = 5
		var parts []string
		for _, l := range late[:min(show, len(late))] {
			at := "never seen by the observer"
			if l.ObserverMillis != nil {
				at = fmt.Sprintf("at the observer %+.0f ms from its slot", *l.ObserverMillis)
			}
			parts = append(parts, fmt.Sprintf("validator %d left out of #%d by %s (%s)", l.Validator, l.Block, l.Author, at))
		}
		more := ""
		if n := rep.Bitfields.Signed - rep.Bitfields.InInherent; n > show {
			more = fmt.Sprintf("; %d more", n-show)
		}
		fmt.Fprintf(w, "  late bitfields: %s%s\n", strings.Join(parts, "; "), more)
	}
	if len(rep.RejectedMessages) > 0 {
		fmt.Fprintf(w, "  rejected messages: %s\n", FormatCounts(rep.RejectedMessages))
	}
	if len(rep.IgnoredMessages) > 0 {
		fmt.Fprintf(w, "  ignored messages: %s\n", FormatCounts(rep.IgnoredMessages))
	}
	if len(rep.DroppedMessages) > 0 {
		nodes := slices.Sorted(maps.Keys(rep.DroppedByNode))
		var per []string
		for _, n := range nodes {
			per = append(per, fmt.Sprintf("node %d: %s", n, FormatCounts(rep.DroppedByNode[n])))
		}
		fmt.Fprintf(w, "  dropped messages: %s; %s\n", FormatCounts(rep.DroppedMessages), strings.Join(per, "; "))
	}
	forks := 0
	for _, b := range rep.Blocks {
		if b.Fork {
			forks++
		}
	}
	if forks > 0 {
		fmt.Fprintf(w, "  forks: %d blocks did not build on the previous best\n", forks)
	}
	for _, g := range rep.Graylisted {
		fmt.Fprintf(w, "  graylisted: %s\n", g)
	}
	for _, f := range rep.Faults {
		fmt.Fprintf(w, "  fault: %s\n", f)
	}
	rep.writeAttackSummary(w)
	for _, c := range rep.Checks {
		mark := "PASS"
		if !c.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-22s %s\n", mark, c.Name, c.Detail)
	}
	if rep.BaseDir != "" {
		fmt.Fprintf(w, "  base dir: %s (chain.json, network.json, node-N/node.log)\n", rep.BaseDir)
	}
}

// FormatCounts prints the non-zero counts by reason, sorted by reason,
// with the total: "bad_signature 16, decode 432 (448 in all)"; "none"
// when every count is zero (nodes export every reason from the start).
func FormatCounts(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	total := 0.0
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
			total += v
		}
	}
	if len(keys) == 0 {
		return "none"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.FormatFloat(m[k], 'f', -1, 64)
	}
	return strings.Join(parts, ", ") + " (" + strconv.FormatFloat(total, 'f', -1, 64) + " in all)"
}

// WriteFile writes the report as indented JSON.
func (rep *Report) WriteFile(path string) error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}
