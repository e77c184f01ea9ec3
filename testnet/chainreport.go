package testnet

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// WeightReport is an inherent's weight: picoseconds of ref time and bytes
// of proof size.
type WeightReport struct {
	RefTime   uint64 `json:"ref_time"`
	ProofSize uint64 `json:"proof_size"`
}

// AsyncBackedStats: of the candidates included, how many had a relay
// parent older than the parent of the block that backed them (async
// backing; without it every relay parent is that parent).
type AsyncBackedStats struct {
	Included int     `json:"included"`
	Older    int     `json:"older_relay_parent"`
	Ratio    float64 `json:"ratio"`
}

// DisputeStats are the disputes the observer saw: raised (distinct
// candidates disputed on gossip), included (dispute sets in blocks),
// concluded invalid, and the validators slashed and disabled.
type DisputeStats struct {
	Raised            int                    `json:"raised"`
	Included          int                    `json:"included"`
	ConcludedInvalid  int                    `json:"concluded_invalid"`
	Slashed           int                    `json:"slashed"`
	SlashedValidators []types.ValidatorIndex `json:"slashed_validators,omitempty"`
	Disabled          []types.ValidatorIndex `json:"disabled,omitempty"`
	Backers           []types.ValidatorIndex `json:"backers,omitempty"`
}

// InvalidParaStats follows a para whose invalid candidate was disputed:
// when the dispute concluded, and how many of its candidates the chain
// included afterwards.
type InvalidParaStats struct {
	Para            types.ParaID      `json:"para"`
	ConcludedAt     types.BlockNumber `json:"concluded_at"`
	IncludedAfter   int               `json:"included_after"`
	BackersSlashed  bool              `json:"backers_slashed"`
	BackersDisabled bool              `json:"backers_disabled"`
}

// chainNotes is the recorder's notebook of the runtime's events.
type chainNotes struct {
	backed       map[types.Hash]backedNote
	included     int
	older        int
	sessions     int
	raised       map[types.Hash]bool
	disputeSets  int
	concluded    map[types.Hash]types.BlockNumber // invalid, at block
	slashed      map[types.ValidatorIndex]bool
	disabled     map[types.ValidatorIndex]bool
	backers      map[types.Hash][]types.ValidatorIndex
	paraOf       map[types.Hash]types.ParaID
	includedAtBy map[types.ParaID][]types.BlockNumber
}

type backedNote struct {
	rp, in types.BlockNumber
}

func (c *chainNotes) init() {
	if c.backed != nil {
		return
	}
	c.backed, c.raised, c.concluded = map[types.Hash]backedNote{}, map[types.Hash]bool{}, map[types.Hash]types.BlockNumber{}
	c.slashed, c.disabled = map[types.ValidatorIndex]bool{}, map[types.ValidatorIndex]bool{}
	c.backers, c.paraOf, c.includedAtBy = map[types.Hash][]types.ValidatorIndex{}, map[types.Hash]types.ParaID{}, map[types.ParaID][]types.BlockNumber{}
}

// raise notes a dispute heard on gossip.
func (c *chainNotes) raise(set *types.DisputeStatementSet) {
	c.init()
	c.raised[set.CandidateHash] = true
}

// block fills the row's runtime fields and notes the block's events.
func (c *chainNotes) block(g *Genesis, row *BlockReport, imp *Imported) {
	c.init()
	row.Candidates = []BackedInfo{}
	if imp.State == nil {
		return
	}
	st := imp.State
	row.Session = st.Session
	used := map[types.CoreIndex]bool{}
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			used[pc.Core] = true
			c.paraOf[pc.Hash] = st.Paras[pi].ID
			if _, ok := c.backers[pc.Hash]; !ok {
				c.backers[pc.Hash] = slices.Clone(pc.Backers)
			}
		}
	}
	for _, v := range st.Disabled {
		c.disabled[v] = true
	}
	n := imp.Header.Number
	if out := imp.Result; out != nil {
		row.Weight = WeightReport{RefTime: out.Weight.RefTime, ProofSize: out.Weight.ProofSize}
		for _, k := range out.Filtered {
			row.Filtered += k
		}
		if out.SessionChanged {
			c.sessions++
		}
		row.Candidates = append(row.Candidates, imp.Candidates...)
		for _, b := range imp.Candidates {
			used[b.Core] = true
		}
		for _, ev := range out.Backed {
			for _, b := range imp.Candidates {
				if b.CandidateHash == ev.Hash.String() {
					c.backed[ev.Hash] = backedNote{rp: b.RelayParentNumber, in: n}
				}
			}
		}
		for _, ev := range out.Included {
			used[ev.Core] = true
			c.includedAtBy[ev.Para] = append(c.includedAtBy[ev.Para], n)
			if b, ok := c.backed[ev.Hash]; ok {
				c.included++
				if b.rp+1 < b.in {
					c.older++
				}
			}
		}
		for _, o := range out.Slashed {
			c.slashed[o.Validator] = true
		}
		c.disputeSets += row.Disputes
	}
	for i := range st.Disputes {
		d := &st.Disputes[i]
		if d.ConcludedInvalid() && d.ConcludedAt != nil && *d.ConcludedAt == n {
			c.concluded[d.Candidate] = n
		}
	}
	row.CoresUsed = len(used)
}

// note is the live table's mark for the block's disputes.
func (c *chainNotes) note(imp *Imported) string {
	out := imp.Result
	if out == nil || (out.DisputesImported == 0 && len(out.Slashed) == 0) {
		return ""
	}
	s := fmt.Sprintf("DISPUTE: %d set(s)", out.DisputesImported)
	for _, d := range out.Dropped {
		if d.Reason == runtime.DropDisputed {
			s += fmt.Sprintf(", concluded invalid: para %d candidate %s freed core %d", d.Para, d.Hash.String()[:14], d.Core)
		}
	}
	if len(out.Slashed) > 0 {
		var vs []types.ValidatorIndex
		for _, o := range out.Slashed {
			vs = append(vs, o.Validator)
		}
		s += fmt.Sprintf(", slashed %v", vs)
	}
	return s
}

// fill writes the totals into the report.
func (c *chainNotes) fill(g *Genesis, rep *Report) {
	c.init()
	rep.Lookahead, rep.SessionLength, rep.GroupRotation = g.Lookahead, g.SessionLength, g.GroupRotation
	rep.AsyncBacked = AsyncBackedStats{Included: c.included, Older: c.older}
	if c.included > 0 {
		rep.AsyncBacked.Ratio = float64(c.older) / float64(c.included)
	}
	rep.Sessions = c.sessions
	rep.Disputes = DisputeStats{
		Raised: len(c.raised), Included: c.disputeSets, ConcludedInvalid: len(c.concluded), Slashed: len(c.slashed),
		SlashedValidators: slices.Sorted(maps.Keys(c.slashed)), Disabled: slices.Sorted(maps.Keys(c.disabled)),
	}
	for _, h := range slices.SortedFunc(maps.Keys(c.concluded), func(a, b types.Hash) int { return slices.Compare(a[:], b[:]) }) {
		at := c.concluded[h]
		para := c.paraOf[h]
		backers := c.backers[h]
		rep.Disputes.Backers = append(rep.Disputes.Backers, backers...)
		ps := InvalidParaStats{Para: para, ConcludedAt: at, BackersSlashed: len(backers) > 0, BackersDisabled: len(backers) > 0}
		for _, v := range backers {
			ps.BackersSlashed = ps.BackersSlashed && c.slashed[v]
			ps.BackersDisabled = ps.BackersDisabled && c.disabled[v]
		}
		for _, n := range c.includedAtBy[para] {
			if n > at {
				ps.IncludedAfter++
			}
		}
		rep.InvalidParas = append(rep.InvalidParas, ps)
	}
}

// writeChainSummary prints the runtime's totals.
func (rep *Report) writeChainSummary(w io.Writer) {
	if rep.Lookahead == 0 {
		// A report without the runtime's figures (one read from an
		// older file).
		return
	}
	fmt.Fprintf(w, "  runtime: lookahead %d, session length %d, group rotation %d; %d session change(s); %d block(s) refused as filtered\n",
		rep.Lookahead, rep.SessionLength, rep.GroupRotation, rep.Sessions, rep.FilteredBlocks)
	fmt.Fprintf(w, "  async backing: %d of %d included candidates on a relay parent older than their backing block's parent (%.1f%%)\n",
		rep.AsyncBacked.Older, rep.AsyncBacked.Included, 100*rep.AsyncBacked.Ratio)
	d := rep.Disputes
	if d.Raised+d.Included+d.ConcludedInvalid > 0 {
		fmt.Fprintf(w, "  disputes: %d raised, %d sets included, %d concluded invalid, slashed %v, disabled %v\n",
			d.Raised, d.Included, d.ConcludedInvalid, d.SlashedValidators, d.Disabled)
	}
	for _, p := range rep.InvalidParas {
		fmt.Fprintf(w, "  invalid candidate of para %d: concluded invalid at block %d, %d inclusions since, backers slashed %v, disabled %v\n",
			p.Para, p.ConcludedAt, p.IncludedAfter, p.BackersSlashed, p.BackersDisabled)
	}
}

// DisputeRaised records a dispute set heard on gossip.
func (r *Recorder) DisputeRaised(set *types.DisputeStatementSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chain.raise(set)
}

// Thresholds of the runtime checks.
const (
	// MinAsyncBacked: with a lookahead above 1, at least this share of
	// the included candidates used an older relay parent than their
	// backing block's parent.
	MinAsyncBacked = 0.30
	// MinCoresUsed: every core is in use (a candidate backed, included
	// or pending) in at least this share of the blocks after the first
	// few.
	MinCoresUsed = 0.90
	// warmupBlocks are the first blocks the cores_used check leaves out:
	// block 1 backs on genesis, and the first relay parents have no
	// ancestry yet.
	warmupBlocks = 3
	// minAsyncBlocks: a run shorter than this is too short to judge async
	// backing (the allowed ancestry fills in the first lookahead blocks).
	minAsyncBlocks = 10
)

// runtimeChecks are the checks on the runtime's figures; a report
// without them (Lookahead 0) gets none.
func runtimeChecks(rep *Report, cfg Config, add func(name string, pass bool, format string, a ...any)) {
	if rep.Lookahead == 0 {
		return
	}
	if rep.Lookahead > 1 && len(rep.Blocks) >= minAsyncBlocks {
		add("async_backing", rep.AsyncBacked.Ratio >= MinAsyncBacked,
			"%d of %d included candidates on a relay parent older than their backing block's parent (%.1f%%, need %.0f%%)",
			rep.AsyncBacked.Older, rep.AsyncBacked.Included, 100*rep.AsyncBacked.Ratio, 100*MinAsyncBacked)
	}
	// The first change is at block SessionLength; judge only runs whose
	// chain got past it (forks add blocks, not height).
	if best := BestNumber(rep); rep.SessionLength > 0 && int(rep.SessionLength) < best {
		add("sessions", rep.Sessions >= 1, "%d session change(s) up to block #%d, session length %d",
			rep.Sessions, best, rep.SessionLength)
	}
	filtered := rep.FilteredBlocks
	for _, b := range rep.Blocks {
		filtered += b.Filtered
	}
	add("no_filtered", filtered == 0, "%d block(s) refused and %d item(s) filtered by the runtime's enter", rep.FilteredBlocks, filtered-rep.FilteredBlocks)
	judged, full := 0, 0
	for _, b := range rep.Blocks {
		if b.Number > warmupBlocks {
			judged++
			if b.CoresUsed >= rep.Cores {
				full++
			}
		}
	}
	if judged > 0 {
		add("cores_used", float64(full) >= MinCoresUsed*float64(judged), "every core in use in %d of %d blocks after #%d (%.1f%%, need %.0f%%)",
			full, judged, warmupBlocks, 100*float64(full)/float64(judged), 100*MinCoresUsed)
	}
	for _, f := range cfg.InvalidCandidates {
		var ps *InvalidParaStats
		for i := range rep.InvalidParas {
			if rep.InvalidParas[i].Para == f.Para {
				ps = &rep.InvalidParas[i]
			}
		}
		if ps == nil {
			add("invalid_concluded", false, "para %d: no dispute concluded invalid (%d raised, %d sets included)",
				f.Para, rep.Disputes.Raised, rep.Disputes.Included)
			continue
		}
		add("invalid_concluded", ps.BackersSlashed && ps.BackersDisabled && ps.IncludedAfter > 0,
			"para %d: concluded invalid at block %d; backers %v slashed %v, disabled %v; %d inclusions of the para since",
			f.Para, ps.ConcludedAt, rep.Disputes.Backers, ps.BackersSlashed, ps.BackersDisabled, ps.IncludedAfter)
	}
}
