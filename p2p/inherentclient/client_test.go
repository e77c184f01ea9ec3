package inherentclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var genesis = types.Blake2_256([]byte("inherentclient test genesis"))

// chain: one session of 3 validators, 2 cores, leaves switched by tests.
type chain struct {
	mu     sync.Mutex
	leaves map[types.Hash]bool
	ids    []types.ValidatorID
}

func (c *chain) Leaf(rp types.Hash) (p2p.LeafInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.leaves[rp] {
		return p2p.LeafInfo{}, false
	}
	return p2p.LeafInfo{Session: 1, Validators: c.ids, NumCores: 2}, true
}

func (c *chain) BackingGroup(types.Hash, types.CoreIndex) ([]types.ValidatorIndex, int, error) {
	return []types.ValidatorIndex{0, 1}, 2, nil
}

func (c *chain) SessionValidators(s types.SessionIndex) ([]types.ValidatorID, bool) {
	return c.ids, s == 1
}

type providerFunc func(ctx context.Context, rp types.Hash) (*types.InherentData, error)

func (f providerFunc) RequestInherentData(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
	return f(ctx, rp)
}

type env struct {
	keys   []*types.Keypair
	chain  *chain
	parent types.Header
	rp     types.Hash
	srv    *p2p.Node
	client *Client
	h      host.Host
	// sink, when set before start, receives the server's validated gossip.
	sink p2p.Sink
}

// base is the part of an env that providers may use: built before the
// server starts, so handler goroutines read it without a data race.
func base(t *testing.T) *env {
	t.Helper()
	e := &env{chain: &chain{leaves: map[types.Hash]bool{}}}
	for i := 0; i < 3; i++ {
		kp, err := types.KeypairFromSeed([32]byte{byte(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		e.keys = append(e.keys, kp)
		e.chain.ids = append(e.chain.ids, types.ValidatorID(kp.Public()))
	}
	e.parent = types.Header{ParentHash: types.Hash{1}, Number: 41, StateRoot: types.Hash{2}}
	e.rp = e.parent.Hash()
	return e
}

func newEnv(t *testing.T, prov p2p.InherentProvider, opts ...Option) *env {
	t.Helper()
	return start(t, base(t), prov, opts...)
}

func start(t *testing.T, e *env, prov p2p.InherentProvider, opts ...Option) *env {
	t.Helper()
	e.chain.leaves[e.rp] = true
	srv, err := p2p.New(context.Background(), p2p.Config{
		Genesis:     genesis,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Chain:       e.chain,
		Sink:        e.sink,
		Inherents:   prov,
		Gossip:      p2p.GossipConfig{HeartbeatInterval: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	e.h = h
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	e.client = New(h, genesis, opts...)
	return e
}

func (e *env) bitfield(v int, bits string) types.UncheckedSignedAvailabilityBitfield {
	bv, _ := types.BitVecFromString(bits)
	return types.SignBitfield(e.keys[v], bv, types.ValidatorIndex(v), types.SigningContext{SessionIndex: 1, ParentHash: e.rp})
}

func TestInherentHappyPath(t *testing.T) {
	b := base(t)
	rp, parent, bf := b.rp, b.parent, b.bitfield(0, "11")
	e := start(t, b, providerFunc(func(ctx context.Context, req types.Hash) (*types.InherentData, error) {
		if req != rp {
			return nil, p2p.ErrUnknownLeaf
		}
		return &types.InherentData{Bitfields: []types.UncheckedSignedAvailabilityBitfield{bf}, ParentHeader: parent}, nil
	}))
	res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
	if res.FellBack || res.Err != nil {
		t.Fatalf("fell back: %v", res.Err)
	}
	if len(res.Data.Bitfields) != 1 || res.Data.ParentHeader.Hash() != e.rp {
		t.Fatalf("unexpected inherent %+v", res.Data)
	}
	want := types.NewParachainsInherentDataMap(res.Data)
	if !bytes.Equal(types.Encode(&want), types.Encode(&res.Map)) {
		t.Fatal("map differs from data")
	}
	t.Logf("round trip %v", res.Elapsed)
}

func TestInherentUnknownLeafFallsBack(t *testing.T) {
	e := newEnv(t, providerFunc(func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
		return nil, p2p.ErrUnknownLeaf
	}))
	_, _, err := e.client.Request(t.Context(), e.srv.ID(), e.rp)
	var re *p2p.RemoteError
	if !errors.Is(err, p2p.ErrUnknownLeaf) || !errors.As(err, &re) || re.Code != p2p.CodeUnknownLeaf {
		t.Fatalf("Request: %v, want unknown leaf", err)
	}
	res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
	checkFallback(t, e, res)
	if !errors.Is(res.Err, p2p.ErrUnknownLeaf) {
		t.Fatalf("fallback reason %v", res.Err)
	}
}

func checkFallback(t *testing.T, e *env, res Result) {
	t.Helper()
	if !res.FellBack || res.Err == nil {
		t.Fatalf("did not fall back (err %v)", res.Err)
	}
	d := res.Data
	if len(d.Bitfields)+len(d.BackedCandidates)+len(d.Disputes) != 0 || d.ParentHeader.Hash() != e.rp {
		t.Fatalf("fallback is not the empty inherent on the parent: %+v", d)
	}
	got, err := res.Map.ParachainsInherent(codec.DefaultLimits)
	if err != nil || got.ParentHeader.Hash() != e.rp {
		t.Fatalf("fallback map: %v", err)
	}
}

// TestInherentDeadline: a provider that is not ready in time makes the
// server answer "not ready" just before the client's deadline; one that
// ignores its context runs into the client's own deadline. Either way the
// builder gets the empty inherent in time.
func TestInherentDeadline(t *testing.T) {
	const timeout = 400 * time.Millisecond
	t.Run("server_not_ready", func(t *testing.T) {
		e := newEnv(t, providerFunc(func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}), WithTimeout(timeout))
		res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
		checkFallback(t, e, res)
		if !errors.Is(res.Err, p2p.ErrNotReady) {
			t.Fatalf("reason %v, want not ready", res.Err)
		}
		if res.Elapsed > timeout+100*time.Millisecond {
			t.Fatalf("took %v with a %v deadline", res.Elapsed, timeout)
		}
	})
	t.Run("provider_ignores_context", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e := newEnv(t, providerFunc(func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
			<-release
			return nil, p2p.ErrNotReady
		}), WithTimeout(timeout))
		res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
		checkFallback(t, e, res)
		if !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Fatalf("reason %v, want deadline exceeded", res.Err)
		}
		if res.Elapsed > timeout+100*time.Millisecond {
			t.Fatalf("took %v with a %v deadline", res.Elapsed, timeout)
		}
	})
}

func TestInherentParentMismatchFallsBack(t *testing.T) {
	e := newEnv(t, providerFunc(func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
		return &types.InherentData{ParentHeader: types.Header{Number: 7}}, nil
	}))
	res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
	checkFallback(t, e, res)
	if !errors.Is(res.Err, ErrParentMismatch) {
		t.Fatalf("reason %v", res.Err)
	}
}

func TestInherentNoProviderFallsBack(t *testing.T) {
	e := newEnv(t, nil)
	res := e.client.InherentData(t.Context(), e.srv.ID(), &e.parent)
	checkFallback(t, e, res)
}

// bitfieldSink signals each bitfield the node delivers.
type bitfieldSink struct{ ch chan types.ValidatorIndex }

func (s bitfieldSink) Bitfield(_ types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) {
	s.ch <- bf.ValidatorIndex
}
func (bitfieldSink) BackedCandidate(types.Hash, *types.BackedCandidate) {}
func (bitfieldSink) Dispute(*types.DisputeStatementSet)                 {}
func (bitfieldSink) Misbehavior(*types.MisbehaviorReport)               {}
func (bitfieldSink) Announcement(*p2p.BlockAnnouncement)                {}

// TestAuthorStream: a subscriber first gets what is already known for the
// relay parent, then what arrives, and the stream ends when the leaf is
// deactivated; unknown leaves are refused.
func TestAuthorStream(t *testing.T) {
	b := base(t)
	delivered := make(chan types.ValidatorIndex, 4)
	b.sink = bitfieldSink{ch: delivered}
	e := start(t, b, nil)
	ctx := t.Context()
	early := e.bitfield(0, "10")
	if err := e.srv.PublishBitfield(ctx, e.rp, early); err != nil {
		t.Fatal(err)
	}
	// The bitfield reaches the feed through the node's delivery loop, which
	// hands it to the sink just before the feed: once the sink has it, the
	// subscription below (a round trip away) finds it already known.
	select {
	case <-delivered:
	case <-time.After(15 * time.Second):
		t.Fatal("the early bitfield was not delivered")
	}
	st, err := e.client.SubscribeAuthor(ctx, e.srv.ID(), e.rp)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Next()
	if err != nil || d.Kind != p2p.KindBitfield || d.RelayParent != e.rp || d.Bitfield.ValidatorIndex != 0 {
		t.Fatalf("first item: %+v %v", d, err)
	}
	late := e.bitfield(1, "01")
	if err := e.srv.PublishBitfield(ctx, e.rp, late); err != nil {
		t.Fatal(err)
	}
	d, err = st.Next()
	if err != nil || d.Kind != p2p.KindBitfield || d.Bitfield.ValidatorIndex != 1 {
		t.Fatalf("second item: %+v %v", d, err)
	}
	e.srv.PruneRelayParent(e.rp)
	if _, err := st.Next(); err != io.EOF {
		t.Fatalf("after deactivation: %v, want io.EOF", err)
	}

	st2, err := e.client.SubscribeAuthor(ctx, e.srv.ID(), types.Hash{0xee})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Next(); !errors.Is(err, p2p.ErrUnknownLeaf) {
		t.Fatalf("unknown leaf: %v", err)
	}
}
