package provisioner

import (
	"slices"

	"github.com/polkadot-provisioner/provisioner/types"
)

// maxBackableRecords bounds the remembered backable counts (Polkadot keeps
// its debug inherents in an LRU of 16).
const maxBackableRecords = 16

// candidateInputs gathers what selection reads from the job.
func (j *job) candidateInputs(bitfields []types.UncheckedSignedAvailabilityBitfield) candidateInputs {
	return candidateInputs{
		cores:       j.cores,
		bitfields:   bitfields,
		blockNumber: j.leaf.Number + 1,
		allowed:     j.allowed,
		candidates:  j.candidates,
		paras:       j.paras,
		votes:       j.votes,
	}
}

// recordBackable notes how many candidates a block on the ending leaf could
// have carried from what this node held. Polkadot builds a debug inherent
// at the slot's start for the same purpose; the leaf's end (the next block
// arrived) is where this state machine has the final count.
func (p *Provisioner) recordBackable(j *job) {
	n := len(selectCandidates(j.candidateInputs(j.selectedBitfields())))
	if _, ok := p.backable[j.leaf.Hash]; !ok {
		p.backableOrder = append(p.backableOrder, j.leaf.Hash)
	}
	p.backable[j.leaf.Hash] = n
	for len(p.backableOrder) > maxBackableRecords {
		delete(p.backable, p.backableOrder[0])
		p.backableOrder = slices.Delete(p.backableOrder, 0, 1)
	}
}

// observeBackable observes, when a leaf's parent was a leaf of ours, the
// number of candidates we held backable for the parent minus the number
// the leaf block backed: Polkadot's
// polkadot_parachain_provisioner_backable_vs_in_block. Positive values are
// candidates the author left out (or never saw); negative ones are
// candidates this node had not heard of in time.
func (p *Provisioner) observeBackable(j *job) {
	n, ok := p.backable[j.header.ParentHash]
	if !ok {
		return
	}
	p.m.backableVsInBlock.Observe(float64(n - j.backing.BackedInLeaf))
}
