package p2p

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

func mustPeerID(t testing.TB, hexKey string) peer.ID {
	t.Helper()
	k, err := ParseNodeKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NodeKeyPeerID(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidatorRecordVerify(t *testing.T) {
	f := testFixture(t)
	chain := newFakeChain(f)
	self := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	other := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000002")
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/30333")}
	sign := func(id peer.ID, idx types.ValidatorIndex, session types.SessionIndex, signer int) *ValidatorRecord {
		return SignValidatorRecord(testGenesis, id, addrs, &SessionKey{Session: session, Index: idx, Signer: f.keys[signer]})
	}
	otherGenesis := types.Blake2_256([]byte("another network"))
	cases := []struct {
		name    string
		rec     *ValidatorRecord
		genesis types.Hash
		want    error
	}{
		{"good", sign(self, 3, f.session, 3), testGenesis, nil},
		{"record for another peer id", sign(other, 3, f.session, 3), testGenesis, ErrRecordPeerID},
		{"signed by another validator's key", sign(self, 3, f.session, 4), testGenesis, ErrRecordSignature},
		{"signed for another genesis", sign(self, 3, f.session, 3), otherGenesis, ErrRecordSignature},
		{"unknown validator index", sign(self, 10, f.session, 3), testGenesis, ErrRecordUnknownValidator},
		{"unknown session", sign(self, 3, f.session+1, 3), testGenesis, ErrRecordUnknownSession},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Through the wire encoding, as a peer's record arrives.
			rec, err := DecodeValidatorRecord(types.Encode(c.rec))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			err = VerifyValidatorRecord(c.genesis, self, rec, chain.SessionValidators)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if got, want := recordResult(err), map[error]string{
				nil: RecordVerified, ErrRecordPeerID: RecordPeerID, ErrRecordSignature: RecordBadSignature,
				ErrRecordUnknownValidator: RecordUnknownValidator, ErrRecordUnknownSession: RecordUnknownSession,
			}[c.want]; got != want {
				t.Fatalf("result label %q, want %q", got, want)
			}
		})
	}
	t.Run("tampered address", func(t *testing.T) {
		rec := sign(self, 3, f.session, 3)
		rec.Addrs[0] = ma.StringCast("/ip4/10.0.0.1/tcp/30333").Bytes()
		if err := VerifyValidatorRecord(testGenesis, self, rec, chain.SessionValidators); !errors.Is(err, ErrRecordSignature) {
			t.Fatalf("got %v, want ErrRecordSignature", err)
		}
	})
}

func TestValidatorRecordEncoding(t *testing.T) {
	id := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	rec := &ValidatorRecord{
		PeerID:  []byte(id),
		Addrs:   [][]byte{ma.StringCast("/ip4/127.0.0.1/tcp/30333").Bytes()},
		Index:   5,
		Session: 7,
	}
	rec.Signature[0], rec.Signature[63] = 0xaa, 0xbb
	got := hex.EncodeToString(types.Encode(rec))
	want := "98" + hex.EncodeToString([]byte(id)) + // peer id: compact(38) ++ 38 bytes
		"04" + "20" + "047f00000106767d" + // one address of 8 bytes
		"05000000" + "07000000" + // index, session
		"aa" + string(bytes.Repeat([]byte("00"), 62)) + "bb"
	if got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	back, err := DecodeValidatorRecord(types.Encode(rec))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(types.Encode(back)) != want {
		t.Fatal("round trip changed the record")
	}
	payload := rec.SigningPayload(testGenesis)
	wantPrefix := append([]byte("provisioner/validator-record/1"), testGenesis[:]...)
	if !bytes.HasPrefix(payload, wantPrefix) || !bytes.Equal(payload[len(wantPrefix):], types.Encode(rec)[:len(types.Encode(rec))-64]) {
		t.Fatalf("signing payload %x", payload)
	}
}

func TestValidatorRecordDecodeBounds(t *testing.T) {
	id := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	good := &ValidatorRecord{PeerID: []byte(id), Index: 1, Session: 7}
	tooManyAddrs := &ValidatorRecord{PeerID: []byte(id), Addrs: make([][]byte, MaxRecordAddrs+1)}
	for i := range tooManyAddrs.Addrs {
		tooManyAddrs.Addrs[i] = []byte{1}
	}
	longAddr := &ValidatorRecord{PeerID: []byte(id), Addrs: [][]byte{make([]byte, MaxRecordAddrLen+1)}}
	cases := []struct {
		name  string
		in    []byte
		codec error
	}{
		{"oversize", make([]byte, MaxRecordSize+1), codec.ErrOversize},
		{"too many addresses", types.Encode(tooManyAddrs), codec.ErrLimitExceeded},
		{"address too long", types.Encode(longAddr), codec.ErrLimitExceeded},
		{"truncated", types.Encode(good)[:40], codec.ErrTruncated},
		{"trailing bytes", append(types.Encode(good), 0), codec.ErrTrailingBytes},
		{"peer id over 128 bytes", []byte{0x01, 0x10}, codec.ErrLimitExceeded},
		{"peer id length beyond input", []byte{0xfc, 0xff}, codec.ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := DecodeValidatorRecord(c.in)
			if rec != nil || !errors.Is(err, ErrRecordMalformed) || !errors.Is(err, c.codec) {
				t.Fatalf("got %v, %v; want ErrRecordMalformed wrapping %v", rec, err, c.codec)
			}
			if recordResult(err) != RecordMalformed {
				t.Fatalf("result label %q", recordResult(err))
			}
		})
	}
}

// TestValidatorRecordExchange: on connection each node asks the other for
// its record; only the validator's verifies, and it is forgotten when the
// peer goes.
func TestValidatorRecordExchange(t *testing.T) {
	f := testFixture(t)
	chain := newFakeChain(f)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKey = &SessionKey{Session: f.session, Index: 3, Signer: f.keys[3]}
		c.Registerer = regA
	})
	b := newTestNode(t, chain, nil, func(c *Config) { c.Registerer = regB })
	liar := newTestNode(t, chain, nil, func(c *Config) {
		// Claims index 4 with validator 5's key.
		c.SessionKey = &SessionKey{Session: f.session, Index: 4, Signer: f.keys[5]}
	})
	connect(t, b.Host(), a.Host())
	connect(t, b.Host(), liar.Host())
	waitUntil(t, netWait, "records exchanged", func() bool {
		return counterValue(t, regB, "provisioner_p2p_validator_records_total", map[string]string{"result": "verified"}) == 1 &&
			counterValue(t, regB, "provisioner_p2p_validator_records_total", map[string]string{"result": "bad_signature"}) == 1 &&
			counterValue(t, regA, "provisioner_p2p_validator_records_total", map[string]string{"result": "none"}) == 1
	})
	if v, ok := b.PeerValidator(a.ID()); !ok || v != (PeerValidator{Index: 3, Session: f.session}) {
		t.Fatalf("b sees a as %+v %v, want index 3 session %d", v, ok, f.session)
	}
	if v, ok := b.PeerValidator(liar.ID()); ok {
		t.Fatalf("liar verified as %+v", v)
	}
	if v, ok := a.PeerValidator(b.ID()); ok {
		t.Fatalf("b (no key) verified as %+v", v)
	}
	total, vals := b.PeerCounts()
	if total != 2 || vals != 1 {
		t.Fatalf("PeerCounts = %d, %d; want 2, 1", total, vals)
	}
	var sawA bool
	for _, p := range b.Peers() {
		switch p.ID {
		case a.ID():
			sawA = true
			if p.Validator == nil || *p.Validator != (PeerValidator{Index: 3, Session: f.session}) || len(p.Addrs) == 0 {
				t.Fatalf("peer info of a: %+v", p)
			}
		case liar.ID():
			if p.Validator != nil {
				t.Fatalf("peer info of liar: %+v", p)
			}
		}
	}
	if !sawA {
		t.Fatal("a missing from Peers")
	}
	if err := b.Host().Network().ClosePeer(a.ID()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, netWait, "record forgotten", func() bool {
		_, ok := b.PeerValidator(a.ID())
		return !ok
	})
}

func TestFetchValidatorRecordOversizeResponse(t *testing.T) {
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f), nil)
	raw := newRawPeer(t)
	// A peer that answers with a frame over the record limit.
	raw.h.SetStreamHandler(ValidatorRecordProtocol(testGenesis), func(s network.Stream) {
		defer s.Close()
		big := make([]byte, MaxRecordSize+10)
		big[0] = 1
		_ = WriteFrame(s, rawEncoder(big))
	})
	connect(t, raw.h, n.Host())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, err := FetchValidatorRecord(ctx, n.Host(), testGenesis, raw.h.ID(), 5*time.Second)
	if rec != nil || !errors.Is(err, ErrRecordMalformed) || !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, %v; want ErrRecordMalformed wrapping ErrFrameTooLarge", rec, err)
	}
}

func TestForeignGenesis(t *testing.T) {
	ours := testGenesis
	theirs := types.Blake2_256([]byte("other"))
	cases := []struct {
		name   string
		protos []string
		want   bool
	}{
		{"ours", []string{string(AuthorProtocol(ours)), "/ipfs/id/1.0.0"}, false},
		{"theirs", []string{string(AuthorProtocol(theirs)), "/meshsub/1.1.0"}, true},
		{"both", []string{string(AuthorProtocol(theirs)), string(ValidatorRecordProtocol(ours))}, false},
		{"unrelated", []string{"/ipfs/ping/1.0.0", "/" + hex.EncodeToString(theirs[:]) + "/sync/2"}, false},
		{"not hex", []string{"/" + string(bytes.Repeat([]byte("z"), 64)) + "/provisioner/author/1"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := make([]protocol.ID, len(c.protos))
			for i, p := range c.protos {
				ps[i] = protocol.ID(p)
			}
			g, ok := foreignGenesis(ours, ps)
			if ok != c.want || (ok && g != theirs) {
				t.Fatalf("got %s %v, want %v", g, ok, c.want)
			}
		})
	}
}

// TestGenesisMismatchDetected: a node on another network is reported once.
func TestGenesisMismatchDetected(t *testing.T) {
	f := testFixture(t)
	reg := prometheus.NewRegistry()
	a := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.Registerer = reg })
	other := types.Blake2_256([]byte("another network"))
	b := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.Genesis = other })
	connect(t, a.Host(), b.Host())
	waitUntil(t, netWait, "mismatch detected", func() bool {
		return counterValue(t, reg, "provisioner_p2p_genesis_mismatch_total", nil) >= 1
	})
	got := a.ForeignPeers()
	if len(got) != 1 || got[b.ID()] != other {
		t.Fatalf("ForeignPeers = %v, want %s: %s", got, b.ID(), other)
	}
}

func TestBootnodeWatch(t *testing.T) {
	p := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	t0 := time.Unix(1000, 0)
	w := newBootnodeWatch([]peer.AddrInfo{{ID: p}}, t0)
	steps := []struct {
		at          time.Duration
		connected   bool
		warn        bool
		unreachable int
	}{
		{5 * time.Second, false, false, 0},
		{30 * time.Second, false, true, 1},
		{35 * time.Second, false, false, 1}, // warned once per outage
		{40 * time.Second, true, false, 0},
		{69 * time.Second, false, false, 0},
		{70 * time.Second, false, true, 1},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if got := w.observe(p, s.connected, now, 30*time.Second); got != s.warn {
			t.Fatalf("at %v: warn %v, want %v", s.at, got, s.warn)
		}
		if got := len(w.unreachable(now, 30*time.Second)); got != s.unreachable {
			t.Fatalf("at %v: %d unreachable, want %d", s.at, got, s.unreachable)
		}
	}
}
