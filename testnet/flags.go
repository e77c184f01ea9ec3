package testnet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrUsage marks a Config the testnet refuses to run; the message is one
// line naming the flag.
var ErrUsage = errors.New("usage")

// usageError is an ErrUsage whose text is just the message, so that the
// command prints exactly one readable line.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// MinSlot is the shortest slot the testnet accepts. A node holds the
// builder's request until PRE_PROPOSE, 40% of the slot, and the builder
// gives up at 60%: at 500 ms that is 200 ms for every validator's bitfield
// and backing vote to cross the gossip mesh, about twice the loopback
// gossip p99 of a 10-node run (about 80 ms) plus block import. Bitfields,
// signed a quarter of the slot after import (DefaultBitfieldDelay), have
// what is left of the slot. Below it a healthy network produces
// empty-fallback blocks and missed bitfields, so the checks would fail
// for lack of time rather than for a fault.
const MinSlot = 500 * time.Millisecond

// MinNodes: one node is no network; gossip, backing groups of two and the
// availability supermajority need at least two validators.
const MinNodes = 2

// Pause stops node Node (SIGSTOP) once block At is seen and resumes it
// (SIGCONT) once block ResumeAt is seen (0: never). A stopped process keeps
// its connections open but answers nothing: a hung node, not a dead one.
type Pause struct {
	Node, At, ResumeAt int
}

// ParsePause reads NODE@BLOCK[,resume@BLOCK].
func ParsePause(s string) (Pause, error) {
	var p Pause
	main, resume, _ := strings.Cut(s, ",")
	node, at, ok := strings.Cut(main, "@")
	var err1, err2 error
	p.Node, err1 = strconv.Atoi(node)
	p.At, err2 = strconv.Atoi(at)
	if !ok || err1 != nil || err2 != nil || p.Node < 0 || p.At < 1 {
		return Pause{}, usagef("--pause %q: want NODE@BLOCK[,resume@BLOCK]", s)
	}
	if resume != "" {
		r, at, ok := strings.Cut(resume, "@")
		n, err := strconv.Atoi(at)
		if !ok || r != "resume" || err != nil || n <= p.At {
			return Pause{}, usagef("--pause %q: resume must be resume@BLOCK after the pause", s)
		}
		p.ResumeAt = n
	}
	return p, nil
}

// ParseParaAt reads PARA@BLOCK for the named flag (--invalid-candidate).
func ParseParaAt(flag, s string) (ParaAt, error) {
	para, at, ok := strings.Cut(s, "@")
	p, err1 := strconv.ParseUint(para, 10, 32)
	b, err2 := strconv.ParseUint(at, 10, 32)
	if !ok || err1 != nil || err2 != nil || b < 1 {
		return ParaAt{}, usagef("--%s %q: want PARA@BLOCK (e.g. 2001@8)", flag, s)
	}
	return ParaAt{Para: types.ParaID(p), Block: types.BlockNumber(b)}, nil
}

// ParseNodeAt reads NODE@BLOCK for the named flag (--equivocate).
func ParseNodeAt(flag, s string) (NodeAt, error) {
	node, at, ok := strings.Cut(s, "@")
	n, err1 := strconv.Atoi(node)
	b, err2 := strconv.ParseUint(at, 10, 32)
	if !ok || err1 != nil || err2 != nil || n < 0 || b < 1 {
		return NodeAt{}, usagef("--%s %q: want NODE@BLOCK", flag, s)
	}
	return NodeAt{Node: n, Block: types.BlockNumber(b)}, nil
}

// MinDisputeNodes: an invalid candidate has minimum_backing_votes (2)
// colluding backers; the others must reach the dispute supermajority
// n - (n-1)/3 against it, which needs n - 2 >= n - (n-1)/3, n >= 7.
const MinDisputeNodes = 7

// runtimeDefaults fills the runtime parameters a Config leaves zero.
func (cfg *Config) runtimeDefaults() (lookahead, rotation, session int) {
	lookahead, rotation, session = cfg.Lookahead, cfg.GroupRotation, cfg.SessionLength
	if lookahead == 0 {
		lookahead = DefaultLookahead
	}
	if rotation == 0 {
		rotation = DefaultGroupRotation
	}
	switch {
	case session == 0:
		session = DefaultSessionLength
	case session < 0:
		session = 0
	}
	return lookahead, rotation, session
}

// Validate checks a Config before anything starts. Every error matches
// ErrUsage and is one line naming the offending flag.
func (cfg *Config) Validate() error {
	switch {
	case cfg.Nodes < MinNodes:
		return usagef("--nodes must be at least %d", MinNodes)
	case cfg.Paras < 1:
		return usagef("--paras must be at least 1")
	case cfg.Cores < 0:
		return usagef("--cores must not be negative")
	case cfg.Blocks < 0:
		return usagef("--blocks must be 0 (run until Ctrl-C) or more")
	case cfg.Slot < MinSlot:
		return usagef("--slot %v is too short: the minimum is %v", cfg.Slot, MinSlot)
	case cfg.BitfieldDelay >= cfg.Slot:
		// Signed that late, no bitfield could make the next block.
		return usagef("--bitfield-delay %v must be shorter than the slot (%v)", cfg.BitfieldDelay, cfg.Slot)
	case cfg.Adversaries < 0:
		return usagef("--adversaries must not be negative")
	case cfg.Adversaries >= cfg.Nodes:
		return usagef("--adversaries %d leaves no honest node of %d", cfg.Adversaries, cfg.Nodes)
	case !cfg.InProcess && cfg.Latency != (Latency{}):
		// Node processes talk over real loopback sockets, which the
		// mocknet cannot delay.
		return usagef("--latency needs --in-process: node processes use real loopback sockets")
	case !cfg.InProcess && cfg.Bandwidth != 0:
		return usagef("--bandwidth needs --in-process: node processes use real loopback sockets")
	case cfg.Latency.Min < 0 || cfg.Latency.Max < cfg.Latency.Min || cfg.Bandwidth < 0:
		return usagef("--latency %s or --bandwidth %g bytes/s out of range", cfg.Latency, cfg.Bandwidth)
	}
	if err := cfg.validateAttacks(); err != nil {
		return err
	}
	if err := cfg.validateValidators(); err != nil {
		return err
	}
	lookahead, rotation, session := cfg.runtimeDefaults()
	switch {
	case lookahead < 1 || lookahead > 64:
		return usagef("--lookahead %d: want 1..64", cfg.Lookahead)
	case rotation < 1:
		return usagef("--group-rotation %d: want at least 1 block", cfg.GroupRotation)
	case session != 0 && session <= lookahead:
		return usagef("--session-length %d must be above --lookahead %d (or 0: one session)", session, lookahead)
	}
	beyond := func(b int) bool { return cfg.Blocks > 0 && b > cfg.Blocks }
	for _, f := range cfg.InvalidCandidates {
		switch {
		case cfg.validatorCount() < MinDisputeNodes:
			// The vote is the validators', however many nodes host them.
			return usagef("--invalid-candidate needs at least %d %s: the honest ones must outvote its 2 backers", MinDisputeNodes, cfg.voters())
		case f.Para < 2000 || int(f.Para) >= 2000+cfg.Paras:
			return usagef("--invalid-candidate %d@%d: no para %d (paras are 2000..%d)", f.Para, f.Block, f.Para, 2000+cfg.Paras-1)
		case beyond(int(f.Block)):
			return usagef("--invalid-candidate %d@%d: block %d is beyond --blocks %d", f.Para, f.Block, f.Block, cfg.Blocks)
		}
	}
	for _, e := range cfg.Equivocations {
		switch {
		case len(cfg.InvalidCandidates) == 0:
			return usagef("--equivocate needs an --invalid-candidate to vote on")
		case e.Node >= cfg.validatorCount():
			// NODE names the validator (the same as its node without
			// --validators).
			return usagef("--equivocate %d@%d: no %s %d (%ss are 0..%d)", e.Node, e.Block, cfg.voter(), e.Node, cfg.voter(), cfg.validatorCount()-1)
		}
	}
	for _, k := range cfg.Kills {
		switch {
		case k.Node >= cfg.Nodes:
			return usagef("--kill %d@%d: no node %d (nodes are 0..%d)", k.Node, k.At, k.Node, cfg.Nodes-1)
		case beyond(k.At):
			return usagef("--kill %d@%d: block %d is beyond --blocks %d", k.Node, k.At, k.At, cfg.Blocks)
		case beyond(k.RestartAt):
			return usagef("--kill %d@%d,restart@%d: block %d is beyond --blocks %d", k.Node, k.At, k.RestartAt, k.RestartAt, cfg.Blocks)
		}
	}
	for _, p := range cfg.Pauses {
		switch {
		case cfg.InProcess:
			return usagef("--pause needs node processes (SIGSTOP): it cannot be used with --in-process")
		case p.Node >= cfg.Nodes:
			return usagef("--pause %d@%d: no node %d (nodes are 0..%d)", p.Node, p.At, p.Node, cfg.Nodes-1)
		case beyond(p.At):
			return usagef("--pause %d@%d: block %d is beyond --blocks %d", p.Node, p.At, p.At, cfg.Blocks)
		case beyond(p.ResumeAt):
			return usagef("--pause %d@%d,resume@%d: block %d is beyond --blocks %d", p.Node, p.At, p.ResumeAt, p.ResumeAt, cfg.Blocks)
		}
	}
	return nil
}
