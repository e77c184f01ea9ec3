package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// Request frames are tiny; anything larger is refused unread.
const maxRequestFrame = 64

// acquire takes one of a peer's concurrent slots in m, within the global
// cap (MaxConcurrent over every peer of m) and the peer's request rate.
// The reason is the busy answer's message.
func (n *Node) acquire(m map[peer.ID]int, p peer.ID) (ok bool, reason string) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	total := 0
	for _, c := range m {
		total += c
	}
	switch {
	case m[p] >= n.cfg.Inherent.MaxPerPeer:
		return false, fmt.Sprintf("at most %d concurrent requests per peer", n.cfg.Inherent.MaxPerPeer)
	case total >= n.cfg.Inherent.MaxConcurrent:
		return false, fmt.Sprintf("at most %d concurrent requests in all", n.cfg.Inherent.MaxConcurrent)
	case !n.rates.allow(p, time.Now()):
		return false, fmt.Sprintf("at most %.0f requests per second per peer", n.cfg.Inherent.RatePerSecond)
	}
	m[p]++
	return true, ""
}

func (n *Node) release(m map[peer.ID]int, p peer.ID) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if m[p]--; m[p] <= 0 {
		delete(m, p)
	}
}

// rateLimiter is a token bucket per peer. Callers hold Node.hmu.
type rateLimiter struct {
	rate  float64
	burst float64
	peers map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxRatePeers bounds the buckets; past it the full ones are dropped (a
// full bucket is the same as none).
const maxRatePeers = 1024

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), peers: make(map[peer.ID]*bucket)}
}

func (r *rateLimiter) allow(p peer.ID, now time.Time) bool {
	b := r.peers[p]
	if b == nil {
		if len(r.peers) >= maxRatePeers {
			for q, c := range r.peers {
				if c.tokens+now.Sub(c.at).Seconds()*r.rate >= r.burst {
					delete(r.peers, q)
				}
			}
		}
		b = &bucket{tokens: r.burst, at: now}
		r.peers[p] = b
	}
	b.tokens = min(r.burst, b.tokens+now.Sub(b.at).Seconds()*r.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// builderGate refuses the builder protocols to peers that are not the
// node's builders: the stream is reset unanswered, so a stranger learns
// nothing and costs one stream open.
func (n *Node) builderGate(s network.Stream) bool {
	if n.adm.builderAllowed(s.Conn().RemotePeer()) {
		return true
	}
	n.m.unauthorized.Inc()
	_ = s.Reset()
	return false
}

// readRequest reads and decodes one request frame of minSize to maxSize
// bytes.
func (n *Node) readRequest(s network.Stream, v types.Decoder, minSize, maxSize int) error {
	_ = s.SetReadDeadline(time.Now().Add(n.cfg.Inherent.ReadTimeout))
	b, err := ReadFrame(bufio.NewReaderSize(s, maxRequestFrame+16), maxRequestFrame)
	if err != nil {
		return err
	}
	if len(b) < minSize || len(b) > maxSize {
		if minSize == maxSize {
			return fmt.Errorf("request of %d bytes, want %d", len(b), minSize)
		}
		return fmt.Errorf("request of %d bytes, want %d to %d", len(b), minSize, maxSize)
	}
	return types.DecodeOwned(b, v, codec.Limits{MaxMessageSize: maxRequestFrame})
}

func (n *Node) writeFrame(s network.Stream, v types.Encoder) error {
	_ = s.SetWriteDeadline(time.Now().Add(n.cfg.Inherent.WriteTimeout))
	return WriteFrame(s, v)
}

// lingerTimeout bounds how long a handler waits for the peer to close its
// side after the last frame.
const lingerTimeout = time.Second

// linger closes our write side and waits (bounded) for the peer to close
// its side, which it does once it has read our last frame: a stream's
// pending data dies with its connection, so this keeps the last answer of a
// node that is shutting down from being lost.
func linger(s network.Stream) {
	_ = s.CloseWrite()
	_ = s.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(s, 1<<10))
}

// codeFor maps a provider error to its wire code.
func (n *Node) codeFor(ctx context.Context, err error) ErrorCode {
	switch {
	case errors.Is(err, ErrUnknownLeaf):
		return CodeUnknownLeaf
	case errors.Is(err, ErrBusy):
		// The provider's own limits (held requests per leaf) are load
		// shedding like ours: the client may retry, nothing is broken.
		return CodeBusy
	case errors.Is(err, ErrShuttingDown), n.ctx.Err() != nil:
		return CodeShuttingDown
	case errors.Is(err, ErrNotReady), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		return CodeNotReady
	}
	return CodeInternal
}

// handleInherent serves one inherent request: read the relay parent, hold
// the request until the provider answers or the deadline passes, answer
// with the InherentData map or an error code.
func (n *Node) handleInherent(s network.Stream) {
	if !n.beginHandler() {
		_ = s.Reset()
		return
	}
	defer n.handlers.Done()
	if !n.builderGate(s) {
		return
	}
	code := n.serveInherent(s)
	n.m.inherent.WithLabelValues(code.String()).Inc()
}

func (n *Node) serveInherent(s network.Stream) ErrorCode {
	defer s.Close()
	p := s.Conn().RemotePeer()
	fail := func(code ErrorCode, msg string, parent *types.Header) ErrorCode {
		if err := n.writeFrame(s, &InherentResponse{Code: code, Message: msg, Parent: parent}); err != nil {
			_ = s.Reset()
			return code
		}
		// Load shedding and garbage get no more of our time.
		if code != CodeBusy && code != CodeMalformed {
			linger(s)
		}
		return code
	}
	if ok, why := n.acquire(n.inflight, p); !ok {
		return fail(CodeBusy, why, nil)
	}
	defer n.release(n.inflight, p)

	var req InherentRequest
	if err := n.readRequest(s, &req, InherentRequestSize, InherentRequestMaxSize); err != nil {
		log.Debugw("malformed inherent request", "peer", p, "err", err)
		return fail(CodeMalformed, err.Error(), nil)
	}
	resolver, _ := n.cfg.Inherents.(LeafResolver)
	rp := req.RelayParent
	if req.WantsBestLeaf() {
		best, ok := types.Hash{}, false
		if resolver != nil {
			best, ok = resolver.BestLeaf()
		}
		if !ok {
			return fail(CodeUnknownLeaf, "no best leaf to build on", nil)
		}
		rp = best
	}
	// parentOf is the header sent with an error, for requests that asked
	// for it and blocks this node knows.
	parentOf := func() *types.Header {
		if req.Flags&FlagParentHeader == 0 || resolver == nil {
			return nil
		}
		if h, ok := resolver.Header(rp); ok && h.Hash() == rp {
			return &h
		}
		return nil
	}
	hold := n.cfg.Inherent.DefaultHold
	if req.TimeoutMillis > 0 {
		hold = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	hold = min(hold, n.cfg.Inherent.MaxHold)
	ctx, cancel := context.WithTimeout(n.ctx, hold)
	defer cancel()

	data, err := n.cfg.Inherents.RequestInherentData(ctx, rp)
	if err == nil && data == nil {
		err = fmt.Errorf("%w: provider returned no data", ErrInternal)
	}
	if err != nil {
		code := n.codeFor(ctx, err)
		msg := err.Error()
		if code == CodeNotReady && errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("no inherent data within %v", hold)
		}
		return fail(code, msg, parentOf())
	}
	resp := &InherentResponse{Code: CodeOK, Data: types.NewParachainsInherentDataMap(data)}
	if err := n.writeFrame(s, resp); err != nil {
		log.Debugw("inherent response not delivered", "peer", p, "err", err)
		_ = s.Reset()
		return CodeOK
	}
	linger(s)
	return CodeOK
}

// handleAuthor serves one author stream: read the relay parent, then send
// every piece of provisionable data for it, ending with an End frame.
func (n *Node) handleAuthor(s network.Stream) {
	if !n.beginHandler() {
		_ = s.Reset()
		return
	}
	defer n.handlers.Done()
	if !n.builderGate(s) {
		return
	}
	code := n.serveAuthor(s)
	n.m.author.WithLabelValues(code.String()).Inc()
}

func (n *Node) serveAuthor(s network.Stream) ErrorCode {
	defer s.Close()
	p := s.Conn().RemotePeer()
	// Before the reader goroutine starts, end lingers itself; after, the
	// deferred wait for the reader does (bounded by lingerTimeout).
	readerStarted := false
	end := func(code ErrorCode, msg string) ErrorCode {
		if err := n.writeFrame(s, &AuthorFrame{Code: code, Message: msg}); err != nil {
			_ = s.Reset()
			return code
		}
		if readerStarted {
			_ = s.CloseWrite()
		} else {
			linger(s)
		}
		return code
	}
	if ok, why := n.acquire(n.streams, p); !ok {
		return end(CodeBusy, why)
	}
	defer n.release(n.streams, p)

	var req AuthorRequest
	if err := n.readRequest(s, &req, 32, 32); err != nil {
		return end(CodeMalformed, err.Error())
	}
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	// The subscriber closing its side (or resetting) ends the stream.
	_ = s.SetReadDeadline(time.Time{})
	readerDone := make(chan struct{})
	readerStarted = true
	go func() {
		defer close(readerDone)
		_, _ = io.Copy(io.Discard, io.LimitReader(s, 1<<10))
		cancel()
	}()
	// Runs before the deferred Close: give the subscriber lingerTimeout to
	// read the last frame and close, then unblock the reader.
	defer func() {
		select {
		case <-readerDone:
		case <-time.After(lingerTimeout):
			_ = s.Reset()
			<-readerDone
		}
	}()

	ch, err := n.feed.SubscribeAuthor(ctx, req.RelayParent)
	if err != nil {
		return end(n.codeFor(ctx, err), err.Error())
	}
	for {
		select {
		case d, ok := <-ch:
			if !ok {
				if n.ctx.Err() != nil {
					return end(CodeShuttingDown, "")
				}
				if ctx.Err() != nil {
					_ = s.Reset()
					return CodeOK
				}
				return end(CodeLeafEnded, "")
			}
			if err := n.writeFrame(s, &AuthorFrame{Data: &d}); err != nil {
				_ = s.Reset()
				return CodeInternal
			}
		case <-ctx.Done():
			// Drain nothing: the feed closes ch when it sees ctx done.
			if n.ctx.Err() != nil {
				return end(CodeShuttingDown, "")
			}
			_ = s.Reset()
			return CodeOK
		}
	}
}
