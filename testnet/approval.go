package testnet

import (
	"context"
	"slices"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// followSession re-signs the node's validator record for a new session.
// The runtime keeps validator indices across sessions (only the groups
// move), so the index stays; peers verify a record against the session it
// names, which the chain keeps for the dispute period, so records already
// exchanged stay valid and peers that connect later get the new one.
func (n *Node) followSession(session types.SessionIndex) {
	n.mu.Lock()
	changed := session != n.keySession
	n.keySession = session
	n.mu.Unlock()
	if changed {
		n.net.SetSessionKey(&p2p.SessionKey{Session: session, Index: types.ValidatorIndex(n.cfg.Validator), Signer: n.kp})
	}
}

// backs reports whether the group member at pos votes for the candidate:
// every member backs a valid one; an invalid one (Genesis.InvalidCandidates)
// is backed by the first minimum_backing_votes members only, the
// colluding backers, while the rest of the group stays honest and
// disputes it with everyone else.
func backs(g *Genesis, c *Candidate, pos int) bool {
	if CandidateValid(&c.Receipt.Descriptor) {
		return true
	}
	return pos < min(g.rt.MinimumBackingVotes(), len(c.Group))
}

// approve is the approval checker's duty for an imported block: every
// candidate the block backed is validated (CandidateValid), and one found
// invalid is disputed. The node gossips a set holding its explicit
// Invalid vote with the backers' backing votes as the runtime's backing
// statements (so that the runtime knows whom to slash); each validator's
// set adds one vote, and the provisioner merges them. A backer of the
// candidate does not dispute its own vote. A validator named in
// Genesis.Equivocations also votes valid, and reports its own double vote
// as a misbehaviour report, which the provisioner joins into the dispute.
func (n *Node) approve(ctx context.Context, b *Block, imp *Imported) {
	_, st, err := n.chain.HeaderAndState(imp.Hash)
	if err != nil {
		return
	}
	me := types.ValidatorIndex(n.cfg.Validator)
	for i := range b.Body.Extrinsic.Data.BackedCandidates {
		bc := &b.Body.Extrinsic.Data.BackedCandidates[i]
		if CandidateValid(&bc.Candidate.Descriptor) {
			continue
		}
		set, ok := disputeOf(n.g, st, bc)
		if !ok || slices.ContainsFunc(set.Statements, func(e types.DisputeStatementEntry) bool { return e.ValidatorIndex == me }) {
			continue
		}
		invalid := types.SignDisputeStatement(n.kp, types.DisputeStatement{Valid: false, Kind: types.InvalidExplicit},
			set.CandidateHash, set.Session, me)
		set.Statements = append(set.Statements, invalid)
		log.Warnw("candidate found invalid: disputing it", "para", bc.Candidate.Descriptor.ParaID,
			"candidate", set.CandidateHash, "block", imp.Header.Number)
		if err := n.net.PublishDispute(ctx, &set); err != nil && ctx.Err() == nil {
			log.Warnw("publish dispute", "candidate", set.CandidateHash, "err", err)
		}
		if !n.g.Equivocates(me, imp.Header.Number) {
			continue
		}
		valid := types.SignDisputeStatement(n.kp, types.DisputeStatement{Valid: true, Kind: types.ValidExplicit},
			set.CandidateHash, set.Session, me)
		rep := &types.MisbehaviorReport{Session: set.Session, CandidateHash: set.CandidateHash, ValidatorIndex: me,
			First:  types.SignedDisputeStatement{Statement: invalid.Statement, Signature: invalid.Signature},
			Second: types.SignedDisputeStatement{Statement: valid.Statement, Signature: valid.Signature}}
		log.Warnw("equivocating: voting both ways", "candidate", set.CandidateHash)
		if err := n.net.PublishMisbehavior(ctx, rep); err != nil && ctx.Err() == nil {
			log.Warnw("publish misbehaviour report", "candidate", set.CandidateHash, "err", err)
		}
	}
}

// disputeOf is the dispute set of a candidate the block (whose post-state
// is st) backed, holding its backers' votes as backing statements: the
// runtime slashes the backers of a candidate that concludes invalid, and
// refuses a one-sided dispute. False when the block did not keep it.
func disputeOf(g *Genesis, st *State, bc *types.BackedCandidate) (types.DisputeStatementSet, bool) {
	hash := bc.Hash()
	for pi := range st.Paras {
		for _, pc := range st.Paras[pi].Pending {
			if pc.Hash != hash {
				continue
			}
			groups := g.rt.Groups(st.Session)
			if int(pc.Group) >= len(groups) {
				return types.DisputeStatementSet{}, false
			}
			group := groups[pc.Group]
			bits, _, _ := types.ExtractCoreIndex(bc.ValidatorIndices)
			set := types.DisputeStatementSet{CandidateHash: hash, Session: st.Session}
			vote := 0
			for pos := 0; pos < bits.Len && pos < len(group); pos++ {
				if !bits.Get(pos) {
					continue
				}
				if vote >= len(bc.ValidityVotes) {
					break
				}
				a := bc.ValidityVotes[vote]
				vote++
				kind := types.ValidBackingValid
				if a.Kind == types.AttestationImplicit {
					kind = types.ValidBackingSeconded
				}
				set.Statements = append(set.Statements, types.DisputeStatementEntry{
					Statement:      types.DisputeStatement{Valid: true, Kind: kind, Hash: bc.Candidate.Descriptor.RelayParent},
					ValidatorIndex: group[pos], Signature: a.Signature,
				})
			}
			return set, true
		}
	}
	return types.DisputeStatementSet{}, false
}
