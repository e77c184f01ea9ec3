package types

import (
	"github.com/polkadot-provisioner/provisioner/codec"
)

// ScheduledCore names the para a core is scheduled for.
type ScheduledCore struct {
	ParaID   ParaID
	Collator *CollatorID
}

func (s *ScheduledCore) Encode(w *codec.Writer) {
	w.U32(s.ParaID)
	if s.Collator == nil {
		w.U8(0)
	} else {
		w.U8(1)
		w.Raw(s.Collator[:])
	}
}

func (s *ScheduledCore) Decode(r *codec.Reader) error {
	s.ParaID = r.U32("scheduled core para_id")
	s.Collator = nil
	if r.OptionTag("scheduled core collator") {
		var c CollatorID
		r.Array32("scheduled core collator", (*[32]byte)(&c))
		s.Collator = &c
	}
	return r.Err()
}

func encodeOptScheduled(w *codec.Writer, s *ScheduledCore) {
	if s == nil {
		w.U8(0)
		return
	}
	w.U8(1)
	s.Encode(w)
}

func decodeOptScheduled(r *codec.Reader, what string) *ScheduledCore {
	if !r.OptionTag(what) {
		return nil
	}
	s := new(ScheduledCore)
	s.Decode(r)
	return s
}

// OccupiedCore is a core holding a candidate that awaits availability.
type OccupiedCore struct {
	NextUpOnAvailable   *ScheduledCore
	OccupiedSince       BlockNumber
	TimeOutAt           BlockNumber
	NextUpOnTimeOut     *ScheduledCore
	Availability        BitVec // one bit per validator
	GroupResponsible    GroupIndex
	CandidateHash       Hash
	CandidateDescriptor CandidateDescriptor
}

func (o *OccupiedCore) Encode(w *codec.Writer) {
	encodeOptScheduled(w, o.NextUpOnAvailable)
	w.U32(o.OccupiedSince)
	w.U32(o.TimeOutAt)
	encodeOptScheduled(w, o.NextUpOnTimeOut)
	o.Availability.Encode(w)
	w.U32(o.GroupResponsible)
	w.Raw(o.CandidateHash[:])
	o.CandidateDescriptor.Encode(w)
}

func (o *OccupiedCore) Decode(r *codec.Reader) error {
	o.NextUpOnAvailable = decodeOptScheduled(r, "next_up_on_available")
	o.OccupiedSince = r.U32("occupied_since")
	o.TimeOutAt = r.U32("time_out_at")
	o.NextUpOnTimeOut = decodeOptScheduled(r, "next_up_on_time_out")
	if r.Err() != nil {
		return r.Err()
	}
	o.Availability.Decode(r)
	o.GroupResponsible = r.U32("group_responsible")
	r.Array32("occupied candidate_hash", (*[32]byte)(&o.CandidateHash))
	return o.CandidateDescriptor.Decode(r)
}

// CoreStateKind is the CoreState enum index.
type CoreStateKind uint8

const (
	CoreOccupied  CoreStateKind = 0
	CoreScheduled CoreStateKind = 1
	CoreFree      CoreStateKind = 2
)

func (k CoreStateKind) String() string {
	switch k {
	case CoreOccupied:
		return "Occupied"
	case CoreScheduled:
		return "Scheduled"
	case CoreFree:
		return "Free"
	}
	return "Unknown"
}

// CoreState is the runtime's view of one availability core.
type CoreState struct {
	Kind      CoreStateKind
	Occupied  *OccupiedCore // when Kind == CoreOccupied
	Scheduled ScheduledCore // when Kind == CoreScheduled
}

func (c *CoreState) Encode(w *codec.Writer) {
	w.U8(uint8(c.Kind))
	switch c.Kind {
	case CoreOccupied:
		c.Occupied.Encode(w)
	case CoreScheduled:
		c.Scheduled.Encode(w)
	}
}

func (c *CoreState) Decode(r *codec.Reader) error {
	c.Kind = CoreStateKind(r.Variant("core state", func(k uint8) bool { return k <= 2 }))
	c.Occupied, c.Scheduled = nil, ScheduledCore{}
	switch {
	case r.Err() != nil:
	case c.Kind == CoreOccupied:
		c.Occupied = new(OccupiedCore)
		c.Occupied.Decode(r)
	case c.Kind == CoreScheduled:
		c.Scheduled.Decode(r)
	}
	return r.Err()
}
