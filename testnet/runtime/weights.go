package runtime

import (
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Weight is a two-dimensional weight: ref time in picoseconds and proof
// size in bytes.
type Weight struct {
	RefTime   uint64
	ProofSize uint64
}

// Add saturates, as Weight::saturating_add.
func (w Weight) Add(o Weight) Weight {
	return Weight{RefTime: satAdd(w.RefTime, o.RefTime), ProofSize: satAdd(w.ProofSize, o.ProofSize)}
}

// Sub saturates at zero.
func (w Weight) Sub(o Weight) Weight {
	return Weight{RefTime: w.RefTime - min(w.RefTime, o.RefTime), ProofSize: w.ProofSize - min(w.ProofSize, o.ProofSize)}
}

// AllGTE is Weight::all_gte: both axes at least o's.
func (w Weight) AllGTE(o Weight) bool { return w.RefTime >= o.RefTime && w.ProofSize >= o.ProofSize }

// AnyGT is Weight::any_gt.
func (w Weight) AnyGT(o Weight) bool { return w.RefTime > o.RefTime || w.ProofSize > o.ProofSize }

func satAdd(a, b uint64) uint64 {
	if a > ^uint64(0)-b {
		return ^uint64(0)
	}
	return a + b
}

// MaxBlockWeight is Polkadot's budget for the mandatory inherent:
// MAXIMUM_BLOCK_WEIGHT (2 s of ref time) and the Mandatory BlockLength
// (5 MiB) as proof size.
var MaxBlockWeight = Weight{RefTime: 2_000_000_000_000, ProofSize: 5 << 20}

// Polkadot's benchmarked paras_inherent weights (polkadot-fellows
// runtime_parachains_paras_inherent.rs, 2026-05) with RocksDbWeight reads
// (20,499,000 ps) and writes (83,471,000 ps) folded in; facts sheet §4.
const (
	dbRead  = 20_499_000
	dbWrite = 83_471_000

	weightEnterEmpty             = 210_900_000 + 19*dbRead + 10*dbWrite
	weightEnterBitfield          = 441_340_000 + 21*dbRead + 12*dbWrite
	weightEnterCandidateBase     = 1_207_326_084 + 35*dbRead + 21*dbWrite
	weightEnterCandidatePerVote  = 46_907_155
	weightEnterCodeUpgrade       = 31_267_910_000 + 37*dbRead + 21*dbWrite
	weightEnterDisputeBase       = 569_556_127 + 33*dbRead + 22*dbWrite
	weightEnterDisputePerStatemt = 38_328_525
)

// Each item costs its benchmark less enter_empty (PR #5082 subtracts the
// empty block once per item and counts it once for the whole inherent),
// and its encoded size as proof size (set_proof_size_to_tx_size).

// BitfieldWeight is signed_bitfield_weight.
func BitfieldWeight(bf *types.UncheckedSignedAvailabilityBitfield) Weight {
	return Weight{RefTime: weightEnterBitfield - weightEnterEmpty, ProofSize: uint64(bf.EncodedSize())}
}

// CandidateWeight is backed_candidate_weight: the code-upgrade benchmark
// when the candidate carries new code, else the per-vote one.
func CandidateWeight(bc *types.BackedCandidate) Weight {
	ref := uint64(weightEnterCandidateBase + weightEnterCandidatePerVote*uint64(len(bc.ValidityVotes)))
	if bc.Candidate.Commitments.NewValidationCode != nil {
		ref = weightEnterCodeUpgrade
	}
	return Weight{RefTime: ref - weightEnterEmpty, ProofSize: uint64(bc.EncodedSize())}
}

// DisputeWeight is dispute_statement_set_weight.
func DisputeWeight(d *types.DisputeStatementSet) Weight {
	ref := uint64(weightEnterDisputeBase) + weightEnterDisputePerStatemt*uint64(len(d.Statements))
	return Weight{RefTime: ref - weightEnterEmpty, ProofSize: uint64(d.EncodedSize())}
}

// InherentWeight is paras_inherent_total_weight: every item plus
// enter_empty once.
func InherentWeight(inh *types.InherentData) Weight {
	w := Weight{RefTime: weightEnterEmpty}
	for i := range inh.Bitfields {
		w = w.Add(BitfieldWeight(&inh.Bitfields[i]))
	}
	for i := range inh.BackedCandidates {
		w = w.Add(CandidateWeight(&inh.BackedCandidates[i]))
	}
	for i := range inh.Disputes {
		w = w.Add(DisputeWeight(&inh.Disputes[i]))
	}
	return w
}

// randomSelect is the runtime's random_sel: the preferred items in a
// random order, then the others in a random order, each taken when it
// still fits the limit; the picked indices come back sorted so that the
// input order is kept.
func randomSelect(r *rng, n int, preferred []int, weight func(int) Weight, limit Weight) (Weight, []int) {
	var acc Weight
	var picked []int
	isPreferred := make([]bool, n)
	for _, i := range preferred {
		isPreferred[i] = true
	}
	var others []int
	for i := 0; i < n; i++ {
		if !isPreferred[i] {
			others = append(others, i)
		}
	}
	for _, list := range [][]int{slices.Clone(preferred), others} {
		r.shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		for _, i := range list {
			next := acc.Add(weight(i))
			if next.AnyGT(limit) {
				continue
			}
			acc = next
			picked = append(picked, i)
		}
	}
	slices.Sort(picked)
	return acc, picked
}

// applyWeightLimit is the runtime's apply_weight_limit: keep everything
// when it fits; else cut the candidates into runs of one para (chains are
// all or nothing), prefer runs carrying a code upgrade and fill the rest
// of the budget left by the bitfields at random; when even the bitfields
// do not fit, drop every candidate and pick bitfields at random.
func applyWeightLimit(r *rng, cands []types.BackedCandidate, bfs []types.UncheckedSignedAvailabilityBitfield,
	limit Weight) ([]types.BackedCandidate, []types.UncheckedSignedAvailabilityBitfield, Weight) {
	var candW, bfW Weight
	for i := range cands {
		candW = candW.Add(CandidateWeight(&cands[i]))
	}
	for i := range bfs {
		bfW = bfW.Add(BitfieldWeight(&bfs[i]))
	}
	if limit.AllGTE(candW.Add(bfW)) {
		return cands, bfs, candW.Add(bfW)
	}
	if limit.AllGTE(bfW) {
		var chains [][]types.BackedCandidate
		for i := range cands {
			if k := len(chains); k > 0 && chains[k-1][0].Candidate.Descriptor.ParaID == cands[i].Candidate.Descriptor.ParaID {
				chains[k-1] = append(chains[k-1], cands[i])
			} else {
				chains = append(chains, []types.BackedCandidate{cands[i]})
			}
		}
		var preferred []int
		for i, ch := range chains {
			if slices.ContainsFunc(ch, func(c types.BackedCandidate) bool { return c.Candidate.Commitments.NewValidationCode != nil }) {
				preferred = append(preferred, i)
			}
		}
		w, picked := randomSelect(r, len(chains), preferred, func(i int) Weight {
			var w Weight
			for j := range chains[i] {
				w = w.Add(CandidateWeight(&chains[i][j]))
			}
			return w
		}, limit.Sub(bfW))
		var kept []types.BackedCandidate
		for _, i := range picked {
			kept = append(kept, chains[i]...)
		}
		return kept, bfs, w.Add(bfW)
	}
	w, picked := randomSelect(r, len(bfs), nil, func(i int) Weight { return BitfieldWeight(&bfs[i]) }, limit)
	kept := make([]types.UncheckedSignedAvailabilityBitfield, 0, len(picked))
	for _, i := range picked {
		kept = append(kept, bfs[i])
	}
	return nil, kept, w
}
