package inherentclient

import (
	"context"
	"errors"
	"testing"

	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// resolver is a provider that knows its best leaf and the headers of
// known blocks (p2p.LeafResolver).
type resolver struct {
	providerFunc
	best    types.Hash
	headers map[types.Hash]types.Header
}

func (r resolver) BestLeaf() (types.Hash, bool) { return r.best, !r.best.IsZero() }

func (r resolver) Header(h types.Hash) (types.Header, bool) {
	hdr, ok := r.headers[h]
	return hdr, ok
}

// TestBestLeafAndParentOnError: a zero relay parent gets the best leaf's
// inherent (its parent header names the leaf); Fetch gets the relay
// parent's header with an error, Request (the first request form) does not.
func TestBestLeafAndParentOnError(t *testing.T) {
	b := base(t)
	parent := b.parent
	failing := types.Header{ParentHash: types.Hash{9}, Number: 42}
	prov := resolver{
		providerFunc: func(ctx context.Context, rp types.Hash) (*types.InherentData, error) {
			if rp == parent.Hash() {
				return &types.InherentData{ParentHeader: parent}, nil
			}
			return nil, p2p.ErrUnknownLeaf
		},
		best:    parent.Hash(),
		headers: map[types.Hash]types.Header{parent.Hash(): parent, failing.Hash(): failing},
	}
	e := start(t, b, prov)

	data, _, err := e.client.Request(t.Context(), e.srv.ID(), types.Hash{})
	if err != nil || data.ParentHeader.Hash() != e.rp || data.ParentHeader.Number != 41 {
		t.Fatalf("best leaf: %+v, %v; want #41 %s", data, err, e.rp)
	}
	a, err := e.client.Fetch(t.Context(), e.srv.ID(), types.Hash{})
	if err != nil || a.Parent == nil || a.Parent.Hash() != e.rp || a.Data == nil {
		t.Fatalf("Fetch best: %+v, %v", a, err)
	}

	cases := []struct {
		name       string
		fetch      bool
		rp         types.Hash
		wantParent types.Hash // zero: none
	}{
		{"fetch gets the header", true, failing.Hash(), failing.Hash()},
		{"request does not ask", false, failing.Hash(), types.Hash{}},
		{"unknown block has none", true, types.Hash{7}, types.Hash{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a Answer
			var err error
			if c.fetch {
				a, err = e.client.Fetch(t.Context(), e.srv.ID(), c.rp)
			} else {
				a.Data, a.Map, err = e.client.Request(t.Context(), e.srv.ID(), c.rp)
			}
			if !errors.Is(err, p2p.ErrUnknownLeaf) {
				t.Fatalf("err = %v, want unknown leaf", err)
			}
			got := types.Hash{}
			if a.Parent != nil {
				got = a.Parent.Hash()
			}
			if got != c.wantParent || a.Data != nil {
				t.Fatalf("parent %s, data %v; want parent %s, no data", got, a.Data, c.wantParent)
			}
		})
	}
}
