package p2p

import (
	"bufio"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// The validator record is the seed of admission by session key (DESIGN.md
// section 4, like Polkadot's authority discovery): a node proves that it
// holds a session validator key by a record, signed with that key, that
// binds its libp2p peer id and addresses to the network's genesis. Peers
// ask for it on every new connection over a request-response protocol
// and keep the validator index of the records that verify; today that
// index is only reported (/peers, the status line), later it decides who
// enters the validators' mesh.

// Validator record errors, testable with errors.Is.
var (
	ErrRecordMalformed        = errors.New("malformed validator record")
	ErrRecordPeerID           = errors.New("validator record is for another peer id")
	ErrRecordUnknownSession   = errors.New("validator record for an unknown session")
	ErrRecordUnknownValidator = errors.New("validator record for an unknown validator index")
	ErrRecordSignature        = errors.New("validator record signature does not verify")
)

// Record bounds: a record is a peer id, a few addresses and a signature,
// so anything larger is hostile.
const (
	MaxRecordSize    = 4 << 10
	MaxRecordAddrs   = 16
	MaxRecordAddrLen = 256
	maxRecordPeerID  = 128
)

// recordDomain separates the record's signature from every other sr25519
// signature of a validator key (bitfields, votes, statements all sign
// other payloads under the same "substrate" context).
const recordDomain = "provisioner/validator-record/1"

// ValidatorRecordProtocol is the validator-record protocol of a network:
// /<genesis hex>/provisioner/validator-record/1.
func ValidatorRecordProtocol(genesis types.Hash) protocol.ID {
	return protocol.ID("/" + hex.EncodeToString(genesis[:]) + "/provisioner/validator-record/1")
}

// SessionKey is the validator key a node holds for one session.
type SessionKey struct {
	Session types.SessionIndex
	Index   types.ValidatorIndex
	Signer  types.Signer
}

// ValidatorRecord is SCALE {peer_id: Vec<u8>, addresses: Vec<Vec<u8>>,
// validator_index: u32, session: u32, signature: [u8; 64]}: the peer id
// and multiaddrs in their binary forms.
type ValidatorRecord struct {
	PeerID    []byte
	Addrs     [][]byte
	Index     types.ValidatorIndex
	Session   types.SessionIndex
	Signature [64]byte
}

func (r *ValidatorRecord) encodeUnsigned(w *codec.Writer) {
	w.VecU8(r.PeerID)
	w.Compact(uint64(len(r.Addrs)))
	for _, a := range r.Addrs {
		w.VecU8(a)
	}
	w.U32(uint32(r.Index))
	w.U32(uint32(r.Session))
}

// Encode writes the record's SCALE encoding.
func (r *ValidatorRecord) Encode(w *codec.Writer) {
	r.encodeUnsigned(w)
	w.Raw(r.Signature[:])
}

// Decode reads a record with the record bounds.
func (r *ValidatorRecord) Decode(rd *codec.Reader) error {
	r.PeerID = rd.Bytes("peer_id", maxRecordPeerID)
	n := rd.Len("addresses", 1, MaxRecordAddrs)
	r.Addrs = nil
	if n > 0 {
		r.Addrs = make([][]byte, n)
	}
	for i := range r.Addrs {
		r.Addrs[i] = rd.Bytes("address", MaxRecordAddrLen)
	}
	r.Index = types.ValidatorIndex(rd.U32("validator_index"))
	r.Session = types.SessionIndex(rd.U32("session"))
	rd.Array64("signature", &r.Signature)
	return rd.Err()
}

// SigningPayload is what the session key signs: the domain, the genesis
// hash, then the record without its signature. The genesis keeps a record
// of one network from being replayed on another that shares validators.
func (r *ValidatorRecord) SigningPayload(genesis types.Hash) []byte {
	w := codec.NewWriter(len(recordDomain) + 32 + 128)
	w.Raw([]byte(recordDomain))
	w.Raw(genesis[:])
	r.encodeUnsigned(w)
	return w.Bytes()
}

// DecodeValidatorRecord decodes a record, refusing more than MaxRecordSize
// bytes and every over-long field.
func DecodeValidatorRecord(b []byte) (*ValidatorRecord, error) {
	var rec ValidatorRecord
	rd := codec.NewReader(b, codec.Limits{MaxMessageSize: MaxRecordSize, MaxItems: MaxRecordAddrs})
	if rd.Err() == nil {
		_ = rec.Decode(rd)
	}
	if err := rd.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecordMalformed, err)
	}
	return &rec, nil
}

// SignValidatorRecord makes the record of peer id with its addresses
// (at most MaxRecordAddrs are kept) for the given session key.
func SignValidatorRecord(genesis types.Hash, id peer.ID, addrs []ma.Multiaddr, key *SessionKey) *ValidatorRecord {
	rec := &ValidatorRecord{PeerID: []byte(id), Index: key.Index, Session: key.Session}
	for _, a := range addrs {
		if len(rec.Addrs) == MaxRecordAddrs {
			break
		}
		if b := a.Bytes(); len(b) <= MaxRecordAddrLen {
			rec.Addrs = append(rec.Addrs, b)
		}
	}
	rec.Signature = key.Signer.Sign(rec.SigningPayload(genesis))
	return rec
}

// VerifyValidatorRecord checks a record received from peer from: it names
// from, its session is known, its index is in the session's validator set
// and the validator's key signed it for this genesis.
func VerifyValidatorRecord(genesis types.Hash, from peer.ID, rec *ValidatorRecord,
	validators func(types.SessionIndex) ([]types.ValidatorID, bool)) error {
	if peer.ID(rec.PeerID) != from {
		return fmt.Errorf("%w: record names %s, sent by %s", ErrRecordPeerID, peerIDString(rec.PeerID), from)
	}
	vals, ok := validators(rec.Session)
	if !ok {
		return fmt.Errorf("%w: session %d", ErrRecordUnknownSession, rec.Session)
	}
	if int(rec.Index) >= len(vals) {
		return fmt.Errorf("%w: index %d of %d validators", ErrRecordUnknownValidator, rec.Index, len(vals))
	}
	pub, err := types.ParsePublicKey(vals[rec.Index])
	if err != nil {
		return fmt.Errorf("%w: validator %d key: %w", ErrRecordSignature, rec.Index, err)
	}
	if err := pub.CheckSignature(rec.SigningPayload(genesis), rec.Signature); err != nil {
		return fmt.Errorf("%w: validator %d: %w", ErrRecordSignature, rec.Index, err)
	}
	return nil
}

// MaxRecordIndices bounds the validator indices one peer may prove in a
// record set. A node hosting a share of a large validator set (Kusama's
// 1,000 on a handful of machines) needs many; more than this is a sybil
// factory rather than a node, and the bound keeps a set's frame (68 bytes
// an index) and its verification (a signature an index) small. Verifiers
// also refuse a set with more indices than the session has validators.
const MaxRecordIndices = 1024

// recordEntrySize is one entry of a set: u32 index and a signature.
const recordEntrySize = 4 + 64

// MaxRecordSetSize bounds a record set's encoding: the single record's
// bound for the shared fields, plus MaxRecordIndices entries.
const MaxRecordSetSize = MaxRecordSize + MaxRecordIndices*recordEntrySize

// RecordEntry is one validator of a record set, with its key's signature.
type RecordEntry struct {
	Index     types.ValidatorIndex
	Signature [64]byte
}

// ValidatorRecordSet is SCALE {peer_id: Vec<u8>, addresses: Vec<Vec<u8>>,
// session: u32, entries: Vec<(u32, [u8; 64])>}, the entries in strictly
// ascending index order: the records of every validator a node hosts,
// sharing their peer id, addresses and session. Entry i's signature is
// the one the single record Record(i) carries, over that record's
// SigningPayload, so every entry proves its key exactly as a single
// record does and a set is only a compact way to send many.
type ValidatorRecordSet struct {
	PeerID  []byte
	Addrs   [][]byte
	Session types.SessionIndex
	Entries []RecordEntry
}

// Encode writes the set's SCALE encoding.
func (s *ValidatorRecordSet) Encode(w *codec.Writer) {
	w.VecU8(s.PeerID)
	w.Compact(uint64(len(s.Addrs)))
	for _, a := range s.Addrs {
		w.VecU8(a)
	}
	w.U32(uint32(s.Session))
	w.Compact(uint64(len(s.Entries)))
	for _, e := range s.Entries {
		w.U32(uint32(e.Index))
		w.Raw(e.Signature[:])
	}
}

// Decode reads a set with the record bounds; entries out of order or
// repeated make it malformed (one canonical encoding, and no index
// claimed twice).
func (s *ValidatorRecordSet) Decode(rd *codec.Reader) error {
	s.PeerID = rd.Bytes("peer_id", maxRecordPeerID)
	n := rd.Len("addresses", 1, MaxRecordAddrs)
	s.Addrs = nil
	if n > 0 {
		s.Addrs = make([][]byte, n)
	}
	for i := range s.Addrs {
		s.Addrs[i] = rd.Bytes("address", MaxRecordAddrLen)
	}
	s.Session = types.SessionIndex(rd.U32("session"))
	n = rd.Len("entries", recordEntrySize, MaxRecordIndices)
	s.Entries = nil
	if n > 0 {
		s.Entries = make([]RecordEntry, n)
	}
	for i := range s.Entries {
		s.Entries[i].Index = types.ValidatorIndex(rd.U32("validator_index"))
		rd.Array64("signature", &s.Entries[i].Signature)
		if rd.Err() == nil && i > 0 && s.Entries[i].Index <= s.Entries[i-1].Index {
			rd.Fail("entries", codec.ErrNonCanonical, fmt.Sprintf("index %d after %d", s.Entries[i].Index, s.Entries[i-1].Index))
		}
	}
	return rd.Err()
}

// Record is entry i as a single record (it shares the set's slices).
func (s *ValidatorRecordSet) Record(i int) *ValidatorRecord {
	e := s.Entries[i]
	return &ValidatorRecord{PeerID: s.PeerID, Addrs: s.Addrs, Index: e.Index, Session: s.Session, Signature: e.Signature}
}

// setOf is the set of one single record: what a peer that answers with a
// single record proves.
func setOf(rec *ValidatorRecord) *ValidatorRecordSet {
	return &ValidatorRecordSet{PeerID: rec.PeerID, Addrs: rec.Addrs, Session: rec.Session,
		Entries: []RecordEntry{{Index: rec.Index, Signature: rec.Signature}}}
}

// DecodeValidatorRecordSet decodes a set, refusing more than
// MaxRecordSetSize bytes, over-long fields and misordered entries.
func DecodeValidatorRecordSet(b []byte) (*ValidatorRecordSet, error) {
	var set ValidatorRecordSet
	rd := codec.NewReader(b, codec.Limits{MaxMessageSize: MaxRecordSetSize, MaxItems: MaxRecordIndices})
	if rd.Err() == nil {
		_ = set.Decode(rd)
	}
	if err := rd.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecordMalformed, err)
	}
	return &set, nil
}

// Errors of a node's own session keys (Config.SessionKeys, SetSessionKeys).
var ErrSessionKeys = errors.New("bad session keys")

// checkSessionKeys: at most MaxRecordIndices keys, all of one session,
// each index once, none nil.
func checkSessionKeys(keys []*SessionKey) error {
	if len(keys) > MaxRecordIndices {
		return fmt.Errorf("%w: %d keys, at most %d", ErrSessionKeys, len(keys), MaxRecordIndices)
	}
	seen := make(map[types.ValidatorIndex]bool, len(keys))
	for _, k := range keys {
		switch {
		case k == nil || k.Signer == nil:
			return fmt.Errorf("%w: a key without a signer", ErrSessionKeys)
		case k.Session != keys[0].Session:
			return fmt.Errorf("%w: sessions %d and %d mixed", ErrSessionKeys, keys[0].Session, k.Session)
		case seen[k.Index]:
			return fmt.Errorf("%w: validator index %d twice", ErrSessionKeys, k.Index)
		}
		seen[k.Index] = true
	}
	return nil
}

// SignValidatorRecordSet makes the record set of peer id with its
// addresses (at most MaxRecordAddrs are kept) for keys, which must pass
// checkSessionKeys and not be empty.
func SignValidatorRecordSet(genesis types.Hash, id peer.ID, addrs []ma.Multiaddr, keys []*SessionKey) (*ValidatorRecordSet, error) {
	if err := checkSessionKeys(keys); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrSessionKeys)
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b *SessionKey) int { return cmp.Compare(a.Index, b.Index) })
	set := &ValidatorRecordSet{PeerID: []byte(id), Session: sorted[0].Session, Entries: make([]RecordEntry, len(sorted))}
	for _, a := range addrs {
		if len(set.Addrs) == MaxRecordAddrs {
			break
		}
		if b := a.Bytes(); len(b) <= MaxRecordAddrLen {
			set.Addrs = append(set.Addrs, b)
		}
	}
	for i, k := range sorted {
		set.Entries[i].Index = k.Index
		set.Entries[i].Signature = k.Signer.Sign(set.Record(i).SigningPayload(genesis))
	}
	return set, nil
}

// VerifyValidatorRecordSet checks a set received from peer from, entry
// by entry: verified are the entries whose key signed them, in index
// order, and rejected the errors of the others (an index outside the
// session's validator set, a signature that does not verify). err, when
// the set as a whole is refused (another peer id, an unknown session,
// more entries than validators), leaves both empty. The signatures are
// checked as one batch: a node hosting a thousand keys costs about half
// of a thousand single verifications.
func VerifyValidatorRecordSet(genesis types.Hash, from peer.ID, set *ValidatorRecordSet,
	validators func(types.SessionIndex) ([]types.ValidatorID, bool)) (verified []PeerValidator, rejected []error, err error) {
	if peer.ID(set.PeerID) != from {
		return nil, nil, fmt.Errorf("%w: record names %s, sent by %s", ErrRecordPeerID, peerIDString(set.PeerID), from)
	}
	vals, ok := validators(set.Session)
	if !ok {
		return nil, nil, fmt.Errorf("%w: session %d", ErrRecordUnknownSession, set.Session)
	}
	if len(set.Entries) > len(vals) {
		return nil, nil, fmt.Errorf("%w: %d entries for %d validators", ErrRecordMalformed, len(set.Entries), len(vals))
	}
	batch := types.NewBatchVerifier(len(set.Entries))
	queued := make([]int, 0, len(set.Entries)) // entry of each batch item
	for i, e := range set.Entries {
		if int(e.Index) >= len(vals) {
			rejected = append(rejected, fmt.Errorf("%w: index %d of %d validators", ErrRecordUnknownValidator, e.Index, len(vals)))
			continue
		}
		pub, err := types.ParsePublicKey(vals[e.Index])
		if err != nil {
			rejected = append(rejected, fmt.Errorf("%w: validator %d key: %w", ErrRecordSignature, e.Index, err))
			continue
		}
		batch.Add(pub, set.Record(i).SigningPayload(genesis), e.Signature)
		queued = append(queued, i)
	}
	valid, _ := batch.Verify()
	for k, i := range queued {
		e := set.Entries[i]
		if !valid[k] {
			rejected = append(rejected, fmt.Errorf("%w: validator %d", ErrRecordSignature, e.Index))
			continue
		}
		verified = append(verified, PeerValidator{Index: e.Index, Session: set.Session})
	}
	return verified, rejected, nil
}

// peerIDString prints peer id bytes from the wire without trusting them.
func peerIDString(b []byte) string {
	if id, err := peer.IDFromBytes(b); err == nil {
		return id.String()
	}
	return "0x" + hex.EncodeToString(b)
}

// PeerValidator is the verified validator identity of a peer.
type PeerValidator struct {
	Index   types.ValidatorIndex
	Session types.SessionIndex
}

// Record exchange results, the labels of
// provisioner_p2p_validator_records_total{result}.
const (
	RecordVerified         = "verified"
	RecordNone             = "none" // the peer holds no session key
	RecordMalformed        = "malformed"
	RecordPeerID           = "peer_id"
	RecordUnknownSession   = "unknown_session"
	RecordUnknownValidator = "unknown_validator"
	RecordBadSignature     = "bad_signature"
	RecordFailed           = "failed" // stream error or timeout
)

// RecordResults lists every result label.
var RecordResults = []string{RecordVerified, RecordNone, RecordMalformed, RecordPeerID,
	RecordUnknownSession, RecordUnknownValidator, RecordBadSignature, RecordFailed}

func recordResult(err error) string {
	switch {
	case err == nil:
		return RecordVerified
	case errors.Is(err, ErrRecordMalformed):
		return RecordMalformed
	case errors.Is(err, ErrRecordPeerID):
		return RecordPeerID
	case errors.Is(err, ErrRecordUnknownSession):
		return RecordUnknownSession
	case errors.Is(err, ErrRecordUnknownValidator):
		return RecordUnknownValidator
	case errors.Is(err, ErrRecordSignature):
		return RecordBadSignature
	}
	return RecordFailed
}

// optionRecord is the response: SCALE Option<ValidatorRecord>.
type optionRecord struct{ rec *ValidatorRecord }

func (o optionRecord) Encode(w *codec.Writer) {
	if o.rec == nil {
		w.U8(0)
		return
	}
	w.U8(1)
	o.rec.Encode(w)
}

// emptyRequest is the request: an empty frame, kept as a frame so that a
// later version can carry a challenge.
type emptyRequest struct{}

func (emptyRequest) Encode(*codec.Writer) {}

// setRequest asks for every record the peer holds: a frame of one byte,
// recordRequestSet. A node that reads it answers with a record set (tag
// recordTagSet); one that ignores the request's bytes (an older node, the
// testnet's adversary) answers Option<record> as before, which the asker
// takes as a set of one.
type setRequest struct{}

func (setRequest) Encode(w *codec.Writer) { w.U8(recordRequestSet) }

// Request and response tags of the record protocol.
const (
	recordRequestSet = 1 // request: "send the whole set"
	recordTagNone    = 0 // response: no session key
	recordTagSingle  = 1 // response: one ValidatorRecord (Option::Some)
	recordTagSet     = 2 // response: a ValidatorRecordSet
)

// ownRecords is what a node answers the record protocol with: the set of
// every hosted key, and the record of its first (lowest) index for peers
// that ask for a single record. Both nil: no session key.
type ownRecords struct {
	single *ValidatorRecord
	set    *ValidatorRecordSet
}

// setResponse is the response to a set request: tag 2 and the set, or
// None.
type setResponse struct{ set *ValidatorRecordSet }

func (r setResponse) Encode(w *codec.Writer) {
	if r.set == nil {
		w.U8(recordTagNone)
		return
	}
	w.U8(recordTagSet)
	r.set.Encode(w)
}

// SetSessionKey changes the key this node's record is signed with (nil:
// no record), e.g. at a session change. Peers that connect afterwards get
// the new record.
func (n *Node) SetSessionKey(key *SessionKey) {
	var keys []*SessionKey
	if key != nil {
		keys = []*SessionKey{key}
	}
	// One key of a valid index cannot fail checkSessionKeys.
	_ = n.SetSessionKeys(keys)
}

// SetSessionKeys changes the keys of this node's records (none: no
// record), e.g. at a session change: a node hosting several validators
// proves each of them. Peers that connect afterwards get the new records.
// The keys must pass checkSessionKeys; on error the records are unchanged.
func (n *Node) SetSessionKeys(keys []*SessionKey) error {
	if err := checkSessionKeys(keys); err != nil {
		return err
	}
	var own ownRecords
	if len(keys) > 0 {
		set, err := SignValidatorRecordSet(n.cfg.Genesis, n.host.ID(), n.host.Addrs(), keys)
		if err != nil {
			return err
		}
		own.set = set
		own.single = set.Record(0)
	}
	n.recMu.Lock()
	n.ownRecord = own
	n.recMu.Unlock()
	return nil
}

// handleRecord answers a validator-record request with this node's
// records: the whole set when asked for it, else the record of its first
// index (or None).
func (n *Node) handleRecord(s network.Stream) {
	if !n.beginHandler() {
		_ = s.Reset()
		return
	}
	defer n.handlers.Done()
	_ = s.SetDeadline(time.Now().Add(n.cfg.RecordTimeout))
	// The request is at most a byte: a peer slower than the builder
	// protocols' read timeout is stalling.
	_ = s.SetReadDeadline(time.Now().Add(min(n.cfg.RecordTimeout, n.cfg.Inherent.ReadTimeout)))
	req, err := ReadFrame(bufio.NewReaderSize(s, 64), 64)
	if err != nil {
		_ = s.Reset()
		return
	}
	n.recMu.Lock()
	own := n.ownRecord
	n.recMu.Unlock()
	var resp types.Encoder = optionRecord{own.single}
	if len(req) == 1 && req[0] == recordRequestSet {
		resp = setResponse{own.set}
	}
	if err := WriteFrame(s, resp); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// FetchValidatorRecord asks peer p for its validator record: nil without
// an error when the peer holds no session key. The record is decoded but
// not verified.
func FetchValidatorRecord(ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, genesis types.Hash, p peer.ID, timeout time.Duration) (*ValidatorRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "validator-record"), p, ValidatorRecordProtocol(genesis))
	if err != nil {
		return nil, fmt.Errorf("validator record: open stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := WriteFrame(s, emptyRequest{}); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("validator record: request: %w", err)
	}
	_ = s.CloseWrite()
	b, err := ReadFrame(bufio.NewReaderSize(s, 512), MaxRecordSize+1)
	if err != nil {
		_ = s.Reset()
		if errors.Is(err, ErrFrameTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrRecordMalformed, err)
		}
		return nil, fmt.Errorf("validator record: response: %w", err)
	}
	switch {
	case len(b) == 1 && b[0] == 0:
		return nil, nil
	case len(b) == 0 || b[0] != 1:
		return nil, fmt.Errorf("%w: bad option tag", ErrRecordMalformed)
	}
	return DecodeValidatorRecord(b[1:])
}

// FetchValidatorRecords asks peer p for every validator record it holds:
// nil without an error when the peer holds no session key. A peer that
// answers with a single record (it ignores the request's bytes) gives a
// set of one. The set is decoded but not verified.
func FetchValidatorRecords(ctx context.Context, h interface {
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}, genesis types.Hash, p peer.ID, timeout time.Duration) (*ValidatorRecordSet, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "validator-record"), p, ValidatorRecordProtocol(genesis))
	if err != nil {
		return nil, fmt.Errorf("validator records: open stream: %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := WriteFrame(s, setRequest{}); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("validator records: request: %w", err)
	}
	_ = s.CloseWrite()
	b, err := ReadFrame(bufio.NewReaderSize(s, 4096), MaxRecordSetSize+1)
	if err != nil {
		_ = s.Reset()
		if errors.Is(err, ErrFrameTooLarge) {
			return nil, fmt.Errorf("%w: %w", ErrRecordMalformed, err)
		}
		return nil, fmt.Errorf("validator records: response: %w", err)
	}
	switch {
	case len(b) == 1 && b[0] == recordTagNone:
		return nil, nil
	case len(b) > 0 && b[0] == recordTagSingle:
		if len(b)-1 > MaxRecordSize {
			return nil, fmt.Errorf("%w: single record of %d bytes", ErrRecordMalformed, len(b)-1)
		}
		rec, err := DecodeValidatorRecord(b[1:])
		if err != nil {
			return nil, err
		}
		return setOf(rec), nil
	case len(b) > 0 && b[0] == recordTagSet:
		return DecodeValidatorRecordSet(b[1:])
	}
	return nil, fmt.Errorf("%w: bad response tag", ErrRecordMalformed)
}

// exchangeRecord fetches and verifies p's records, and keeps the verified
// indices while p stays connected. p counts as a validator when any of
// its keys verifies and is not claimed by MaxPeersPerValidator other
// peers already; the others are dropped (and logged), not held against
// the rest.
// recordRetries is how many times a record fetch that failed in transport
// is retried (100 ms, 200 ms, 400 ms apart) while the peer stays connected.
const recordRetries = 3

func (n *Node) exchangeRecord(p peer.ID) {
	defer n.handlers.Done()
	defer func() {
		n.recMu.Lock()
		delete(n.recPending, p)
		n.recMu.Unlock()
	}()
	select {
	case n.recSem <- struct{}{}:
		defer func() { <-n.recSem }()
	case <-n.ctx.Done():
		return
	}
	// A transport failure (one of a duplicate TCP/QUIC pair closing, a
	// stream reset) says nothing about the peer: retry a few times while it
	// stays connected, or an honest validator would stay a stranger for as
	// long as this connection lives.
	var set *ValidatorRecordSet
	var err error
	for attempt, backoff := 0, 100*time.Millisecond; ; attempt, backoff = attempt+1, 2*backoff {
		set, err = FetchValidatorRecords(n.ctx, n.host, n.cfg.Genesis, p, n.cfg.RecordTimeout)
		if n.ctx.Err() != nil {
			return
		}
		if err == nil || recordResult(err) != RecordFailed || attempt == recordRetries ||
			n.host.Network().Connectedness(p) != network.Connected {
			break
		}
		select {
		case <-time.After(backoff):
		case <-n.ctx.Done():
			return
		}
	}
	if err == nil && set == nil {
		n.m.records.WithLabelValues(RecordNone).Inc()
		n.adm.judged(p)
		return
	}
	var verified []PeerValidator
	var rejected []error
	if err == nil {
		verified, rejected, err = VerifyValidatorRecordSet(n.cfg.Genesis, p, set, n.cfg.Chain.SessionValidators)
	}
	if err == nil && len(verified) == 0 {
		// Only rejected entries (a set has at least one entry to verify
		// or it is empty, which proves nothing).
		err = fmt.Errorf("%w: empty record set", ErrRecordMalformed)
		if len(rejected) > 0 {
			err = rejected[0]
		}
	}
	// One result per exchange: verified when any key verified.
	n.m.records.WithLabelValues(recordResult(err)).Inc()
	if err != nil {
		n.adm.judged(p)
		if recordResult(err) == RecordFailed {
			log.Debugw("validator record exchange failed", "peer", p, "err", err)
		} else {
			log.Warnw("peer sent an invalid validator record", "peer", p, "err", err)
		}
		return
	}
	if len(rejected) > 0 {
		log.Warnw("peer sent invalid validator records besides valid ones", "peer", p,
			"verified", len(verified), "rejected", len(rejected), "first", rejected[0])
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		return
	}
	admitted := n.adm.setVerifiedAll(p, verified, recordSetAddrs(set))
	if len(admitted) == 0 {
		n.m.admission.WithLabelValues("validator_quota").Inc()
		n.adm.judged(p)
		// Debug, not a warning: a key's extra peer ids are what a validator
		// turned bad sends by the hundred (counted as validator_quota).
		log.Debugw("validator records verified, but each validator has enough peers already", "peer", p, "indices", len(verified))
		return
	}
	if len(admitted) < len(verified) {
		log.Debugw("some validators of the peer have enough peers already", "peer", p,
			"admitted", len(admitted), "verified", len(verified))
	}
	// A session validator is who the node exists to talk to: never
	// trimmed by the connection manager.
	n.cm.Protect(p, "provisioner-validator")
	n.recMu.Lock()
	n.validatorPeers[p] = admitted[0]
	n.recMu.Unlock()
	log.Debugw("peer is a session validator", "peer", p, "index", admitted[0].Index, "indices", len(admitted), "session", admitted[0].Session)
}

// onConnected starts the record exchange with a newly connected peer,
// once per peer at a time.
func (n *Node) onConnected(p peer.ID) {
	n.recMu.Lock()
	_, known := n.validatorPeers[p]
	if known || n.recPending[p] || !n.beginHandler() {
		n.recMu.Unlock()
		return
	}
	n.recPending[p] = true
	n.recMu.Unlock()
	go n.exchangeRecord(p)
}

// onDisconnected forgets a peer's validator index with its last
// connection.
func (n *Node) onDisconnected(p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return
	}
	n.recMu.Lock()
	delete(n.validatorPeers, p)
	n.recMu.Unlock()
	n.adm.disconnected(p)
	n.cm.Unprotect(p, "provisioner-validator")
}

// recordSetAddrs are the multiaddrs of a verified record set that parse.
func recordSetAddrs(set *ValidatorRecordSet) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range set.Addrs {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// PeerValidators are the verified validator identities of a connected
// peer that admission counts (a node may host several validators), in
// index order; nil when it has none.
func (n *Node) PeerValidators(p peer.ID) []PeerValidator { return n.adm.validatorsOf(p) }

// PeerValidator is the verified validator identity of a connected peer:
// the first (lowest index) of PeerValidators.
func (n *Node) PeerValidator(p peer.ID) (PeerValidator, bool) {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	v, ok := n.validatorPeers[p]
	return v, ok
}

// sessionKeys are SessionKey and SessionKeys together.
func (c *Config) sessionKeys() []*SessionKey {
	if c.SessionKey == nil {
		return c.SessionKeys
	}
	return append([]*SessionKey{c.SessionKey}, c.SessionKeys...)
}
