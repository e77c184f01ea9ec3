// Package inherentclient is the block builder's side of the provisioner's
// builder protocols: it asks a provisioner node for the parachains inherent
// of a relay parent (with Polkadot's deadline and fallback), and subscribes
// to the author stream of a relay parent.
package inherentclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// DefaultTimeout is how long a builder waits for the inherent: Polkadot's
// ParachainsInherentDataProvider gives up after 2.5 s.
const DefaultTimeout = 2500 * time.Millisecond

// ErrParentMismatch: the inherent's parent header is not the requested
// relay parent.
var ErrParentMismatch = errors.New("inherent parent header does not match the relay parent")

// Client talks to provisioner nodes from a libp2p host.
type Client struct {
	host     host.Host
	genesis  types.Hash
	timeout  time.Duration
	maxResp  int
	limits   codec.Limits
	maxFrame int
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets the builder's deadline for one inherent request,
// dialing included (default 2.5 s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithMaxResponseSize caps an inherent response (default 16 MiB).
func WithMaxResponseSize(n int) Option { return func(c *Client) { c.maxResp = n } }

// WithLimits sets the decode limits of responses (default
// codec.DefaultLimits).
func WithLimits(l codec.Limits) Option { return func(c *Client) { c.limits = l } }

// New returns a client that opens streams from h to provisioner nodes of
// the network named by genesis.
func New(h host.Host, genesis types.Hash, opts ...Option) *Client {
	c := &Client{host: h, genesis: genesis, timeout: DefaultTimeout, maxResp: 16 << 20,
		limits: codec.DefaultLimits, maxFrame: p2p.DefaultLimits().Backed.MaxMessageSize + 1<<16}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Request asks provisioner p for the inherent at relayParent and waits at
// most until ctx is done. The server is asked to answer before ctx's
// deadline (less a margin for the way back). Error responses are
// *p2p.RemoteError, matching p2p.ErrUnknownLeaf, p2p.ErrNotReady, ... with
// errors.Is. A zero relayParent asks for the node's best leaf; the
// inherent's parent header then says which leaf that was. The request is
// the protocol's first, 36-byte form, which every server understands.
func (c *Client) Request(ctx context.Context, p peer.ID, relayParent types.Hash) (*types.InherentData, types.InherentDataMap, error) {
	a, err := c.fetch(ctx, p, relayParent, 0)
	return a.Data, a.Map, err
}

// Answer is what Fetch got from a node.
type Answer struct {
	// Data is the inherent (nil on error); Map is the same as the
	// sp_inherents map the node sent.
	Data *types.InherentData
	Map  types.InherentDataMap
	// Parent is the header of the relay parent the node answered for:
	// Data's parent header on success; with an error, the header the node
	// sent along, when it knew the block (nil otherwise). A header that
	// does not hash to a requested (non-zero) relay parent is dropped.
	Parent *types.Header
}

// Fetch is Request for a builder that may have to fall back: the request
// carries p2p.FlagParentHeader, so an error answer comes with the header
// of the relay parent (for a best-leaf request, of the leaf the node
// chose) and the builder can put the empty inherent on the real parent
// even when it did not know that header. The flag needs a server of this
// protocol revision; an older one answers malformed.
func (c *Client) Fetch(ctx context.Context, p peer.ID, relayParent types.Hash) (Answer, error) {
	return c.fetch(ctx, p, relayParent, p2p.FlagParentHeader)
}

func (c *Client) fetch(ctx context.Context, p peer.ID, relayParent types.Hash, flags uint8) (Answer, error) {
	s, err := c.host.NewStream(ctx, p, p2p.InherentProtocol(c.genesis))
	if err != nil {
		return Answer{}, fmt.Errorf("inherent request: open stream: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	defer s.Close()

	req := p2p.InherentRequest{RelayParent: relayParent, Flags: flags}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		margin := min(max(left/10, 20*time.Millisecond), 250*time.Millisecond)
		ms := (left - margin).Milliseconds()
		if ms < 1 {
			ms = 1
		}
		req.TimeoutMillis = uint32(min(ms, 1<<31))
	}
	if err := p2p.WriteFrame(s, &req); err != nil {
		return Answer{}, c.ctxErr(ctx, fmt.Errorf("inherent request: send: %w", err))
	}
	// Keep our write side open until the response is read: closing the
	// stream afterwards tells the server its answer arrived.
	b, err := p2p.ReadFrame(bufio.NewReader(s), c.maxResp)
	if err != nil {
		return Answer{}, c.ctxErr(ctx, fmt.Errorf("inherent request: read response: %w", err))
	}
	var resp p2p.InherentResponse
	if err := types.DecodeOwned(b, &resp, c.limits); err != nil {
		return Answer{}, fmt.Errorf("inherent request: %w", err)
	}
	if resp.Code != p2p.CodeOK {
		var a Answer
		if resp.Parent != nil && (relayParent.IsZero() || resp.Parent.Hash() == relayParent) {
			a.Parent = resp.Parent
		}
		return a, &p2p.RemoteError{Code: resp.Code, Message: resp.Message}
	}
	data, err := resp.Data.ParachainsInherent(c.limits)
	if err != nil {
		return Answer{Map: resp.Data}, fmt.Errorf("inherent request: %w", err)
	}
	if got := data.ParentHeader.Hash(); !relayParent.IsZero() && got != relayParent {
		return Answer{Map: resp.Data}, fmt.Errorf("inherent request: %w: header hash %s, relay parent %s", ErrParentMismatch, got, relayParent)
	}
	return Answer{Data: data, Map: resp.Data, Parent: &data.ParentHeader}, nil
}

// ctxErr prefers the context's error when it ended the request.
func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// Result is the outcome of InherentData.
type Result struct {
	// Data is the inherent to put in the block: the provisioner's, or the
	// empty inherent with the real parent header when FellBack.
	Data *types.InherentData
	// Map is Data as an sp_inherents InherentData map (under "parachn0").
	Map types.InherentDataMap
	// FellBack reports that the provisioner did not answer usefully in
	// time and Data is the empty inherent; Err says why.
	FellBack bool
	Err      error
	Elapsed  time.Duration
}

// InherentData is what a block builder calls: it asks provisioner p for
// the inherent on top of parent (relay parent = parent's hash) within the
// client's timeout, and on timeout or any error returns the empty inherent
// with the real parent header, as Polkadot's
// ParachainsInherentDataProvider does, reporting that it fell back.
func (c *Client) InherentData(ctx context.Context, p peer.ID, parent *types.Header) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	data, m, err := c.Request(ctx, p, parent.Hash())
	if err == nil {
		return Result{Data: data, Map: m, Elapsed: time.Since(start)}
	}
	empty := EmptyInherent(parent)
	return Result{Data: empty, Map: types.NewParachainsInherentDataMap(empty), FellBack: true, Err: err,
		Elapsed: time.Since(start)}
}

// EmptyInherent is the inherent with no bitfields, candidates or disputes
// on top of parent.
func EmptyInherent(parent *types.Header) *types.InherentData {
	return &types.InherentData{ParentHeader: *parent}
}

// AuthorStream receives the provisionable data of one relay parent.
type AuthorStream struct {
	s      network.Stream
	r      *bufio.Reader
	max    int
	limits codec.Limits
	stop   func() bool
	err    error
}

// SubscribeAuthor opens the author stream of relayParent on provisioner p.
// ctx bounds the whole subscription.
func (c *Client) SubscribeAuthor(ctx context.Context, p peer.ID, relayParent types.Hash) (*AuthorStream, error) {
	s, err := c.host.NewStream(ctx, p, p2p.AuthorProtocol(c.genesis))
	if err != nil {
		return nil, fmt.Errorf("author stream: open: %w", err)
	}
	if err := p2p.WriteFrame(s, &p2p.AuthorRequest{RelayParent: relayParent}); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("author stream: send: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	return &AuthorStream{s: s, r: bufio.NewReader(s), max: c.maxFrame, limits: c.limits, stop: stop}, nil
}

// Next returns the next piece of data. At the end of the stream it returns
// io.EOF when the leaf was deactivated, or a *p2p.RemoteError (unknown
// leaf, shutting down, busy, ...).
func (a *AuthorStream) Next() (*p2p.ProvisionableData, error) {
	if a.err != nil {
		return nil, a.err
	}
	b, err := p2p.ReadFrame(a.r, a.max)
	if err != nil {
		a.err = fmt.Errorf("author stream: %w", err)
		if errors.Is(err, io.EOF) {
			a.err = fmt.Errorf("author stream: closed without an end frame: %w", io.ErrUnexpectedEOF)
		}
		a.stop()
		_ = a.s.Reset()
		return nil, a.err
	}
	var f p2p.AuthorFrame
	if err := types.DecodeOwned(b, &f, a.limits); err != nil {
		a.err = fmt.Errorf("author stream: %w", err)
		a.stop()
		_ = a.s.Reset()
		return nil, a.err
	}
	if f.Data != nil {
		return f.Data, nil
	}
	a.stop()
	_ = a.s.Close()
	if f.Code == p2p.CodeLeafEnded {
		a.err = io.EOF
	} else {
		a.err = &p2p.RemoteError{Code: f.Code, Message: f.Message}
	}
	return nil, a.err
}

// Close ends the subscription.
func (a *AuthorStream) Close() error {
	if a.err == nil {
		a.err = errors.New("author stream: closed")
	}
	a.stop()
	return a.s.Reset()
}
