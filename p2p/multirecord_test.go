package p2p

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// keysFor are session keys claiming indices[i] signed with the fixture's
// key signers[i]: another key than the index's is what a node that lies
// about one of the validators it hosts sends.
func keysFor(f *fixture, session types.SessionIndex, indices []int, signers []int) []*SessionKey {
	out := make([]*SessionKey, len(indices))
	for i, idx := range indices {
		out[i] = &SessionKey{Session: session, Index: types.ValidatorIndex(idx), Signer: f.keys[signers[i]]}
	}
	return out
}

func pvs(session types.SessionIndex, indices ...int) []PeerValidator {
	out := make([]PeerValidator, len(indices))
	for i, idx := range indices {
		out[i] = PeerValidator{Index: types.ValidatorIndex(idx), Session: session}
	}
	return out
}

// TestValidatorRecordSetVerify: every entry of a set is judged on its own;
// the set as a whole is refused only for what all entries share.
func TestValidatorRecordSetVerify(t *testing.T) {
	f := testFixture(t)
	chain := newFakeChain(f)
	self := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	other := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000002")
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/30333")}
	// Indices 7, 2, 5 given out of order (the set sorts them), 5 signed
	// by validator 6's key.
	set, err := SignValidatorRecordSet(testGenesis, self, addrs, keysFor(f, f.session, []int{7, 2, 5}, []int{7, 2, 6}))
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire encoding, as a peer's set arrives.
	back, err := DecodeValidatorRecordSet(types.Encode(set))
	if err != nil {
		t.Fatal(err)
	}
	if got := []types.ValidatorIndex{back.Entries[0].Index, back.Entries[1].Index, back.Entries[2].Index}; !slices.Equal(got, []types.ValidatorIndex{2, 5, 7}) {
		t.Fatalf("entries %v, want 2 5 7", got)
	}
	verified, rejected, err := VerifyValidatorRecordSet(testGenesis, self, back, chain.SessionValidators)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(verified, pvs(f.session, 2, 7)) {
		t.Fatalf("verified %v, want 2 and 7", verified)
	}
	if len(rejected) != 1 || !errors.Is(rejected[0], ErrRecordSignature) {
		t.Fatalf("rejected %v, want one ErrRecordSignature", rejected)
	}
	// An entry verifies exactly as the single record it stands for.
	if err := VerifyValidatorRecord(testGenesis, self, back.Record(0), chain.SessionValidators); err != nil {
		t.Fatalf("entry 0 as a single record: %v", err)
	}

	t.Run("index out of range", func(t *testing.T) {
		s, err := SignValidatorRecordSet(testGenesis, self, addrs, keysFor(f, f.session, []int{1, 10}, []int{1, 1}))
		if err != nil {
			t.Fatal(err)
		}
		verified, rejected, err := VerifyValidatorRecordSet(testGenesis, self, s, chain.SessionValidators)
		if err != nil || !slices.Equal(verified, pvs(f.session, 1)) || len(rejected) != 1 || !errors.Is(rejected[0], ErrRecordUnknownValidator) {
			t.Fatalf("got %v %v %v", verified, rejected, err)
		}
	})
	whole := []struct {
		name string
		from peer.ID
		set  func() *ValidatorRecordSet
		want error
	}{
		{"another peer id", other, func() *ValidatorRecordSet { return back }, ErrRecordPeerID},
		{"unknown session", self, func() *ValidatorRecordSet {
			s, _ := SignValidatorRecordSet(testGenesis, self, addrs, keysFor(f, f.session+1, []int{1}, []int{1}))
			return s
		}, ErrRecordUnknownSession},
		{"more entries than validators", self, func() *ValidatorRecordSet {
			s := &ValidatorRecordSet{PeerID: []byte(self), Session: f.session}
			for i := range 11 {
				s.Entries = append(s.Entries, RecordEntry{Index: types.ValidatorIndex(i)})
			}
			return s
		}, ErrRecordMalformed},
	}
	for _, c := range whole {
		t.Run(c.name, func(t *testing.T) {
			verified, rejected, err := VerifyValidatorRecordSet(testGenesis, c.from, c.set(), chain.SessionValidators)
			if !errors.Is(err, c.want) || verified != nil || rejected != nil {
				t.Fatalf("got %v %v %v, want %v", verified, rejected, err, c.want)
			}
		})
	}
}

// TestValidatorRecordSetDecodeBounds: misordered or repeated indices and
// more than MaxRecordIndices entries are malformed.
func TestValidatorRecordSetDecodeBounds(t *testing.T) {
	self := mustPeerID(t, "0000000000000000000000000000000000000000000000000000000000000001")
	entries := func(idx ...types.ValidatorIndex) []RecordEntry {
		out := make([]RecordEntry, len(idx))
		for i, v := range idx {
			out[i].Index = v
		}
		return out
	}
	many := make([]types.ValidatorIndex, MaxRecordIndices+1)
	for i := range many {
		many[i] = types.ValidatorIndex(i)
	}
	cases := []struct {
		name  string
		set   ValidatorRecordSet
		codec error
	}{
		{"descending", ValidatorRecordSet{PeerID: []byte(self), Entries: entries(3, 2)}, codec.ErrNonCanonical},
		{"repeated", ValidatorRecordSet{PeerID: []byte(self), Entries: entries(2, 2)}, codec.ErrNonCanonical},
		{"over the bound", ValidatorRecordSet{PeerID: []byte(self), Entries: entries(many...)}, codec.ErrLimitExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeValidatorRecordSet(types.Encode(&c.set))
			if got != nil || !errors.Is(err, ErrRecordMalformed) || !errors.Is(err, c.codec) {
				t.Fatalf("got %v, %v; want ErrRecordMalformed wrapping %v", got, err, c.codec)
			}
		})
	}
	// MaxRecordIndices entries fit the frame bound.
	max := ValidatorRecordSet{PeerID: []byte(self), Entries: entries(many[:MaxRecordIndices]...)}
	if _, err := DecodeValidatorRecordSet(types.Encode(&max)); err != nil {
		t.Fatalf("%d entries: %v", MaxRecordIndices, err)
	}
}

// TestCheckSessionKeys: a node's own keys are refused when they could not
// make one set.
func TestCheckSessionKeys(t *testing.T) {
	f := testFixture(t)
	cases := []struct {
		name string
		keys []*SessionKey
		ok   bool
	}{
		{"none", nil, true},
		{"three", keysFor(f, 7, []int{0, 4, 9}, []int{0, 4, 9}), true},
		{"index twice", keysFor(f, 7, []int{4, 4}, []int{4, 4}), false},
		{"two sessions", append(keysFor(f, 7, []int{1}, []int{1}), keysFor(f, 8, []int{2}, []int{2})...), false},
		{"nil signer", []*SessionKey{{Session: 7, Index: 1}}, false},
	}
	for _, c := range cases {
		err := checkSessionKeys(c.keys)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrSessionKeys)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	cfg := Config{Genesis: testGenesis, Chain: newFakeChain(f), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		SessionKeys: keysFor(f, 7, []int{4, 4}, []int{4, 4})}
	if _, err := New(context.Background(), cfg); !errors.Is(err, ErrSessionKeys) {
		t.Fatalf("New with an index twice: %v", err)
	}
}

// TestValidatorRecordSetExchange: a node hosting several validators proves
// each; the peer admits exactly the indices whose key signed, drops a
// forged one, and counts a key for no more peers than the cap.
func TestValidatorRecordSetExchange(t *testing.T) {
	f := testFixture(t)
	chain := newFakeChain(f)
	reg := prometheus.NewRegistry()
	b := newTestNode(t, chain, nil, func(c *Config) {
		c.Registerer = reg
		c.Admission = AdmissionConfig{RequireRecords: true, MaxPeersPerValidator: 1}
	})
	// host: validators 1, 2 and 6 (SessionKey and SessionKeys together).
	host := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKey = &SessionKey{Session: f.session, Index: 6, Signer: f.keys[6]}
		c.SessionKeys = keysFor(f, f.session, []int{2, 1}, []int{2, 1})
	})
	// liar: validator 3, and 4 signed with validator 5's key.
	liar := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKeys = keysFor(f, f.session, []int{3, 4}, []int{3, 5})
	})
	// forger: only index 8, signed with validator 9's key.
	forger := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKeys = keysFor(f, f.session, []int{8}, []int{9})
	})
	connect(t, b.Host(), host.Host())
	connect(t, b.Host(), liar.Host())
	connect(t, b.Host(), forger.Host())
	records := func(result string) float64 {
		return counterValue(t, reg, "provisioner_p2p_validator_records_total", map[string]string{"result": result})
	}
	// The counters move when a record is judged, a moment before the
	// admission is stored: wait for both.
	waitUntil(t, netWait, "records exchanged", func() bool {
		return records(RecordVerified) == 2 && records(RecordBadSignature) == 1 &&
			b.PeerValidators(host.ID()) != nil && b.PeerValidators(liar.ID()) != nil
	})
	if got := b.PeerValidators(host.ID()); !slices.Equal(got, pvs(f.session, 1, 2, 6)) {
		t.Fatalf("host admitted as %v, want 1 2 6", got)
	}
	if v, ok := b.PeerValidator(host.ID()); !ok || v != (PeerValidator{Index: 1, Session: f.session}) {
		t.Fatalf("host's first validator %v %v, want index 1", v, ok)
	}
	if got := b.PeerValidators(liar.ID()); !slices.Equal(got, pvs(f.session, 3)) {
		t.Fatalf("liar admitted as %v, want 3 only", got)
	}
	if got := b.PeerValidators(forger.ID()); got != nil || b.Admitted(forger.ID()) {
		t.Fatalf("forger admitted as %v", got)
	}

	// The cap (1 peer per key here): a second node claiming 2 (held by
	// host) and 9 is counted for 9 only; one claiming only 6 stays a
	// stranger.
	second := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKeys = keysFor(f, f.session, []int{2, 9}, []int{2, 9})
	})
	third := newTestNode(t, chain, nil, func(c *Config) {
		c.SessionKeys = keysFor(f, f.session, []int{6}, []int{6})
	})
	connect(t, b.Host(), second.Host())
	connect(t, b.Host(), third.Host())
	waitUntil(t, netWait, "capped records", func() bool { return records(RecordVerified) == 4 })
	waitUntil(t, netWait, "second admitted", func() bool { return b.PeerValidators(second.ID()) != nil })
	if got := b.PeerValidators(second.ID()); !slices.Equal(got, pvs(f.session, 9)) {
		t.Fatalf("second admitted as %v, want 9 only", got)
	}
	waitUntil(t, netWait, "quota refusal counted", func() bool {
		return counterValue(t, reg, "provisioner_p2p_admission_total", map[string]string{"event": "validator_quota"}) == 1
	})
	if got := b.PeerValidators(third.ID()); got != nil || b.Admitted(third.ID()) {
		t.Fatalf("third admitted as %v past the cap", got)
	}
	// Once host goes, its keys are free again: a reconnection of third
	// verifies. Host is stopped, not just disconnected: b protects and
	// redials validators, and a redialled host would take key 6 back.
	if err := host.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, netWait, "host forgotten", func() bool { return b.PeerValidators(host.ID()) == nil })
	if err := b.Host().Network().ClosePeer(third.ID()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, netWait, "third disconnected", func() bool {
		return b.Host().Network().Connectedness(third.ID()) != network.Connected
	})
	connect(t, b.Host(), third.Host())
	waitUntil(t, netWait, "third admitted", func() bool {
		return slices.Equal(b.PeerValidators(third.ID()), pvs(f.session, 6))
	})
}

// TestFetchValidatorRecordsFromSingle: a peer that answers every request
// with one record (it ignores the request's bytes, as older nodes and the
// testnet's adversary do) gives a set of one.
func TestFetchValidatorRecordsFromSingle(t *testing.T) {
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f), nil)
	raw := newRawPeer(t)
	rec := SignValidatorRecord(testGenesis, raw.h.ID(), raw.h.Addrs(), &SessionKey{Session: f.session, Index: 4, Signer: f.keys[4]})
	raw.h.SetStreamHandler(ValidatorRecordProtocol(testGenesis), func(s network.Stream) {
		defer s.Close()
		_ = WriteFrame(s, optionRecord{rec})
	})
	connect(t, raw.h, n.Host())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	set, err := FetchValidatorRecords(ctx, n.Host(), testGenesis, raw.h.ID(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	verified, rejected, err := VerifyValidatorRecordSet(testGenesis, raw.h.ID(), set, newFakeChain(f).SessionValidators)
	if err != nil || len(rejected) != 0 || !slices.Equal(verified, pvs(f.session, 4)) {
		t.Fatalf("got %v %v %v, want index 4", verified, rejected, err)
	}
}
