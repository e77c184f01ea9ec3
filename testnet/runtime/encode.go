package runtime

import (
	"slices"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Encode writes the state in a fixed SCALE layout: its blake2-256 (Root)
// is what the testnet puts in a block's state root, and a node that missed
// blocks adopts a state it decodes from a block body.
func (s *State) Encode(w *codec.Writer) {
	w.U32(s.Number)
	w.U32(s.Session)
	w.U32(s.SessionStart)
	w.Compact(uint64(len(s.Paras)))
	for i := range s.Paras {
		p := &s.Paras[i]
		w.U32(p.ID)
		w.VecU8(p.Head)
		w.Raw(p.CodeHash[:])
		w.U32(p.MostRecentContext)
		w.U32(p.Included)
		w.Compact(uint64(len(p.Pending)))
		for _, pc := range p.Pending {
			w.U32(pc.Core)
			w.Raw(pc.Hash[:])
			pc.Descriptor.Encode(w)
			w.Raw(pc.CommitmentsHash[:])
			w.VecU8(pc.Head)
			encodeOptHash(w, pc.NewCode)
			w.U32(pc.RelayParentNumber)
			w.U32(pc.BackedIn)
			pc.Availability.Encode(w)
			encodeIndices(w, pc.Backers)
			w.U32(pc.Group)
		}
	}
	w.U32(s.AssignerNext)
	w.Compact(uint64(len(s.Allowed)))
	for _, a := range s.Allowed {
		w.Raw(a.Hash[:])
		w.U32(a.Number)
		w.Raw(a.StateRoot[:])
		w.U32(a.AssignerNext)
	}
	encodeIndices(w, s.Disabled)
	w.Compact(uint64(len(s.Disputes)))
	for i := range s.Disputes {
		d := &s.Disputes[i]
		w.U32(d.Session)
		w.Raw(d.Candidate[:])
		d.For.Encode(w)
		d.Against.Encode(w)
		w.U32(d.Start)
		if d.ConcludedAt == nil {
			w.U8(0)
		} else {
			w.U8(1)
			w.U32(*d.ConcludedAt)
		}
		encodeIndices(w, d.Backers)
	}
	w.Compact(uint64(len(s.Included)))
	for _, r := range s.Included {
		w.U32(r.Session)
		w.Raw(r.Candidate[:])
		w.U32(r.At)
	}
	w.Compact(uint64(len(s.Offences)))
	for _, o := range s.Offences {
		w.U32(o.Session)
		w.Raw(o.Candidate[:])
		w.U32(o.Validator)
		w.U8(uint8(o.Kind))
		w.U32(o.At)
	}
	w.Bool(s.Frozen)
	w.U32(s.RevertTo)
}

func encodeOptHash(w *codec.Writer, h *types.Hash) {
	if h == nil {
		w.U8(0)
		return
	}
	w.U8(1)
	w.Raw(h[:])
}

func encodeIndices(w *codec.Writer, v []types.ValidatorIndex) {
	w.Compact(uint64(len(v)))
	for _, i := range v {
		w.U32(i)
	}
}

func decodeIndices(r *codec.Reader, what string) []types.ValidatorIndex {
	n := r.Len(what, 4, 0)
	if n == 0 {
		return nil
	}
	out := make([]types.ValidatorIndex, n)
	for i := range out {
		out[i] = r.U32(what)
	}
	return out
}

// Decode reads a state written by Encode. Every length is bounded by the
// input (the reader refuses a count its remaining bytes cannot hold).
func (s *State) Decode(r *codec.Reader) error {
	*s = State{}
	s.Number = r.U32("state number")
	s.Session = r.U32("session")
	s.SessionStart = r.U32("session start")
	n := r.Len("paras", 4+1+32+4+4+1, 0)
	if n > 0 {
		s.Paras = make([]Para, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		p := &s.Paras[i]
		p.ID = r.U32("para id")
		p.Head = slices.Clone(r.Bytes("para head", 0))
		r.Array32("code hash", (*[32]byte)(&p.CodeHash))
		p.MostRecentContext = r.U32("most recent context")
		p.Included = r.U32("included")
		m := r.Len("pending", 4+32+types.CandidateDescriptorSize+32, 0)
		for j := 0; j < m && r.Err() == nil; j++ {
			pc := &Pending{}
			pc.Core = r.U32("core")
			r.Array32("candidate hash", (*[32]byte)(&pc.Hash))
			pc.Descriptor.Decode(r)
			r.Array32("commitments hash", (*[32]byte)(&pc.CommitmentsHash))
			pc.Head = slices.Clone(r.Bytes("head", 0))
			if r.OptionTag("new code") {
				var h types.Hash
				r.Array32("new code hash", (*[32]byte)(&h))
				pc.NewCode = &h
			}
			pc.RelayParentNumber = r.U32("relay parent number")
			pc.BackedIn = r.U32("backed in")
			pc.Availability.Decode(r)
			pc.Backers = decodeIndices(r, "backers")
			pc.Group = r.U32("group")
			p.Pending = append(p.Pending, pc)
		}
	}
	s.AssignerNext = r.U32("assigner next")
	n = r.Len("allowed relay parents", 72, 0)
	for i := 0; i < n && r.Err() == nil; i++ {
		var a RelayParentInfo
		r.Array32("relay parent", (*[32]byte)(&a.Hash))
		a.Number = r.U32("relay parent number")
		r.Array32("state root", (*[32]byte)(&a.StateRoot))
		a.AssignerNext = r.U32("assigner next")
		s.Allowed = append(s.Allowed, a)
	}
	s.Disabled = decodeIndices(r, "disabled")
	n = r.Len("disputes", 4+32+2+4+1+1, 0)
	for i := 0; i < n && r.Err() == nil; i++ {
		var d DisputeState
		d.Session = r.U32("dispute session")
		r.Array32("dispute candidate", (*[32]byte)(&d.Candidate))
		d.For.Decode(r)
		d.Against.Decode(r)
		d.Start = r.U32("dispute start")
		if r.OptionTag("concluded at") {
			at := r.U32("concluded at")
			d.ConcludedAt = &at
		}
		d.Backers = decodeIndices(r, "dispute backers")
		s.Disputes = append(s.Disputes, d)
	}
	n = r.Len("included", 40, 0)
	for i := 0; i < n && r.Err() == nil; i++ {
		var rec InclusionRecord
		rec.Session = r.U32("included session")
		r.Array32("included candidate", (*[32]byte)(&rec.Candidate))
		rec.At = r.U32("included at")
		s.Included = append(s.Included, rec)
	}
	n = r.Len("offences", 45, 0)
	for i := 0; i < n && r.Err() == nil; i++ {
		var o Offence
		o.Session = r.U32("offence session")
		r.Array32("offence candidate", (*[32]byte)(&o.Candidate))
		o.Validator = r.U32("offender")
		o.Kind = OffenceKind(r.Variant("offence kind", func(k uint8) bool { return k <= uint8(AgainstValid) }))
		o.At = r.U32("offence at")
		s.Offences = append(s.Offences, o)
	}
	s.Frozen = r.Bool("frozen")
	s.RevertTo = r.U32("revert to")
	return r.Err()
}

// Root is blake2-256 of the encoding.
func (s *State) Root() types.Hash { return types.Blake2_256(types.Encode(s)) }
