package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/polkadot-provisioner/provisioner/types"
)

// connectVia connects a to b over one transport ("tcp" or "quic-v1").
func connectVia(t testing.TB, a, b *Node, transport string) {
	t.Helper()
	var addrs []ma.Multiaddr
	for _, m := range b.Host().Addrs() {
		if strings.Contains(m.String(), "/"+transport) && (transport != "tcp" || !strings.Contains(m.String(), "/quic")) {
			addrs = append(addrs, m)
		}
	}
	if len(addrs) == 0 {
		t.Fatalf("no %s address in %v", transport, b.Host().Addrs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), netWait)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: addrs}); err != nil {
		t.Fatalf("connect over %s: %v", transport, err)
	}
}

// TestGossipDelivery: six nodes in a line (alternating TCP and QUIC links);
// one of each kind published at one end reaches every node's sink, relayed
// hop by hop through the validators, and the publisher's own sink.
func TestGossipDelivery(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(10)
	const N = 6
	nodes := make([]*Node, N)
	sinks := make([]*recSink, N)
	for i := range nodes {
		sinks[i] = newRecSink()
		nodes[i] = newTestNode(t, newFakeChain(f, rp), sinks[i])
	}
	for i := 0; i+1 < N; i++ {
		transport := "tcp"
		if i%2 == 1 {
			transport = "quic-v1"
		}
		connectVia(t, nodes[i], nodes[i+1], transport)
	}
	for i := 0; i+1 < N; i++ {
		a, b := nodes[i], nodes[i+1]
		waitUntil(t, netWait, "neighbours in the mesh of every topic", func() bool {
			for _, k := range Kinds {
				if !contains(a.MeshPeers(k), b.ID()) || !contains(b.MeshPeers(k), a.ID()) {
					return false
				}
			}
			return true
		})
	}

	ctx := t.Context()
	bf := f.bitfield(rp, 6, "10101")
	bc := f.backed(rp, 2, 2)
	ds := f.dispute(types.Hash{7}, 0, 1, 2)
	mb := f.misbehavior(types.Hash{8}, 4)
	an := &BlockAnnouncement{Header: types.Header{ParentHash: rp, Number: 2}, Body: []byte("cores: 5")}
	pub := nodes[0]
	for _, err := range []error{
		pub.PublishBitfield(ctx, rp, bf.Bitfield),
		pub.PublishBackedCandidate(ctx, rp, &bc.Candidate),
		pub.PublishDispute(ctx, &ds),
		pub.PublishMisbehavior(ctx, &mb),
		pub.PublishAnnouncement(ctx, an),
	} {
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	}

	for i, s := range sinks {
		got := map[Kind]ProvisionableData{}
		deadline := time.After(netWait)
		for len(got) < 4 {
			select {
			case d := <-s.ch:
				if _, dup := got[d.Kind]; dup {
					t.Fatalf("node %d: %v delivered twice", i, d.Kind)
				}
				got[d.Kind] = d
			case <-deadline:
				t.Fatalf("node %d got %d of 4 kinds", i, len(got))
			}
		}
		if d := got[KindBitfield]; d.RelayParent != rp || !bytes.Equal(enc(d.Bitfield), enc(&bf.Bitfield)) {
			t.Fatalf("node %d: bitfield differs", i)
		}
		if d := got[KindBackedCandidate]; d.RelayParent != rp || d.Candidate.Hash() != bc.Candidate.Hash() {
			t.Fatalf("node %d: backed candidate differs", i)
		}
		if d := got[KindDispute]; !bytes.Equal(enc(d.Dispute), enc(&ds)) {
			t.Fatalf("node %d: dispute differs", i)
		}
		if d := got[KindMisbehavior]; !bytes.Equal(enc(d.Misbehavior), enc(&mb)) {
			t.Fatalf("node %d: misbehaviour report differs", i)
		}
		select {
		case a := <-s.an:
			if a.Header.Hash() != an.Header.Hash() || string(a.Body) != "cores: 5" {
				t.Fatalf("node %d: announcement differs", i)
			}
		case <-time.After(netWait):
			t.Fatalf("node %d: no announcement", i)
		}
	}
}

// TestBootnodes: a node given another's address as a bootnode connects by
// itself and exchanges gossip; direct peers are dialled by gossipsub.
func TestBootnodes(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(11)
	a := newTestNode(t, newFakeChain(f, rp), nil)
	sink := newRecSink()
	b := newTestNode(t, newFakeChain(f, rp), sink, func(c *Config) { c.Bootnodes = a.P2PAddrs() })
	c := newTestNode(t, newFakeChain(f, rp), nil, func(c *Config) { c.DirectPeers = a.P2PAddrs()[:1] })
	waitUntil(t, netWait, "bootnode and direct peer connected", func() bool {
		peers := a.Host().Network().Peers()
		return contains(peers, b.ID()) && contains(peers, c.ID())
	})
	waitUntil(t, netWait, "topic peers", func() bool { return contains(a.TopicPeers(KindBitfield), b.ID()) })
	bf := f.bitfield(rp, 0, "11000")
	if err := a.PublishBitfield(t.Context(), rp, bf.Bitfield); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.ch:
	case <-time.After(netWait):
		t.Fatal("bitfield not delivered over the bootnode connection")
	}
}

// TestIdentityPersisted: the key is created once in the base path and
// reused, so the peer ID survives a restart.
func TestIdentityPersisted(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "network", "secret_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 32 || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %d bytes, mode %v", st.Size(), st.Mode().Perm())
	}
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.BasePath = dir })
	want, _ := peer.IDFromPrivateKey(k1)
	if n.ID() != want {
		t.Fatalf("node ID %s, key ID %s", n.ID(), want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.BasePath = dir })
	if n2.ID() != want {
		t.Fatalf("restarted node ID %s, want %s", n2.ID(), want)
	}
	if err := os.WriteFile(filepath.Join(dir, "network", "secret_ed25519"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir); err == nil {
		t.Fatal("a truncated key file was accepted")
	}
}

type stubProvider struct {
	fn func(ctx context.Context, rp types.Hash) (*types.InherentData, error)
}

func (p stubProvider) RequestInherentData(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
	return p.fn(ctx, rp)
}

// rawRequest sends raw bytes on the inherent protocol and decodes the
// answer.
func rawRequest(t testing.TB, from, to *Node, payload []byte) InherentResponse {
	t.Helper()
	resp, err := tryRawRequest(from, to, payload, true)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// closeWrite closes the request side right away (as a client that sent
// garbage might); otherwise the stream stays open until the answer is read.
func tryRawRequest(from, to *Node, payload []byte, closeWrite bool) (InherentResponse, error) {
	var resp InherentResponse
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := from.Host().NewStream(ctx, to.ID(), InherentProtocol(testGenesis))
	if err != nil {
		return resp, err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := s.Write(payload); err != nil {
		return resp, err
	}
	if closeWrite {
		_ = s.CloseWrite()
	}
	b, err := ReadFrame(bufio.NewReader(s), 1<<20)
	if err != nil {
		return resp, fmt.Errorf("read response: %w", err)
	}
	err = types.Decode(b, &resp)
	return resp, err
}

// TestInherentMalformedRequests: oversize, short, long and undecodable
// requests are refused with CodeMalformed, and a request sent with no frame
// at all too; the provider is never asked.
func TestInherentMalformedRequests(t *testing.T) {
	f := testFixture(t)
	asked := make(chan struct{}, 10)
	prov := stubProvider{fn: func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
		asked <- struct{}{}
		return nil, ErrUnknownLeaf
	}}
	srv := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.Inherents = prov })
	cli := newTestNode(t, newFakeChain(f), nil)
	connect(t, cli.Host(), srv.Host())

	frame := func(b []byte) []byte {
		var out bytes.Buffer
		_ = WriteFrame(&out, rawEncoder(b))
		return out.Bytes()
	}
	cases := map[string][]byte{
		"oversize_prefix": {0xff, 0xff, 0xff, 0xff, 0x0f},
		"short":           frame(make([]byte, 35)),
		"long":            frame(make([]byte, 37)),
		"too_long":        frame(make([]byte, 65)),
		"truncated_body":  {36, 1, 2, 3},
		"empty":           {},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			resp := rawRequest(t, cli, srv, payload)
			if resp.Code != CodeMalformed {
				t.Fatalf("code %v (%q), want malformed", resp.Code, resp.Message)
			}
		})
	}
	select {
	case <-asked:
		t.Fatal("provider asked for a malformed request")
	default:
	}
	// A well-formed request reaches the provider.
	var ok bytes.Buffer
	_ = WriteFrame(&ok, &InherentRequest{RelayParent: leafHash(1), TimeoutMillis: 500})
	if resp := rawRequest(t, cli, srv, ok.Bytes()); resp.Code != CodeUnknownLeaf {
		t.Fatalf("code %v, want unknown leaf", resp.Code)
	}
}

// TestInherentBusyAndShutdown: a peer over its concurrency limit is told
// busy; requests held at Close are answered "shutting down".
func TestInherentBusyAndShutdown(t *testing.T) {
	f := testFixture(t)
	held := make(chan struct{}, 8)
	prov := stubProvider{fn: func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
		held <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	srv := newTestNode(t, newFakeChain(f), nil, func(c *Config) {
		c.Inherents = prov
		c.Inherent.MaxPerPeer = 2
	})
	cli := newTestNode(t, newFakeChain(f), nil)
	connect(t, cli.Host(), srv.Host())
	var req bytes.Buffer
	_ = WriteFrame(&req, &InherentRequest{RelayParent: leafHash(1), TimeoutMillis: 10_000})

	type result struct {
		resp InherentResponse
		err  error
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := tryRawRequest(cli, srv, req.Bytes(), false)
			results <- result{resp, err}
		}()
	}
	<-held
	<-held
	if resp := rawRequest(t, cli, srv, req.Bytes()); resp.Code != CodeBusy {
		t.Fatalf("third request: %v, want busy", resp.Code)
	}
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r := <-results; r.err != nil || r.resp.Code != CodeShuttingDown {
			t.Fatalf("held request: %v %v, want shutting down", r.resp.Code, r.err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("close took %v", d)
	}
}

// TestFrames: frame round trip and the length limit.
func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	req := InherentRequest{RelayParent: leafHash(4), TimeoutMillis: 2500}
	if err := WriteFrame(&buf, &req); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&buf, rawEncoder(make([]byte, 300))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	b, err := ReadFrame(r, 64)
	if err != nil || len(b) != InherentRequestSize {
		t.Fatalf("frame 1: %d bytes, %v", len(b), err)
	}
	var got InherentRequest
	if err := types.Decode(b, &got); err != nil || got != req {
		t.Fatalf("request round trip: %+v %v", got, err)
	}
	if _, err := ReadFrame(r, 64); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame 2: %v, want too large", err)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{10, 1, 2})), 64); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
	// A prefix claiming a huge frame allocates only what arrives.
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{0x80, 0x80, 0x80, 0x08})), 1<<30); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("lying prefix: %v", err)
	}
}

// TestWireRoundTrip: every p2p wire type decodes to what was encoded.
func TestWireRoundTrip(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(5)
	bf := f.bitfield(rp, 1, "11001")
	bc := f.backed(rp, 1, 2)
	ds := f.dispute(types.Hash{1}, 3, 4)
	mb := f.misbehavior(types.Hash{2}, 5)
	values := []types.Encoder{
		&bf, &bc,
		&BlockAnnouncement{Header: types.Header{Number: 3}, Body: []byte{1, 2}},
		&ProvisionableData{Kind: KindBitfield, RelayParent: rp, Bitfield: &bf.Bitfield},
		&ProvisionableData{Kind: KindBackedCandidate, RelayParent: rp, Candidate: &bc.Candidate},
		&ProvisionableData{Kind: KindDispute, Dispute: &ds},
		&ProvisionableData{Kind: KindMisbehavior, Misbehavior: &mb},
		&InherentResponse{Code: CodeNotReady, Message: "later"},
		&InherentResponse{Data: types.NewParachainsInherentDataMap(&types.InherentData{})},
		&AuthorFrame{Code: CodeLeafEnded},
		&AuthorFrame{Data: &ProvisionableData{Kind: KindDispute, Dispute: &ds}},
		&AuthorRequest{RelayParent: rp},
	}
	fresh := []types.Decoder{
		new(BitfieldMessage), new(BackedCandidateMessage), new(BlockAnnouncement),
		new(ProvisionableData), new(ProvisionableData), new(ProvisionableData), new(ProvisionableData),
		new(InherentResponse), new(InherentResponse), new(AuthorFrame), new(AuthorFrame), new(AuthorRequest),
	}
	for i, v := range values {
		b := types.Encode(v)
		if err := types.Decode(b, fresh[i]); err != nil {
			t.Fatalf("value %d (%T): %v", i, v, err)
		}
		if again := types.Encode(fresh[i].(types.Encoder)); !bytes.Equal(again, b) {
			t.Fatalf("value %d (%T): re-encoding differs", i, v)
		}
	}
	// An Err response with code 0 is not canonical.
	if err := types.Decode([]byte{1, 0, 0}, new(InherentResponse)); err == nil {
		t.Fatal("error response with code 0 accepted")
	}
	if got := TopicName(testGenesis, KindBitfield); !strings.HasSuffix(got, "/provisioner/bitfield/1/scale") || strings.Contains(got, "0x") {
		t.Fatalf("topic name %q", got)
	}
}
