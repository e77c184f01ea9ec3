package testnet

import (
	"context"

	"github.com/polkadot-provisioner/provisioner/types"
)

// followSession re-signs the node's validator records (one per hosted
// validator) for a new session. The runtime keeps validator indices
// across sessions (only the groups move), so the indices stay; peers
// verify a record against the session it names, which the chain keeps
// for the dispute period, so records already exchanged stay valid and
// peers that connect later get the new ones.
func (n *Node) followSession(session types.SessionIndex) {
	n.mu.Lock()
	changed := session != n.keySession
	n.keySession = session
	n.mu.Unlock()
	if changed {
		if err := n.net.SetSessionKeys(n.hosted.sessionKeys(session)); err != nil {
			log.Warnw("validator records not re-signed for the new session", "session", session, "err", err)
		}
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

// approve is the approval checkers' duty for an imported block, done by
// every hosted validator: each candidate the block backed is validated
// (CandidateValid), and one found invalid is disputed. The node gossips
// one set holding the explicit Invalid vote of each hosted validator,
// with the backers' backing votes as the runtime's backing statements
// (so that the runtime knows whom to slash); the provisioner merges the
// sets of all nodes. A backer of the candidate does not dispute its own
// vote. A validator named in Genesis.Equivocations also votes valid, and
// reports its own double vote as a misbehaviour report, which the
// provisioner joins into the dispute.
func (n *Node) approve(ctx context.Context, b *Block, imp *Imported) {
	_, st, err := n.chain.HeaderAndState(imp.Hash)
	if err != nil {
		return
	}
	for i := range b.Body.Extrinsic.Data.BackedCandidates {
		bc := &b.Body.Extrinsic.Data.BackedCandidates[i]
		if CandidateValid(&bc.Candidate.Descriptor) {
			continue
		}
		set, ok := disputeOf(n.g, st, bc)
		if !ok {
			continue
		}
		backers := make(map[types.ValidatorIndex]bool, len(set.Statements))
		for _, e := range set.Statements {
			backers[e.ValidatorIndex] = true
		}
		var reports []*types.MisbehaviorReport
		for _, k := range n.hosted.keys {
			if backers[k.index] {
				continue
			}
			invalid := types.SignDisputeStatement(k.kp, types.DisputeStatement{Valid: false, Kind: types.InvalidExplicit},
				set.CandidateHash, set.Session, k.index)
			set.Statements = append(set.Statements, invalid)
			if !n.g.Equivocates(k.index, imp.Header.Number) {
				continue
			}
			valid := types.SignDisputeStatement(k.kp, types.DisputeStatement{Valid: true, Kind: types.ValidExplicit},
				set.CandidateHash, set.Session, k.index)
			reports = append(reports, &types.MisbehaviorReport{Session: set.Session, CandidateHash: set.CandidateHash, ValidatorIndex: k.index,
				First:  types.SignedDisputeStatement{Statement: invalid.Statement, Signature: invalid.Signature},
				Second: types.SignedDisputeStatement{Statement: valid.Statement, Signature: valid.Signature}})
		}
		if len(set.Statements) == len(backers) {
			continue // every hosted validator backed it
		}
		log.Warnw("candidate found invalid: disputing it", "para", bc.Candidate.Descriptor.ParaID,
			"candidate", set.CandidateHash, "block", imp.Header.Number, "votes", len(set.Statements)-len(backers))
		if err := n.net.PublishDispute(ctx, &set); err != nil && ctx.Err() == nil {
			log.Warnw("publish dispute", "candidate", set.CandidateHash, "err", err)
		}
		for _, rep := range reports {
			log.Warnw("equivocating: voting both ways", "candidate", set.CandidateHash, "validator", rep.ValidatorIndex)
			if err := n.net.PublishMisbehavior(ctx, rep); err != nil && ctx.Err() == nil {
				log.Warnw("publish misbehaviour report", "candidate", set.CandidateHash, "err", err)
			}
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
