package p2p

import (
	"encoding/hex"
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Kind names a gossip topic.
type Kind uint8

const (
	KindBitfield Kind = iota
	KindBackedCandidate
	KindDispute
	KindMisbehavior
	KindAnnouncement
	numKinds
)

// Kinds lists every gossip topic kind.
var Kinds = [...]Kind{KindBitfield, KindBackedCandidate, KindDispute, KindMisbehavior, KindAnnouncement}

func (k Kind) String() string {
	switch k {
	case KindBitfield:
		return "bitfield"
	case KindBackedCandidate:
		return "backed"
	case KindDispute:
		return "dispute"
	case KindMisbehavior:
		return "misbehavior"
	case KindAnnouncement:
		return "announcement"
	}
	return "unknown"
}

// TopicName is the gossipsub topic of kind on the network with this genesis
// hash: /<genesis hex>/provisioner/<kind>/1/scale.
func TopicName(genesis types.Hash, k Kind) string {
	return "/" + hex.EncodeToString(genesis[:]) + "/provisioner/" + k.String() + "/1/scale"
}

// InherentProtocol is the request-response protocol of block builders:
// /<genesis hex>/provisioner/inherent/1. On one stream the builder writes an
// InherentRequest frame, the server answers with one InherentResponse
// frame (frames: unsigned-varint length ++ SCALE). The builder closes the
// stream after reading the answer; the server waits for that (briefly)
// before it lets go of the stream.
func InherentProtocol(genesis types.Hash) protocol.ID {
	return protocol.ID("/" + hex.EncodeToString(genesis[:]) + "/provisioner/inherent/1")
}

// AuthorProtocol is the author stream protocol:
// /<genesis hex>/provisioner/author/1. The subscriber writes one
// AuthorRequest frame and keeps its write side open; the server sends
// AuthorFrames (data, then one End frame) until the leaf is deactivated,
// the node shuts down, or the subscriber closes or resets the stream
// (which unsubscribes).
func AuthorProtocol(genesis types.Hash) protocol.ID {
	return protocol.ID("/" + hex.EncodeToString(genesis[:]) + "/provisioner/author/1")
}

// BitfieldMessage is the bitfield topic's payload: the relay parent the
// bitfield is signed for, then the signed bitfield.
type BitfieldMessage struct {
	RelayParent types.Hash
	Bitfield    types.UncheckedSignedAvailabilityBitfield
}

func (m *BitfieldMessage) Encode(w *codec.Writer) {
	w.Raw(m.RelayParent[:])
	m.Bitfield.Encode(w)
}

func (m *BitfieldMessage) Decode(r *codec.Reader) error {
	r.Array32("bitfield relay_parent", (*[32]byte)(&m.RelayParent))
	return m.Bitfield.Decode(r)
}

// BackedCandidateMessage is the backed-candidate topic's payload: the relay
// parent (an active leaf whose allowed relay parents hold the descriptor's relay parent, or that relay parent itself), then the
// backed candidate with its core index injected in validator_indices.
type BackedCandidateMessage struct {
	RelayParent types.Hash
	Candidate   types.BackedCandidate
}

func (m *BackedCandidateMessage) Encode(w *codec.Writer) {
	w.Raw(m.RelayParent[:])
	m.Candidate.Encode(w)
}

func (m *BackedCandidateMessage) Decode(r *codec.Reader) error {
	r.Array32("backed relay_parent", (*[32]byte)(&m.RelayParent))
	return m.Candidate.Decode(r)
}

// BlockAnnouncement is the announcement topic's payload: a relay-chain
// header plus an opaque body (whatever a testnet peer needs to follow the
// chain: cores, sessions, ...), at most Limits.AnnouncementBody bytes on
// the wire.
type BlockAnnouncement struct {
	Header types.Header
	Body   []byte
}

func (a *BlockAnnouncement) Encode(w *codec.Writer) {
	a.Header.Encode(w)
	w.VecU8(a.Body)
}

func (a *BlockAnnouncement) Decode(r *codec.Reader) error {
	a.Header.Decode(r)
	a.Body = r.Bytes("announcement body", 0)
	return r.Err()
}

// ProvisionableData is one piece of data for a block author, as the author
// stream carries it. SCALE: an enum, 0 Bitfield(relay parent, signed
// bitfield), 1 BackedCandidate(relay parent, backed candidate),
// 2 Dispute(set), 3 Misbehavior(report). Exactly the field of Kind is set.
type ProvisionableData struct {
	Kind        Kind // KindBitfield, KindBackedCandidate, KindDispute or KindMisbehavior
	RelayParent types.Hash
	Bitfield    *types.UncheckedSignedAvailabilityBitfield
	Candidate   *types.BackedCandidate
	Dispute     *types.DisputeStatementSet
	Misbehavior *types.MisbehaviorReport
}

func (d *ProvisionableData) Encode(w *codec.Writer) {
	w.U8(uint8(d.Kind))
	switch d.Kind {
	case KindBitfield:
		w.Raw(d.RelayParent[:])
		d.Bitfield.Encode(w)
	case KindBackedCandidate:
		w.Raw(d.RelayParent[:])
		d.Candidate.Encode(w)
	case KindDispute:
		d.Dispute.Encode(w)
	case KindMisbehavior:
		d.Misbehavior.Encode(w)
	}
}

func (d *ProvisionableData) Decode(r *codec.Reader) error {
	*d = ProvisionableData{Kind: Kind(r.Variant("provisionable data", func(k uint8) bool { return k <= uint8(KindMisbehavior) }))}
	if r.Err() != nil {
		return r.Err()
	}
	switch d.Kind {
	case KindBitfield:
		r.Array32("relay parent", (*[32]byte)(&d.RelayParent))
		d.Bitfield = new(types.UncheckedSignedAvailabilityBitfield)
		d.Bitfield.Decode(r)
	case KindBackedCandidate:
		r.Array32("relay parent", (*[32]byte)(&d.RelayParent))
		d.Candidate = new(types.BackedCandidate)
		d.Candidate.Decode(r)
	case KindDispute:
		d.Dispute = new(types.DisputeStatementSet)
		d.Dispute.Decode(r)
	case KindMisbehavior:
		d.Misbehavior = new(types.MisbehaviorReport)
		d.Misbehavior.Decode(r)
	}
	return r.Err()
}

// ErrorCode is the error of an inherent response or the end of an author
// stream.
type ErrorCode uint8

const (
	CodeOK           ErrorCode = 0
	CodeUnknownLeaf  ErrorCode = 1 // the relay parent is not an active leaf
	CodeNotReady     ErrorCode = 2 // no answer before the deadline
	CodeShuttingDown ErrorCode = 3
	CodeMalformed    ErrorCode = 4 // undecodable or oversize request
	CodeBusy         ErrorCode = 5 // per-peer concurrency limit reached
	CodeInternal     ErrorCode = 6
	CodeLeafEnded    ErrorCode = 7 // author stream: the leaf was deactivated
)

func (c ErrorCode) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeUnknownLeaf:
		return "unknown_leaf"
	case CodeNotReady:
		return "not_ready"
	case CodeShuttingDown:
		return "shutting_down"
	case CodeMalformed:
		return "malformed"
	case CodeBusy:
		return "busy"
	case CodeInternal:
		return "internal"
	case CodeLeafEnded:
		return "leaf_ended"
	}
	return fmt.Sprintf("code_%d", uint8(c))
}

func (c ErrorCode) sentinel() error {
	switch c {
	case CodeUnknownLeaf:
		return ErrUnknownLeaf
	case CodeNotReady:
		return ErrNotReady
	case CodeShuttingDown:
		return ErrShuttingDown
	case CodeMalformed:
		return ErrMalformed
	case CodeBusy:
		return ErrBusy
	case CodeLeafEnded:
		return ErrLeafEnded
	}
	return ErrInternal
}

// RemoteError is an error code a peer answered with. errors.Is matches it
// against the sentinel of its code (ErrUnknownLeaf, ErrNotReady, ...).
type RemoteError struct {
	Code    ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "remote: " + e.Code.String()
	}
	return "remote: " + e.Code.String() + ": " + e.Message
}

func (e *RemoteError) Is(target error) bool { return target == e.Code.sentinel() }

// maxErrorMessage caps the message of an error response.
const maxErrorMessage = 256

// InherentRequest asks for the parachains inherent at RelayParent. The
// server holds the request at most TimeoutMillis (0: its default), capped by
// its own maximum.
//
// SCALE: relay_parent ++ u32 timeout (36 bytes, the protocol's first form,
// which every server understands), or, when Flags is not zero, relay_parent
// ++ u32 timeout ++ u8 flags (37 bytes). A 37-byte request with flags 0 is
// refused as non-canonical, so every accepted request re-encodes to itself.
//
// An all-zero RelayParent asks for the node's best active leaf: the zero
// hash is the hash of no block (it would need a blake2-256 preimage), and a
// server that predates this rule answers it with unknown_leaf, which is the
// truth for that server. The answer says which leaf was used: the Ok
// variant's inherent carries parent_header, whose hash is the relay parent.
type InherentRequest struct {
	RelayParent   types.Hash
	TimeoutMillis uint32
	Flags         uint8
}

// InherentRequestSize is the encoded size of an InherentRequest without
// flags; InherentRequestMaxSize is its size with them.
const (
	InherentRequestSize    = 36
	InherentRequestMaxSize = 37
)

// Flags of an InherentRequest.
const (
	// FlagParentHeader asks the server to answer an error with the header
	// of the relay parent (response variant 2) when it knows the block, so
	// that a block builder that did not know the header can still fall back
	// to the empty inherent on the real parent. Only requests with this
	// flag get variant 2, so older clients never see it.
	FlagParentHeader uint8 = 1 << 0

	knownRequestFlags = FlagParentHeader
)

// WantsBestLeaf reports whether the request names no relay parent and asks
// for the node's best leaf.
func (q *InherentRequest) WantsBestLeaf() bool { return q.RelayParent.IsZero() }

func (q *InherentRequest) Encode(w *codec.Writer) {
	w.Raw(q.RelayParent[:])
	w.U32(q.TimeoutMillis)
	if q.Flags != 0 {
		w.U8(q.Flags)
	}
}

func (q *InherentRequest) Decode(r *codec.Reader) error {
	r.Array32("request relay_parent", (*[32]byte)(&q.RelayParent))
	q.TimeoutMillis = r.U32("request timeout")
	q.Flags = 0
	if r.Err() == nil && r.Remaining() > 0 {
		q.Flags = r.U8("request flags")
		switch {
		case r.Err() != nil:
		case q.Flags == 0:
			r.Fail("request flags", codec.ErrNonCanonical, "flags 0 must be sent as the 36-byte request")
		case q.Flags&^knownRequestFlags != 0:
			r.Fail("request flags", codec.ErrInvalidValue, fmt.Sprintf("unknown flags %#02x", q.Flags&^knownRequestFlags))
		}
	}
	return r.Err()
}

// InherentResponse answers an InherentRequest. SCALE: an enum, 0 Ok(the
// sp_inherents InherentData map holding "parachn0"), 1 Err(u8 code,
// Vec<u8> message), 2 ErrWithParent(u8 code, Vec<u8> message, Header): an
// error together with the header of the relay parent the request was for
// (best leaf requests: the leaf the server chose), sent only to requests
// with FlagParentHeader.
type InherentResponse struct {
	Code    ErrorCode // CodeOK for Ok
	Message string
	Data    types.InherentDataMap
	// Parent is set on error responses of variant 2 only.
	Parent *types.Header
}

func (p *InherentResponse) Encode(w *codec.Writer) {
	switch {
	case p.Code == CodeOK:
		w.U8(0)
		p.Data.Encode(w)
	case p.Parent == nil:
		w.U8(1)
		encodeError(w, p.Code, p.Message)
	default:
		w.U8(2)
		encodeError(w, p.Code, p.Message)
		p.Parent.Encode(w)
	}
}

func (p *InherentResponse) Decode(r *codec.Reader) error {
	*p = InherentResponse{}
	switch r.Variant("inherent response", func(v uint8) bool { return v <= 2 }) {
	case 0:
		if r.Err() == nil {
			p.Data.Decode(r)
		}
	case 1:
		p.Code, p.Message = decodeError(r)
	case 2:
		p.Code, p.Message = decodeError(r)
		if r.Err() == nil {
			p.Parent = new(types.Header)
			p.Parent.Decode(r)
		}
	}
	return r.Err()
}

func encodeError(w *codec.Writer, code ErrorCode, msg string) {
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	w.U8(uint8(code))
	w.VecU8([]byte(msg))
}

func decodeError(r *codec.Reader) (ErrorCode, string) {
	code := ErrorCode(r.Variant("error code", func(v uint8) bool { return v > 0 }))
	msg := r.Bytes("error message", maxErrorMessage)
	return code, string(msg)
}

// AuthorRequest subscribes to the author stream of one relay parent.
// SCALE: relay_parent, 32 bytes.
type AuthorRequest struct {
	RelayParent types.Hash
}

func (q *AuthorRequest) Encode(w *codec.Writer) { w.Raw(q.RelayParent[:]) }

func (q *AuthorRequest) Decode(r *codec.Reader) error {
	r.Array32("author relay_parent", (*[32]byte)(&q.RelayParent))
	return r.Err()
}

// AuthorFrame is one frame of the author stream. SCALE: an enum, 0
// Data(ProvisionableData), 1 End(u8 code, Vec<u8> message). End is the last
// frame: CodeLeafEnded when the leaf was deactivated, an error code
// otherwise.
type AuthorFrame struct {
	Data    *ProvisionableData // nil for End
	Code    ErrorCode
	Message string
}

func (f *AuthorFrame) Encode(w *codec.Writer) {
	if f.Data != nil {
		w.U8(0)
		f.Data.Encode(w)
		return
	}
	w.U8(1)
	encodeError(w, f.Code, f.Message)
}

func (f *AuthorFrame) Decode(r *codec.Reader) error {
	*f = AuthorFrame{}
	if r.Variant("author frame", func(v uint8) bool { return v <= 1 }) == 0 {
		if r.Err() == nil {
			f.Data = new(ProvisionableData)
			f.Data.Decode(r)
		}
		return r.Err()
	}
	f.Code, f.Message = decodeError(r)
	return r.Err()
}
