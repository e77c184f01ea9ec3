package testnet

import (
	"errors"
	"fmt"
)

// Evaluate applies the testnet's done-criteria to a report.
func Evaluate(rep *Report, cfg Config) []Check {
	var checks []Check
	add := func(name string, pass bool, format string, a ...any) {
		checks = append(checks, Check{Name: name, Pass: pass, Detail: fmt.Sprintf(format, a...)})
	}
	// Forks add blocks but not height: the run reached cfg.Blocks when the
	// highest block imported has that number.
	best := BestNumber(rep)
	add("blocks", best >= cfg.Blocks, "best block #%d of %d (%d blocks imported, forks included)", best, cfg.Blocks, len(rep.Blocks))
	fallbacks := 0
	for _, b := range rep.Blocks {
		if b.Number > 2 && b.EmptyFallback {
			fallbacks++
		}
	}
	add("no_empty_fallback", fallbacks == 0, "%d blocks after #2 used the empty fallback", fallbacks)
	worst := -1
	blocks := len(rep.Blocks)
	for _, n := range rep.ParasIncluded {
		if worst < 0 || n < worst {
			worst = n
		}
	}
	// Every para included at least every other block, once the pipeline
	// is primed (block 1 backs, block 2 includes).
	need := (blocks - 2) / 2
	add("paras_included", worst >= need, "least-included para: %d inclusions in %d blocks (need %d)", worst, blocks, need)
	late := rep.Bitfields.Signed - rep.Bitfields.InInherent
	// A run without a single signed bitfield proves nothing.
	add("bitfields_included", rep.Bitfields.Signed > 0 && late <= lateBitfieldsAllowed(rep.Bitfields.Signed),
		"%d of %d signed bitfields in the next block (%.2f%%)",
		rep.Bitfields.InInherent, rep.Bitfields.Signed, 100*rep.Bitfields.Ratio)
	if cfg.Adversaries > 0 {
		total := 0.0
		for _, v := range rep.RejectedMessages {
			total += v
		}
		add("bad_messages_rejected", total > 0, "%.0f messages rejected: %v", total, rep.RejectedMessages)
		add("adversaries_graylisted", len(rep.Graylisted) > 0, "%d peers graylisted by the observer", len(rep.Graylisted))
	}
	runtimeChecks(rep, cfg, add)
	attackChecks(rep, cfg, add)
	return checks
}

// lateBitfieldsAllowed is how many of the signed bitfields may miss the
// block built on their leaf. Only leaves that got a child count (see
// Recorder.Report), so a miss is a bitfield that reached the child's author
// after it asked for the inherent: real-time gossip, which the protocol
// does not bound and does not need (availability takes a supermajority of
// the bitfields, not all of them). The target is 1%, the same as a ratio
// of 0.99 from 100 signed bitfields up; below that the ratio would demand
// perfection from a short run, where one late bitfield among 40 is 2.5%,
// so the allowance is never less than one bitfield.
func lateBitfieldsAllowed(signed int) int {
	return max(1, signed/100)
}

// ErrChecksFailed is returned by callers when a report's checks fail.
var ErrChecksFailed = errors.New("testnet checks failed")

// Failed lists the checks that did not pass.
func Failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// BestNumber is the highest block number in the report.
func BestNumber(rep *Report) int {
	best := 0
	for _, b := range rep.Blocks {
		best = max(best, int(b.Number))
	}
	return best
}
