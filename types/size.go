package types

import "github.com/polkadot-provisioner/provisioner/codec"

// EncodedSizer reports the exact length of a value's encoding, so Encode can
// allocate once instead of growing its buffer (which dominated encode time).
type EncodedSizer interface {
	EncodedSize() int
}

func vecU8Size(b []byte) int { return codec.CompactSize(uint64(len(b))) + len(b) }

func (v *BitVec) EncodedSize() int {
	return codec.CompactSize(uint64(v.Len)) + (v.Len+7)/8
}

func (d *DigestItem) EncodedSize() int {
	switch d.Kind {
	case DigestPreRuntime, DigestConsensus, DigestSeal:
		return 1 + 4 + vecU8Size(d.Data)
	case DigestOther:
		return 1 + vecU8Size(d.Data)
	}
	return 1
}

func (h *Header) EncodedSize() int {
	n := 32 + codec.CompactSize(uint64(h.Number)) + 64 + codec.CompactSize(uint64(len(h.Digest)))
	for i := range h.Digest {
		n += h.Digest[i].EncodedSize()
	}
	return n
}

func (c *CandidateCommitments) EncodedSize() int {
	n := codec.CompactSize(uint64(len(c.UpwardMessages)))
	for _, m := range c.UpwardMessages {
		n += vecU8Size(m)
	}
	n += codec.CompactSize(uint64(len(c.HorizontalMessages)))
	for i := range c.HorizontalMessages {
		n += 4 + vecU8Size(c.HorizontalMessages[i].Data)
	}
	n++
	if c.NewValidationCode != nil {
		n += vecU8Size(*c.NewValidationCode)
	}
	return n + vecU8Size(c.HeadData) + 8
}

func (c *CommittedCandidateReceipt) EncodedSize() int {
	return CandidateDescriptorSize + c.Commitments.EncodedSize()
}

func (b *BackedCandidate) EncodedSize() int {
	return b.Candidate.EncodedSize() + codec.CompactSize(uint64(len(b.ValidityVotes))) +
		65*len(b.ValidityVotes) + b.ValidatorIndices.EncodedSize()
}

func (s *UncheckedSignedAvailabilityBitfield) EncodedSize() int {
	return s.Payload.EncodedSize() + 4 + 64
}

func (d *DisputeStatement) EncodedSize() int {
	if !d.Valid {
		return 2
	}
	switch d.Kind {
	case ValidBackingSeconded, ValidBackingValid:
		return 2 + 32
	case ValidApprovalCheckingMultipleCandidates:
		return 2 + codec.CompactSize(uint64(len(d.Hashes))) + 32*len(d.Hashes)
	}
	return 2
}

func (s *DisputeStatementSet) EncodedSize() int {
	n := 32 + 4 + codec.CompactSize(uint64(len(s.Statements)))
	for i := range s.Statements {
		n += s.Statements[i].Statement.EncodedSize() + 4 + 64
	}
	return n
}

func (d *InherentData) EncodedSize() int {
	n := codec.CompactSize(uint64(len(d.Bitfields)))
	for i := range d.Bitfields {
		n += d.Bitfields[i].EncodedSize()
	}
	n += codec.CompactSize(uint64(len(d.BackedCandidates)))
	for i := range d.BackedCandidates {
		n += d.BackedCandidates[i].EncodedSize()
	}
	n += codec.CompactSize(uint64(len(d.Disputes)))
	for i := range d.Disputes {
		n += d.Disputes[i].EncodedSize()
	}
	return n + d.ParentHeader.EncodedSize()
}

func (x *ParaInherentExtrinsic) EncodedSize() int {
	n := 3 + x.Data.EncodedSize()
	return codec.CompactSize(uint64(n)) + n
}
