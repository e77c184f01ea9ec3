package p2p

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// TestInherentRequestGolden: the 36-byte form is unchanged (old requests
// stay byte-compatible); flags add one byte; non-canonical and unknown
// flags are refused with the sentinel errors.
func TestInherentRequestGolden(t *testing.T) {
	rp := types.Hash{0xaa, 0xbb}
	cases := []struct {
		name string
		req  InherentRequest
		hex  string
	}{
		{"first form", InherentRequest{RelayParent: rp, TimeoutMillis: 2250},
			"aabb" + strings.Repeat("00", 30) + "ca080000"},
		{"best leaf", InherentRequest{TimeoutMillis: 1},
			strings.Repeat("00", 32) + "01000000"},
		{"parent header flag", InherentRequest{RelayParent: rp, TimeoutMillis: 2250, Flags: FlagParentHeader},
			"aabb" + strings.Repeat("00", 30) + "ca08000001"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hex.EncodeToString(types.Encode(&c.req))
			if got != c.hex {
				t.Fatalf("encode = %s, want %s", got, c.hex)
			}
			var back InherentRequest
			raw, _ := hex.DecodeString(c.hex)
			if err := types.Decode(raw, &back); err != nil || back != c.req {
				t.Fatalf("decode = %+v, %v; want %+v", back, err, c.req)
			}
		})
	}
	bad := []struct {
		name string
		hex  string
		want error
	}{
		{"flags 0 in the long form", strings.Repeat("00", 36) + "00", codec.ErrNonCanonical},
		{"unknown flag", strings.Repeat("00", 36) + "02", codec.ErrInvalidValue},
		{"two flag bytes", strings.Repeat("00", 36) + "0101", codec.ErrTrailingBytes},
	}
	for _, c := range bad {
		raw, _ := hex.DecodeString(c.hex)
		var q InherentRequest
		if err := types.Decode(raw, &q); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestInherentResponseGolden: variant 2 carries the error and the header.
func TestInherentResponseGolden(t *testing.T) {
	h := types.Header{ParentHash: types.Hash{1}, Number: 5}
	headerHex := "01" + strings.Repeat("00", 31) + "14" + strings.Repeat("00", 64) + "00"
	cases := []struct {
		name string
		resp InherentResponse
		hex  string
	}{
		{"error", InherentResponse{Code: CodeNotReady, Message: "late"}, "0102" + "10" + hex.EncodeToString([]byte("late"))},
		{"error with parent", InherentResponse{Code: CodeNotReady, Message: "late", Parent: &h},
			"0202" + "10" + hex.EncodeToString([]byte("late")) + headerHex},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hex.EncodeToString(types.Encode(&c.resp))
			if got != c.hex {
				t.Fatalf("encode = %s, want %s", got, c.hex)
			}
			var back InherentResponse
			raw, _ := hex.DecodeString(c.hex)
			if err := types.Decode(raw, &back); err != nil {
				t.Fatal(err)
			}
			if back.Code != c.resp.Code || back.Message != c.resp.Message || (back.Parent == nil) != (c.resp.Parent == nil) ||
				(back.Parent != nil && back.Parent.Hash() != c.resp.Parent.Hash()) {
				t.Fatalf("decode = %+v, want %+v", back, c.resp)
			}
		})
	}
	var r InherentResponse
	if err := types.Decode([]byte{3}, &r); !errors.Is(err, codec.ErrUnknownVariant) {
		t.Fatalf("variant 3: %v", err)
	}
}

// resolverProvider is a provider that knows its best leaf and headers.
type resolverProvider struct {
	stubProvider
	best    types.Hash
	headers map[types.Hash]types.Header
}

func (p resolverProvider) BestLeaf() (types.Hash, bool) { return p.best, !p.best.IsZero() }

func (p resolverProvider) Header(h types.Hash) (types.Header, bool) {
	hdr, ok := p.headers[h]
	return hdr, ok
}

// TestInherentBestLeafServer: a zero relay parent is answered for the best
// leaf; errors carry the header only when asked; a provider without a
// LeafResolver refuses best-leaf requests with unknown_leaf.
func TestInherentBestLeafServer(t *testing.T) {
	f := testFixture(t)
	leaf := types.Header{ParentHash: leafHash(0), Number: 9}
	other := types.Header{ParentHash: leafHash(0), Number: 10}
	prov := resolverProvider{
		stubProvider: stubProvider{fn: func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
			if rp == leaf.Hash() {
				return &types.InherentData{ParentHeader: leaf}, nil
			}
			return nil, ErrNotReady
		}},
		best:    leaf.Hash(),
		headers: map[types.Hash]types.Header{leaf.Hash(): leaf, other.Hash(): other},
	}
	srv := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.Inherents = prov })
	plain := newTestNode(t, newFakeChain(f), nil, func(c *Config) { c.Inherents = prov.stubProvider })
	cli := newTestNode(t, newFakeChain(f), nil)
	connect(t, cli.Host(), srv.Host())
	connect(t, cli.Host(), plain.Host())
	frame := func(q InherentRequest) []byte {
		var b bytes.Buffer
		_ = WriteFrame(&b, &q)
		return b.Bytes()
	}

	resp := rawRequest(t, cli, srv, frame(InherentRequest{TimeoutMillis: 500}))
	if resp.Code != CodeOK {
		t.Fatalf("best leaf: %v %q", resp.Code, resp.Message)
	}
	data, err := resp.Data.ParachainsInherent(codec.DefaultLimits)
	if err != nil || data.ParentHeader.Hash() != leaf.Hash() {
		t.Fatalf("best leaf answered for %v (%v), want %s", data, err, leaf.Hash())
	}

	cases := []struct {
		name       string
		to         *Node
		req        InherentRequest
		code       ErrorCode
		msg        string
		wantParent *types.Header
	}{
		{"error without flag", srv, InherentRequest{RelayParent: other.Hash(), TimeoutMillis: 500}, CodeNotReady,
			"inherent data not ready before the deadline", nil},
		{"error with flag", srv, InherentRequest{RelayParent: other.Hash(), TimeoutMillis: 500, Flags: FlagParentHeader}, CodeNotReady,
			"inherent data not ready before the deadline", &other},
		{"unknown block with flag", srv, InherentRequest{RelayParent: leafHash(7), TimeoutMillis: 500, Flags: FlagParentHeader}, CodeNotReady,
			"inherent data not ready before the deadline", nil},
		{"no resolver", plain, InherentRequest{TimeoutMillis: 500}, CodeUnknownLeaf, "no best leaf to build on", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := rawRequest(t, cli, c.to, frame(c.req))
			if resp.Code != c.code || resp.Message != c.msg {
				t.Fatalf("got %v %q, want %v %q", resp.Code, resp.Message, c.code, c.msg)
			}
			switch {
			case c.wantParent == nil && resp.Parent != nil:
				t.Fatalf("unexpected parent header #%d", resp.Parent.Number)
			case c.wantParent != nil && (resp.Parent == nil || resp.Parent.Hash() != c.wantParent.Hash()):
				t.Fatalf("parent %+v, want #%d", resp.Parent, c.wantParent.Number)
			}
		})
	}
}
