package provisioner

import (
	"errors"

	"github.com/polkadot-provisioner/provisioner/types"
)

// sanitizeDescriptor is the runtime's sanitize_backed_candidate_v2_v3 for
// a candidate whose relay parent is allowed: the version must be known,
// the scheduling parent (the relay parent but for V3) allowed too, the UMP
// signals must pass parse_ump_signals against the claim queue at the
// scheduling parent, and a V2 or V3 descriptor must name the session of
// the block under construction as both its session and its scheduling
// session. The runtime drops a candidate that fails any of these (and the
// rest of its para's chain, which builds on it), so it is never kept.
// When the chain view cannot tell the claim queue at the scheduling
// parent, the checks that need none still apply.
func (j *job) sanitizeDescriptor(c *types.CommittedCandidateReceipt) string {
	v3 := j.sess.v3
	d := &c.Descriptor
	version := d.VersionWith(v3)
	if version == types.DescriptorUnknown {
		return reasonDescriptorVersion
	}
	sp := d.SchedulingParent(v3)
	if _, ok := j.allowed[sp]; !ok {
		return reasonSchedulingParent
	}
	var err error
	if cq, known := j.claimQueueAt(sp); known {
		core, _ := d.CoreIndexWith(v3)
		_, err = types.CheckUMPSignals(&c.Commitments, version, d.ParaID, core, types.ClaimQueueCores(cq))
	} else {
		_, err = c.Commitments.ParseUMPSignalsFor(version)
	}
	if err != nil {
		return umpReason(err)
	}
	if version == types.DescriptorV1 {
		return ""
	}
	session, _ := d.SessionIndexWith(v3)
	scheduling, _ := d.SchedulingSession(v3)
	// The runtime asks session == scheduling session for now (a V3
	// offset other than 0 is refused until polkadot-sdk#11033), and the
	// scheduling session to be the current one: the session of the block
	// built on the leaf.
	if session != scheduling || scheduling != j.sess.index {
		return reasonSession
	}
	return ""
}

// umpReason names a parse_ump_signals failure for the discarded metric.
func umpReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{types.ErrUMPSignalWithV1Descriptor, reasonUMPWithV1},
		{types.ErrNoUMPSignalWithV3Descriptor, reasonNoUMPWithV3},
		{types.ErrTooManyUMPSignals, reasonUMPTooMany},
		{types.ErrDuplicateUMPSignal, reasonUMPDuplicate},
		{types.ErrUMPSignalDecode, reasonUMPDecode},
		{types.ErrNoAssignment, reasonUMPNoAssignment},
		{types.ErrInvalidCoreIndex, reasonUMPInvalidCore},
		{types.ErrCoreIndexMismatch, reasonUMPCoreMismatch},
		{types.ErrUnknownDescriptorVersion, reasonDescriptorVersion},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return reasonUMPOther
}
