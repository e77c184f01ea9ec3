package types

import "io"

// MarshalSCALE and UnmarshalSCALE make every wire type work with gossamer's
// reflection codec (github.com/ChainSafe/gossamer/pkg/scale), inside any
// struct or slice of its, with our exact bytes and our bounded decoder.

func (v BitVec) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *BitVec) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v Header) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *Header) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v DigestItem) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *DigestItem) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v CandidateDescriptor) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CandidateDescriptor) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v CandidateCommitments) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CandidateCommitments) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v CandidateReceipt) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CandidateReceipt) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v CommittedCandidateReceipt) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CommittedCandidateReceipt) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v ValidityAttestation) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *ValidityAttestation) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v BackedCandidate) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *BackedCandidate) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v SigningContext) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *SigningContext) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v UncheckedSignedAvailabilityBitfield) MarshalSCALE() ([]byte, error) { return Encode(&v), nil }
func (v *UncheckedSignedAvailabilityBitfield) UnmarshalSCALE(r io.Reader) error {
	return unmarshalSCALE(r, v)
}

func (v CompactStatement) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CompactStatement) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v DisputeStatement) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *DisputeStatement) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v DisputeStatementSet) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *DisputeStatementSet) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v ScheduledCore) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *ScheduledCore) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v OccupiedCore) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *OccupiedCore) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v CoreState) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *CoreState) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v InherentData) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *InherentData) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v InherentDataMap) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *InherentDataMap) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }

func (v ParaInherentExtrinsic) MarshalSCALE() ([]byte, error)     { return Encode(&v), nil }
func (v *ParaInherentExtrinsic) UnmarshalSCALE(r io.Reader) error { return unmarshalSCALE(r, v) }
