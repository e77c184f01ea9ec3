package testnet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/polkadot-provisioner/provisioner/p2p"
)

// Virtual validators: a testnet of V validators on N nodes (V >= N), as a
// Kusama-sized validator set is run on a handful of machines. Each node
// hosts a share of the keys, signs every hosted validator's bitfields,
// backing votes and dispute statements, authors the slots of every hosted
// validator, and proves every hosted key to its peers (p2p's record set),
// all over one libp2p host.
//
// The shares are round-robin: node k hosts the validators v with
// v mod N = k. Contiguous shares would put a session's first groups
// (consecutive indices) on one node and give one node runs of consecutive
// slots; round-robin spreads every group of consecutive indices over
// several nodes, so backing takes gossip between nodes as it does on a
// real network, and consecutive slots fall to consecutive nodes. With
// V = N, node k hosts exactly validator k, as before.

// HostedValidators is node's share of validators validator indices among
// nodes nodes: round-robin, ascending.
func HostedValidators(validators, nodes, node int) []int {
	if nodes < 1 || node < 0 || node >= nodes {
		return nil
	}
	out := make([]int, 0, (validators+nodes-1)/nodes)
	for v := node; v < validators; v += nodes {
		out = append(out, v)
	}
	return out
}

// NodeOfValidator is the node hosting validator v (the inverse of
// HostedValidators).
func NodeOfValidator(v, nodes int) int { return v % nodes }

// validatorCount is the size of the validator set: Validators, or one
// per node.
func (cfg *Config) validatorCount() int {
	if cfg.Validators > 0 {
		return cfg.Validators
	}
	return cfg.Nodes
}

// validatorsLine names the validator set in the run's first line: as
// before when every node hosts one validator.
func validatorsLine(nodes, validators int) string {
	if validators == nodes {
		return fmt.Sprintf("%d validators", validators)
	}
	return fmt.Sprintf("%d validators on %d nodes", validators, nodes)
}

// virtualWarmup is the start-up time virtual validators add: each node
// derives and checks its hosted keys (from the dev seed, well under a
// millisecond each), signs a record for each and parses a larger genesis,
// all while the other nodes start on the same cores. 4 ms a validator
// beyond one per node (about 4 s at 1,000 on 20 nodes) was enough for
// every node to connect before slot 1 in the runs of 300 on 10 and 1,000
// on 20 on a 2-core machine. Nothing when every node hosts one validator.
func virtualWarmup(nodes, validators int) time.Duration {
	return time.Duration(max(0, validators-nodes)) * 4 * time.Millisecond
}

// voter is what the usage errors of the validators' votes call one
// validator: "node" when every node hosts one, as before.
func (cfg *Config) voter() string {
	if cfg.validatorCount() == cfg.Nodes {
		return "node"
	}
	return "validator"
}

func (cfg *Config) voters() string { return cfg.voter() + "s" }

// validateValidators checks --validators against --nodes.
func (cfg *Config) validateValidators() error {
	v := cfg.Validators
	switch {
	case v < 0:
		return usagef("--validators must not be negative")
	case v != 0 && v < cfg.Nodes:
		return usagef("--validators %d is fewer than --nodes %d: every node hosts at least one validator", v, cfg.Nodes)
	case v != 0 && (v+cfg.Nodes-1)/cfg.Nodes > MaxHostedValidators:
		return usagef("--validators %d on %d nodes puts more than %d validators on a node", v, cfg.Nodes, MaxHostedValidators)
	}
	return nil
}

// MaxHostedValidators is the most validators one node may host: the most
// a peer may prove in its record set.
const MaxHostedValidators = p2p.MaxRecordIndices

// ParseValidatorSet reads a set of validator indices for the named flag:
// comma-separated indices and inclusive ranges A-B (e.g. 0-9,20), each
// index once, at most MaxHostedValidators. The result is ascending. Every
// error matches ErrUsage and is one line naming the flag.
func ParseValidatorSet(flag, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usagef("--%s %q: want validator indices and ranges, e.g. 0-9,20", flag, s)
	}
	// Indices are counted before any range is expanded, so that 0-4000000000
	// is refused without allocating it.
	type span struct{ lo, hi int }
	var spans []span
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		loS, hiS, isRange := strings.Cut(part, "-")
		lo, err := parseIndex(loS)
		if err != nil {
			return nil, usagef("--%s %q: %q is not a validator index", flag, s, part)
		}
		hi := lo
		if isRange {
			if hi, err = parseIndex(hiS); err != nil {
				return nil, usagef("--%s %q: %q is not a validator index or range", flag, s, part)
			}
			if hi < lo {
				return nil, usagef("--%s %q: range %s runs backwards", flag, s, part)
			}
		}
		total += hi - lo + 1
		if total > MaxHostedValidators {
			return nil, usagef("--%s %q: more than %d validators on one node", flag, s, MaxHostedValidators)
		}
		spans = append(spans, span{lo, hi})
	}
	seen := make(map[int]bool, total)
	out := make([]int, 0, total)
	for _, sp := range spans {
		for v := sp.lo; v <= sp.hi; v++ {
			if seen[v] {
				return nil, usagef("--%s %q: validator %d given twice", flag, s, v)
			}
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// parseIndex reads a validator index: decimal digits only (no sign, no
// spaces inside), within a u32.
func parseIndex(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: not an index", ErrUsage)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return int(v), nil
}

// FormatValidatorSet writes an ascending set as ParseValidatorSet reads
// it, runs of three or more as ranges.
func FormatValidatorSet(vs []int) string {
	var b strings.Builder
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		switch {
		case j-i >= 2:
			fmt.Fprintf(&b, "%d-%d", vs[i], vs[j])
		case j > i:
			fmt.Fprintf(&b, "%d,%d", vs[i], vs[j])
		default:
			b.WriteString(strconv.Itoa(vs[i]))
		}
		i = j + 1
	}
	return b.String()
}
