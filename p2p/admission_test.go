package p2p

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/polkadot-provisioner/provisioner/types"
)

// validatorNode is a node that requires records and proves validator i.
func validatorNode(t *testing.T, chain ChainView, sink Sink, ev *events, i int, opts ...nodeOpt) *Node {
	t.Helper()
	f := testFixture(t)
	return newTestNode(t, chain, sink, append([]nodeOpt{func(c *Config) {
		c.Admission.RequireRecords = true
		c.SessionKey = &SessionKey{Session: f.session, Index: types.ValidatorIndex(i), Signer: f.keys[i]}
		if ev != nil {
			c.ValidationHook = ev.hook
		}
	}}, opts...)...)
}

// TestAdmissionStrangerVsValidator: a validator with a good record enters
// the mesh and its gossip is delivered; a stranger (no record) is never
// grafted, and its gossip never reaches validation.
func TestAdmissionStrangerVsValidator(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	sink := newRecSink()
	ev := newEvents()
	a := validatorNode(t, newFakeChain(f, leaf), sink, ev, 0)
	b := validatorNode(t, newFakeChain(f, leaf), nil, nil, 1)
	stranger := newRawPeer(t)
	stranger.link(t, a)
	connect(t, b.Host(), a.Host())

	waitUntil(t, 10*time.Second, "validator b in a's bitfield mesh", func() bool {
		return contains(a.MeshPeers(KindBitfield), b.ID())
	})
	if !a.Admitted(b.ID()) {
		t.Fatal("b has a verified record but is not admitted")
	}
	if a.Admitted(stranger.h.ID()) {
		t.Fatal("the stranger is admitted")
	}
	waitUntil(t, 5*time.Second, "the stranger's score", func() bool {
		s, ok := a.PeerScore(stranger.h.ID())
		return ok && s < a.Thresholds().Graylist
	})

	// The stranger sends a valid bitfield first, b another one after.
	fromStranger := f.bitfield(leaf, 2, "10000")
	stranger.send(t, KindBitfield, types.Encode(&fromStranger))
	fromB := f.bitfield(leaf, 1, "01000")
	if err := b.PublishBitfield(context.Background(), leaf, fromB.Bitfield); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-sink.ch:
		if d.Bitfield.ValidatorIndex != 1 {
			t.Fatalf("delivered validator %d's bitfield, want 1's (b's)", d.Bitfield.ValidatorIndex)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b's bitfield not delivered")
	}
	if n := ev.countFrom(stranger.h.ID()); n != 0 {
		t.Fatalf("%d validation events from the stranger, want 0 (graylisted RPCs are dropped)", n)
	}
	for _, k := range Kinds {
		if contains(a.MeshPeers(k), stranger.h.ID()) {
			t.Fatalf("the stranger is in a's %s mesh", k)
		}
	}
}

// TestStrangerQuota: past MaxStrangers judged strangers, the oldest is
// evicted; a peer with a record is never counted.
func TestStrangerQuotaEvictsJudged(t *testing.T) {
	cfg := &Config{}
	cfg.Admission = AdmissionConfig{RequireRecords: true, MaxStrangers: 2, MaxPending: 3, MaxPeersPerValidator: 4}
	a := newAdmission(cfg, nil)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	ids := []peer.ID{"p0", "p1", "p2", "p3", "p4"}
	for i, p := range ids[:3] {
		now = now.Add(time.Second)
		if !a.admitStranger(p) {
			t.Fatalf("stranger %d refused with %d pending", i, i)
		}
	}
	if a.admitStranger(ids[3]) {
		t.Fatal("a fourth pending stranger admitted, quota 3")
	}
	a.judged(ids[0])
	a.judged(ids[1])
	if got := len(a.evict); got != 0 {
		t.Fatalf("%d evictions with 2 judged strangers, quota 2", got)
	}
	a.judged(ids[2])
	if got := <-a.evict; got != ids[0] {
		t.Fatalf("evicted %s, want the oldest judged %s", got, ids[0])
	}
	if !a.admitStranger(ids[3]) {
		t.Fatal("no pending slot after the judged strangers freed theirs")
	}
	if !a.setVerified(ids[4], PeerValidator{Index: 3}, nil) || !a.exempt(ids[4]) {
		t.Fatal("a verified validator is not exempt from the quota")
	}
}

// TestBuilderAllowlist: only BuilderPeers are served the inherent
// protocol; a stranger's stream is reset unanswered.
func TestBuilderAllowlist(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	builder := newTestNode(t, newFakeChain(f), nil)
	stranger := newTestNode(t, newFakeChain(f), nil)
	prov := stubProvider{fn: func(context.Context, types.Hash) (*types.InherentData, error) {
		return &types.InherentData{ParentHeader: types.Header{Number: 7}}, nil
	}}
	srv := newTestNode(t, newFakeChain(f, leaf), nil, func(c *Config) {
		c.Inherents = prov
		c.BuilderPeers = []peer.ID{builder.ID()}
	})
	connect(t, builder.Host(), srv.Host())
	connect(t, stranger.Host(), srv.Host())
	var req bytes.Buffer
	_ = WriteFrame(&req, &InherentRequest{RelayParent: leaf})
	if resp := rawRequest(t, builder, srv, req.Bytes()); resp.Code != CodeOK {
		t.Fatalf("builder: %v %q, want ok", resp.Code, resp.Message)
	}
	if resp, err := tryRawRequest(stranger, srv, req.Bytes(), false); err == nil {
		t.Fatalf("stranger got an answer: %v %q", resp.Code, resp.Message)
	}
	if got := counterOf(t, srv.m.unauthorized); got != 1 {
		t.Fatalf("unauthorized = %v, want 1", got)
	}
}

// TestBusyOverCapacity: the global cap, the per-peer rate and the
// provider's own limit all answer busy.
func TestBusyOverCapacity(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	held := make(chan struct{}, 8)
	release := make(chan struct{})
	prov := stubProvider{fn: func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
		if rp == leafHash(2) {
			return nil, ErrBusy // the provider's held-request limit
		}
		held <- struct{}{}
		select {
		case <-release:
			return &types.InherentData{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	srv := newTestNode(t, newFakeChain(f, leaf), nil, func(c *Config) {
		c.Inherents = prov
		c.Inherent.MaxConcurrent = 1
	})
	cli1 := newTestNode(t, newFakeChain(f), nil)
	cli2 := newTestNode(t, newFakeChain(f), nil)
	connect(t, cli1.Host(), srv.Host())
	connect(t, cli2.Host(), srv.Host())
	var req, busyLeaf bytes.Buffer
	_ = WriteFrame(&req, &InherentRequest{RelayParent: leaf, TimeoutMillis: 10_000})
	_ = WriteFrame(&busyLeaf, &InherentRequest{RelayParent: leafHash(2)})

	first := make(chan InherentResponse, 1)
	go func() {
		resp, _ := tryRawRequest(cli1, srv, req.Bytes(), false)
		first <- resp
	}()
	<-held
	if resp := rawRequest(t, cli2, srv, req.Bytes()); resp.Code != CodeBusy {
		t.Fatalf("over the global cap: %v, want busy", resp.Code)
	}
	close(release)
	if resp := <-first; resp.Code != CodeOK {
		t.Fatalf("held request: %v, want ok", resp.Code)
	}
	if resp := rawRequest(t, cli2, srv, busyLeaf.Bytes()); resp.Code != CodeBusy {
		t.Fatalf("provider busy: %v, want busy", resp.Code)
	}
}

func TestRateLimiter(t *testing.T) {
	t0 := time.Unix(0, 0)
	cases := []struct {
		name  string
		at    []time.Duration
		allow []bool
	}{
		{"burst of 2 then refused", []time.Duration{0, 0, 0}, []bool{true, true, false}},
		{"refills at 1/s", []time.Duration{0, 0, 0, time.Second, time.Second}, []bool{true, true, false, true, false}},
		{"never above the burst", []time.Duration{0, time.Hour, time.Hour, time.Hour}, []bool{true, true, true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter(1, 2)
			for i, d := range tc.at {
				if got := r.allow("p", t0.Add(d)); got != tc.allow[i] {
					t.Fatalf("request %d at %v: allow=%v, want %v", i, d, got, tc.allow[i])
				}
			}
		})
	}
}

// TestGraylistedPeerBannedAndDisconnected: a peer whose rejected messages
// take it below the graylist threshold is disconnected and refused.
func TestGraylistedPeerBannedAndDisconnected(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	ev := newEvents()
	n := newTestNode(t, newFakeChain(f, leaf), nil, func(c *Config) { c.ValidationHook = ev.hook })
	bad := newRawPeer(t)
	bad.link(t, n)
	for i := 0; i < 5; i++ {
		bad.send(t, KindBitfield, []byte{1, 2, 3, byte(i)})
	}
	waitUntil(t, 10*time.Second, "the bad peer banned", func() bool {
		return contains(n.BannedPeers(), bad.h.ID())
	})
	waitUntil(t, 10*time.Second, "the bad peer disconnected", func() bool {
		return n.Host().Network().Connectedness(bad.h.ID()) != network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bad.h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err == nil {
		// The dial may complete before the remote's gater closes it.
		waitUntil(t, 5*time.Second, "the banned peer refused", func() bool {
			return n.Host().Network().Connectedness(bad.h.ID()) != network.Connected
		})
	}
}

// counterOf reads one counter.
func counterOf(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
