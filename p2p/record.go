package p2p

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
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

// SetSessionKey changes the key this node's record is signed with (nil:
// no record), e.g. at a session change. Peers that connect afterwards get
// the new record.
func (n *Node) SetSessionKey(key *SessionKey) {
	var rec *ValidatorRecord
	if key != nil {
		rec = SignValidatorRecord(n.cfg.Genesis, n.host.ID(), n.host.Addrs(), key)
	}
	n.recMu.Lock()
	n.ownRecord = rec
	n.recMu.Unlock()
}

// handleRecord answers a validator-record request with this node's record
// (or None).
func (n *Node) handleRecord(s network.Stream) {
	if !n.beginHandler() {
		_ = s.Reset()
		return
	}
	defer n.handlers.Done()
	_ = s.SetDeadline(time.Now().Add(n.cfg.RecordTimeout))
	// The request is an empty frame: a peer slower than the builder
	// protocols' read timeout is stalling.
	_ = s.SetReadDeadline(time.Now().Add(min(n.cfg.RecordTimeout, n.cfg.Inherent.ReadTimeout)))
	if _, err := ReadFrame(bufio.NewReaderSize(s, 64), 64); err != nil {
		_ = s.Reset()
		return
	}
	n.recMu.Lock()
	rec := n.ownRecord
	n.recMu.Unlock()
	if err := WriteFrame(s, optionRecord{rec}); err != nil {
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

// exchangeRecord fetches and verifies p's record, and keeps the verified
// index while p stays connected.
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
	rec, err := FetchValidatorRecord(n.ctx, n.host, n.cfg.Genesis, p, n.cfg.RecordTimeout)
	if n.ctx.Err() != nil {
		return
	}
	if err == nil && rec == nil {
		n.m.records.WithLabelValues(RecordNone).Inc()
		n.adm.judged(p)
		return
	}
	if err == nil {
		err = VerifyValidatorRecord(n.cfg.Genesis, p, rec, n.cfg.Chain.SessionValidators)
	}
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
	if n.host.Network().Connectedness(p) != network.Connected {
		return
	}
	pv := PeerValidator{Index: rec.Index, Session: rec.Session}
	if !n.adm.setVerified(p, pv, recordAddrs(rec)) {
		n.m.admission.WithLabelValues("validator_quota").Inc()
		n.adm.judged(p)
		log.Warnw("validator record verified, but the validator has enough peers already", "peer", p, "index", rec.Index)
		return
	}
	// A session validator is who the node exists to talk to: never
	// trimmed by the connection manager.
	n.cm.Protect(p, "provisioner-validator")
	n.recMu.Lock()
	n.validatorPeers[p] = pv
	n.recMu.Unlock()
	log.Debugw("peer is a session validator", "peer", p, "index", rec.Index, "session", rec.Session)
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

// recordAddrs are the multiaddrs of a verified record that parse.
func recordAddrs(rec *ValidatorRecord) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range rec.Addrs {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// PeerValidator is the verified validator identity of a connected peer.
func (n *Node) PeerValidator(p peer.ID) (PeerValidator, bool) {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	v, ok := n.validatorPeers[p]
	return v, ok
}
