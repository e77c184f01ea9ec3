package p2p

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/crypto/blake2b"
)

// The key of Substrate's node-template Alice bootnode
// (--node-key 0000...0001) and its well-known peer id.
const (
	aliceNodeKey = "0000000000000000000000000000000000000000000000000000000000000001"
	alicePeerID  = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
)

func TestParseNodeKey(t *testing.T) {
	cases := []struct {
		name, in, peer string
		err            error
	}{
		{"hex", aliceNodeKey, alicePeerID, nil},
		{"hex with newline", aliceNodeKey + "\n", alicePeerID, nil},
		{"0x prefix", "0x" + aliceNodeKey, alicePeerID, nil},
		{"short", aliceNodeKey[:62], "", ErrBadNodeKey},
		{"not hex", strings.Repeat("zz", 32), "", ErrBadNodeKey},
		{"empty", "", "", ErrBadNodeKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseNodeKey(c.in)
			if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			id, err := NodeKeyPeerID(k)
			if err != nil || id.String() != c.peer {
				t.Fatalf("peer id %s %v, want %s", id, err, c.peer)
			}
		})
	}
}

func TestLoadOrCreateIdentityFormats(t *testing.T) {
	raw, _ := hex.DecodeString(aliceNodeKey)
	cases := []struct {
		name    string
		content []byte
		peer    string
		errText string
	}{
		{"32 raw bytes (Substrate)", raw, alicePeerID, ""},
		{"64 hex (generate-node-key --file)", []byte(aliceNodeKey), alicePeerID, ""},
		{"64 hex and a newline", []byte(aliceNodeKey + "\n"), alicePeerID, ""},
		{"31 bytes", raw[:31], "", "invalid node key: 31 hex characters, want 64 (or 32 raw bytes; the file has 31 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			path := filepath.Join(base, "network", "secret_ed25519")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadOrCreateIdentity(base)
			if c.errText != "" {
				want := fmt.Sprintf("p2p: identity key %s: %s", path, c.errText)
				if err == nil || err.Error() != want || !errors.Is(err, ErrBadNodeKey) {
					t.Fatalf("err %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, _ := NodeKeyPeerID(k)
			if id.String() != c.peer {
				t.Fatalf("peer id %s, want %s", id, c.peer)
			}
			kf, err := LoadNodeKeyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if idf, _ := NodeKeyPeerID(kf); idf != id {
				t.Fatalf("LoadNodeKeyFile peer id %s, want %s", idf, id)
			}
		})
	}
	t.Run("created once, 32 raw bytes", func(t *testing.T) {
		base := t.TempDir()
		k1, err := LoadOrCreateIdentity(base)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(base, "network", "secret_ed25519"))
		if err != nil || len(b) != 32 {
			t.Fatalf("key file: %d bytes, %v", len(b), err)
		}
		k2, err := LoadOrCreateIdentity(base)
		if err != nil || !k1.Equals(k2) {
			t.Fatalf("second load differs: %v", err)
		}
	})
}

// TestListenAddressInUse: a taken TCP or UDP port (by any socket, or by
// another node) stops the node with one error naming the address.
func TestListenAddressInUse(t *testing.T) {
	f := testFixture(t)
	tcpLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()
	udpLn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpLn.Close()
	first := newTestNode(t, newFakeChain(f), nil, func(c *Config) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	})
	nodePort := first.Host().Network().ListenAddresses()[0].String()

	tcpAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tcpLn.Addr().(*net.TCPAddr).Port)
	quicAddr := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", udpLn.LocalAddr().(*net.UDPAddr).Port)
	cases := []struct {
		name   string
		listen []string
		bad    string
	}{
		{"tcp port held by a socket", []string{tcpAddr}, tcpAddr},
		{"tcp port held by another node", []string{nodePort}, nodePort},
		{"udp port held, tcp free", []string{"/ip4/127.0.0.1/tcp/0", quicAddr}, quicAddr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := New(context.Background(), Config{
				Genesis: testGenesis, ListenAddrs: c.listen, Chain: newFakeChain(f),
			})
			if err == nil {
				n.Close()
				t.Fatal("node started on a port in use")
			}
			want := "p2p: listen " + c.bad + ": address already in use"
			if err.Error() != want || !errors.Is(err, ErrAddrInUse) {
				t.Fatalf("error %q, want %q", err, want)
			}
		})
	}
}

func TestCheckListening(t *testing.T) {
	have := mustAddrs(t, "/ip4/127.0.0.1/tcp/4001", "/ip4/0.0.0.0/udp/4002/quic-v1")
	cases := []struct {
		want []string
		err  string
	}{
		{[]string{"/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/udp/4002/quic-v1"}, ""},
		{[]string{"/ip4/127.0.0.1/tcp/4001"}, ""},
		{[]string{"/ip4/127.0.0.1/tcp/4003"}, "p2p: listen /ip4/127.0.0.1/tcp/4003: address already in use"},
		{[]string{"/ip4/0.0.0.0/udp/0/quic-v1", "/ip6/::1/tcp/0"}, "p2p: listen /ip6/::1/tcp/0: no listener"},
	}
	for _, c := range cases {
		err := checkListening(c.want, have)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("checkListening(%v) = %q, want %q", c.want, got, c.err)
		}
	}
}

func mustAddrs(t testing.TB, ss ...string) []ma.Multiaddr {
	t.Helper()
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// TestMessageIDStable: the id is blake2b-160 of topic, a zero byte and the
// data, the same on every call while hashers are recycled (peers compare
// ids in IHAVE and IWANT, so it is part of the wire).
func TestMessageIDStable(t *testing.T) {
	want := func(topic string, data []byte) string {
		h, err := blake2b.New(20, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(append(append([]byte(topic), 0), data...))
		return string(h.Sum(nil))
	}
	str := func(s string) *string { return &s }
	msgs := []*pb.Message{
		{Topic: str("/x/bitfield"), Data: []byte{1, 2, 3}},
		{Topic: str("/x/bitfield"), Data: []byte{1, 2, 4}},
		{Topic: str("/x/bitfiel"), Data: []byte{'d', 0, 1, 2, 3}},
		{Topic: str(""), Data: nil},
	}
	seen := map[string]int{}
	for round := range 3 {
		for i, m := range msgs {
			got := MessageID(m)
			if w := want(m.GetTopic(), m.Data); got != w || len(got) != 20 {
				t.Fatalf("round %d, message %d: id %x, want %x", round, i, got, w)
			}
			if j, ok := seen[got]; ok && j != i {
				t.Fatalf("messages %d and %d share id %x", i, j, got)
			}
			seen[got] = i
		}
	}
	if len(seen) != len(msgs) {
		t.Fatalf("%d ids for %d messages", len(seen), len(msgs))
	}
	if got := hex.EncodeToString([]byte(MessageID(msgs[0]))); got != "befc125325db3a9d65ef59372f0dd441d0a20d40" {
		t.Fatalf("id of message 0: %s", got)
	}
}
