package testnet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/p2p/inherentclient"
	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/types"
)

var log = logging.Logger("testnet")

// NodeConfig configures one testnet node.
type NodeConfig struct {
	Genesis *Genesis
	// Validator is the node's validator index; -1 makes an observer that
	// follows the chain without a key.
	Validator int
	// Validators, when set, are the indices of every validator the node
	// hosts (virtual validators, virtual.go); Validator is then ignored
	// and Node.Validator reports the lowest of them. Each key is DevURI's.
	Validators []int
	// KeyURI overrides the validator's secret URI (default DevURI); only
	// with a single validator.
	KeyURI   string
	BasePath string
	// NodeKey overrides the network identity of BasePath (--node-key).
	NodeKey     crypto.PrivKey
	ListenAddrs []string
	Bootnodes   []string
	Registerer  prometheus.Registerer
	// LibP2PMetrics turns libp2p's own metrics on (one node per process
	// only; see p2p.Config.LibP2PMetrics).
	LibP2PMetrics prometheus.Registerer
	// BandwidthReporter counts the node's stream bytes (ByteCounter).
	BandwidthReporter metrics.Reporter
	// PrePropose is how long the provisioner holds an inherent request
	// after a leaf's activation (default 40% of the slot).
	PrePropose time.Duration
	// FetchDeadline is the block builder's deadline for the inherent
	// (default: Polkadot's 2.5 s, capped at 60% of the slot).
	FetchDeadline time.Duration
	// BitfieldDelay is how long after importing a leaf the hosted
	// validators sign their bitfields for it: 0 picks
	// DefaultBitfieldDelay (Polkadot's 1.5 s, at most a quarter of the
	// slot); a negative value signs on import.
	BitfieldDelay time.Duration
	// Adversary makes the node misbehave (see adversary.go) besides doing
	// its honest duties.
	Adversary bool
	// Recorder, when set, hears every block and bitfield (observers).
	Recorder *Recorder
	// TrustedPeers are admitted to gossip without a validator record (the
	// testnet's observer); see p2p.Config.TrustedPeers.
	TrustedPeers []peer.ID
	// BuilderPeers are block builders allowed on the inherent and author
	// protocols besides the node's own (whose key is
	// <BasePath>/builder/secret_ed25519, or ephemeral without BasePath).
	BuilderPeers []peer.ID
	// NewHost, when set, makes the node's libp2p hosts instead of real
	// sockets: role RoleNode for its network host (key is its identity:
	// NodeKey, or BasePath's), RoleBuilder for its block builder's client.
	// The testnet's WAN emulation (wan.go) puts both on its mocknet; the
	// node owns and closes what it returns.
	NewHost func(role string, key crypto.PrivKey) (host.Host, error)
}

// Node is one validator (or observer) of the testnet.
type Node struct {
	cfg  NodeConfig
	g    *Genesis
	keys Keys
	// kp is the key of the node's first hosted validator (the one an
	// adversary misbehaves as); hosted holds every hosted validator's.
	kp     *types.Keypair
	hosted hostedKeys
	duty   *dutyQueue
	bits   *bitfieldQueue
	// bitfieldDelay is NodeConfig.BitfieldDelay resolved.
	bitfieldDelay time.Duration
	chain         *Chain
	net           *p2p.Node
	prov          *provService
	view          *netView

	builder host.Host
	client  *inherentclient.Client

	imports chan *p2p.BlockAnnouncement
	backing *backingPool
	adv     *adversary

	mu   sync.Mutex
	leaf types.Hash // the active leaf (best block)

	// imported turns true once a block from the network was imported: the
	// node then has the chain and may author.
	imported atomic.Bool
	held     held // what the provisioner was fed (status.go)
	// keySession is the session the network layer's validator record is
	// signed for (followSession).
	keySession types.SessionIndex
}

// StartNode starts a node; Run drives it until ctx ends.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	g := cfg.Genesis
	if cfg.PrePropose <= 0 {
		cfg.PrePropose = time.Duration(g.SlotMillis) * time.Millisecond * 4 / 10
	}
	if cfg.FetchDeadline <= 0 {
		cfg.FetchDeadline = min(2500*time.Millisecond, time.Duration(g.SlotMillis)*time.Millisecond*6/10)
	}
	keys, err := NewKeys(g)
	if err != nil {
		return nil, err
	}
	slot := time.Duration(g.SlotMillis) * time.Millisecond
	n := &Node{cfg: cfg, g: g, keys: keys, chain: NewChain(g, keys), imports: make(chan *p2p.BlockAnnouncement, 256), duty: newDutyQueue(),
		bits: newBitfieldQueue(), bitfieldDelay: resolveBitfieldDelay(cfg.BitfieldDelay, slot)}
	if n.bitfieldDelay >= slot {
		// Signed that late, no bitfield could make the next block.
		return nil, usagef("--bitfield-delay %v must be shorter than the slot (%v)", n.bitfieldDelay, slot)
	}
	if cfg.Recorder != nil {
		cfg.Recorder.SetBitfieldDelay(n.bitfieldDelay)
	}
	if n.hosted, err = loadHostedKeys(g, &n.cfg); err != nil {
		return nil, err
	}
	if len(n.hosted.keys) > 0 {
		n.kp = n.hosted.keys[0].kp
	}
	n.view = newNetView(g, n.chain)
	n.backing = newBackingPool(g, n.chain)
	if n.prov, err = newProvService(ctx, n.chain, cfg.PrePropose, cfg.Registerer); err != nil {
		return nil, err
	}
	// The block builder's identity exists before the node, so that the node
	// can allow it (and only it, with BuilderPeers) on the builder
	// protocols; `blockbuilder --base-path` uses the same key.
	var builderKey crypto.PrivKey
	if cfg.BasePath != "" {
		builderKey, err = p2p.LoadOrCreateBuilderIdentity(cfg.BasePath)
	} else {
		builderKey, _, err = p2p.GenerateNodeKey()
	}
	if err != nil {
		n.prov.stop()
		return nil, fmt.Errorf("block builder key: %w", err)
	}
	builderID, err := p2p.NodeKeyPeerID(builderKey)
	if err != nil {
		n.prov.stop()
		return nil, err
	}
	var netHost host.Host
	if cfg.NewHost != nil {
		if netHost, err = n.newNetHost(); err != nil {
			n.prov.stop()
			return nil, err
		}
	}
	n.net, err = p2p.New(ctx, p2p.Config{
		Host:             netHost,
		TrustedPeers:     cfg.TrustedPeers,
		Admission:        p2p.AdmissionConfig{RequireRecords: true},
		BuilderPeers:     append([]peer.ID{builderID}, cfg.BuilderPeers...),
		ValidatorSetSize: len(g.Validators),
		Genesis:          g.Hash(),
		BasePath:         cfg.BasePath,
		PrivateKey:       cfg.NodeKey,
		// The node proves every hosted index to peers with its key.
		SessionKeys:       n.hosted.sessionKeys(g.Session),
		LibP2PMetrics:     cfg.LibP2PMetrics,
		BandwidthReporter: cfg.BandwidthReporter,
		ListenAddrs:       cfg.ListenAddrs,
		Bootnodes:         cfg.Bootnodes,
		Chain:             n.view,
		Sink:              n,
		Inherents:         n.prov,
		Registerer:        cfg.Registerer,
		Park:              parkFor(g),
		AnnouncementValidator: func(a *p2p.BlockAnnouncement) error {
			// The announcement's seal is cheap to check here; execution
			// happens on import.
			var parentSlot uint64
			if s, err := n.chain.Slot(a.Header.ParentHash); err == nil {
				parentSlot = s
			}
			if _, _, err := CheckSeal(g, keys, &a.Header, parentSlot); err != nil {
				return err
			}
			return nil
		},
	})
	if err != nil {
		n.prov.stop()
		return nil, fmt.Errorf("network: %w", err)
	}
	if n.kp != nil {
		// The block builder is a separate libp2p client, as a Substrate
		// block author talks to the provisioner over the inherent protocol.
		if cfg.NewHost != nil {
			n.builder, err = cfg.NewHost(RoleBuilder, builderKey)
		} else {
			n.builder, err = libp2p.New(libp2p.Identity(builderKey), libp2p.NoListenAddrs, libp2p.DisableRelay())
		}
		if err != nil {
			n.net.Close()
			n.prov.stop()
			return nil, fmt.Errorf("block builder host: %w", err)
		}
		n.client = inherentclient.New(n.builder, g.Hash(), inherentclient.WithTimeout(cfg.FetchDeadline))
	}
	n.keySession = g.Session
	genesis := g.GenesisHeader()
	n.activate(genesis.Hash(), genesis, types.Hash{})
	return n, nil
}

// newNetHost makes the network host with NewHost, under the identity the
// node would otherwise take: NodeKey, BasePath's key, or a new one.
func (n *Node) newNetHost() (host.Host, error) {
	key := n.cfg.NodeKey
	var err error
	switch {
	case key != nil:
	case n.cfg.BasePath != "":
		key, err = p2p.LoadOrCreateIdentity(n.cfg.BasePath)
	default:
		key, _, err = p2p.GenerateNodeKey()
	}
	if err != nil {
		return nil, fmt.Errorf("network key: %w", err)
	}
	h, err := n.cfg.NewHost(RoleNode, key)
	if err != nil {
		return nil, fmt.Errorf("network host: %w", err)
	}
	return h, nil
}

// Addrs are the node's listen multiaddrs with its peer id.
func (n *Node) Addrs() []string { return n.net.P2PAddrs() }

// Net is the node's network layer.
func (n *Node) Net() *p2p.Node { return n.net }

// Chain is the node's chain.
func (n *Node) Chain() *Chain { return n.chain }

// Run imports blocks and authors in the node's slots until ctx ends, then
// shuts everything down.
func (n *Node) Run(ctx context.Context) error {
	defer n.close()
	slot := time.Duration(n.g.SlotMillis) * time.Millisecond
	start := time.UnixMilli(n.g.GenesisUnixMillis)
	var authoring sync.WaitGroup
	defer authoring.Wait()
	// The duty worker signs and gossips for the hosted validators off the
	// import loop; it ends with ctx, before the deferred close.
	var dutyDone sync.WaitGroup
	defer dutyDone.Wait()
	if n.kp != nil {
		dutyDone.Go(func() { n.dutyLoop(ctx) })
		dutyDone.Go(func() {
			n.bits.run(ctx, time.Now, time.After, n.signBitfields)
		})
		// The block builder holds its connection to the node from the
		// start, as a Substrate author does with its own node: dialling
		// only when its slot comes would meet whatever is flooding the
		// node's inbound connection limits at that moment.
		dutyDone.Go(func() { n.keepBuilderConnected(ctx) })
	}
	// A node that joins a running network (a restart, a late start) has
	// only genesis until the next announced block gives it the chain; were
	// it to author meanwhile, it would fork the chain from genesis. Like a
	// Substrate node that is still major-syncing, it does not author until
	// it has imported a block or two slots have passed since it joined
	// (every slot's author announces, so that is enough to catch up
	// unless the whole network is stalled).
	joined := uint64(0)
	if now := time.Now(); now.After(start) {
		joined = uint64(now.Sub(start)/slot) + 1
	}
	syncUntil := uint64(0)
	if joined > 1 {
		syncUntil = joined + 2
	}
	for {
		now := time.Now()
		next := uint64(0)
		if now.After(start) {
			next = uint64(now.Sub(start)/slot) + 1
		}
		timer := time.NewTimer(time.Until(start.Add(time.Duration(next) * slot)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case a := <-n.imports:
			timer.Stop()
			n.importAnnouncement(ctx, a)
		case <-timer.C:
			if n.kp != nil && next == 0 {
				// Genesis: back the first candidates, as every later leaf does.
				n.mu.Lock()
				leaf := n.leaf
				n.mu.Unlock()
				n.pushLeaf(leaf)
			}
			if n.kp != nil && next > 0 && n.hosted.get(n.g.SlotAuthor(next)) != nil {
				if next < syncUntil && !n.imported.Load() {
					log.Infow("not authoring: joined a running network and still syncing", "slot", next, "joined_at_slot", joined)
					continue
				}
				authoring.Add(1)
				go func() {
					defer authoring.Done()
					n.author(ctx, next)
				}()
			}
		}
	}
}

func (n *Node) close() {
	if n.adv != nil {
		n.adv.close()
	}
	if n.builder != nil {
		n.builder.Close()
	}
	n.net.Close()
	n.prov.stop()
}

// activate makes leaf the provisioner's and the network's active leaf and
// performs the validator's duties for it.
func (n *Node) activate(leaf types.Hash, h types.Header, old types.Hash) {
	n.mu.Lock()
	n.leaf = leaf
	n.held.newLeaf(leaf)
	n.mu.Unlock()
	switchLeaf(n.prov, n.view, n.net, leaf, h.Number, old)
	if !old.IsZero() {
		n.backing.prune(old)
	}
	// Candidates whose votes came before the leaf they build on was
	// imported here could not be given their validation data then: the
	// leaf may be that one.
	for _, r := range n.backing.resolve() {
		n.countHeld(leaf, kindCandidate)
		n.prov.feed(r.rp, r.cand)
	}
}

// leafProvisioner and leafGossip are the parts of a node switchLeaf
// tells about a new best block (provService and p2p.Node).
type (
	leafProvisioner interface {
		activate(leaf types.Hash, number types.BlockNumber, old types.Hash)
	}
	leafGossip interface {
		LeafActivated(types.Hash)
		PruneRelayParent(types.Hash)
	}
)

// switchLeaf makes leaf the node's only leaf, in an order that loses
// nothing. The provisioner hears of it first: the gossip view accepts
// messages for the leaf from the moment setLeaf returns, and parked ones
// are replayed once LeafActivated kicks the park loop, and each accepted
// message is fed to the provisioner's queue right away. Fed before the
// leaf's activation is in that queue, it would be refused as "not an
// active leaf" and lost for good (gossipsub has marked it seen): one run
// in twenty under sybil-join lost four bitfields and every candidate of
// a block that way.
func switchLeaf(prov leafProvisioner, view *netView, gossip leafGossip, leaf types.Hash, number types.BlockNumber, old types.Hash) {
	prov.activate(leaf, number, old)
	view.setLeaf(leaf, old)
	// Gossip parked for this leaf (it outran the announcement) is
	// replayed now.
	gossip.LeafActivated(leaf)
	if !old.IsZero() {
		gossip.PruneRelayParent(old)
	}
}

func (n *Node) importAnnouncement(ctx context.Context, a *p2p.BlockAnnouncement) {
	var body BlockBody
	if err := types.DecodeOwned(a.Body, &body, codec.DefaultLimits); err != nil {
		log.Warnw("undecodable block body", "number", a.Header.Number, "err", err)
		return
	}
	b := &Block{Header: a.Header, Body: body}
	imp, err := n.chain.Import(b)
	if err != nil {
		log.Warnw("block refused", "number", a.Header.Number, "err", err)
		return
	}
	if imp == nil {
		return
	}
	n.imported.Store(true)
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.Block(b, imp, time.Now())
	}
	if n.kp != nil && imp.Result != nil && hasInvalid(b) {
		n.duty.pushApproval(b, imp)
	}
	log.Debugw("imported", "number", imp.Header.Number, "hash", imp.Hash, "author", imp.Author, "best", imp.BecameBest)
	if !imp.BecameBest {
		return
	}
	n.activate(imp.Hash, imp.Header, imp.OldBest)
	if n.kp != nil {
		n.pushLeaf(imp.Hash)
	}
}

// pushLeaf hands a new leaf to the duty worker, and its bitfields to the
// bitfield queue, due bitfieldDelay from now.
func (n *Node) pushLeaf(leaf types.Hash) {
	n.duty.pushLeaf(leaf)
	n.bits.push(leaf, time.Now().Add(n.bitfieldDelay))
}

// author builds the block of slot on the best block: fetch the inherent
// from this node's provisioner over the inherent protocol (falling back to
// the empty inherent on error or timeout, as Polkadot's builder does),
// apply the runtime's checks, seal and announce.
func (n *Node) author(ctx context.Context, slot uint64) {
	n.mu.Lock()
	leaf := n.leaf
	n.mu.Unlock()
	parent, st, err := n.chain.HeaderAndState(leaf)
	if err != nil {
		return
	}
	if ps, err := n.chain.Slot(leaf); err == nil && ps >= slot {
		return
	}
	if err := n.connectBuilder(ctx); err != nil {
		log.Warnw("block builder cannot reach its node", "err", err)
	}
	start := time.Now()
	res := n.client.InherentData(ctx, n.net.ID(), &parent)
	fetch := time.Since(start)
	if res.Err != nil {
		log.Warnw("inherent fetch fell back to the empty inherent", "slot", slot, "leaf", leaf, "err", res.Err)
	}
	// The runtime's create_inherent keeps what enter will accept, within
	// the block's weight; when it cannot build on the data at all, the
	// block carries the empty inherent, as Polkadot's author falls back.
	kept, next, out, err := sanitize(n.chain.rt, st, &parent, res.Data)
	if err != nil {
		log.Warnw("inherent unusable, building with the empty inherent", "slot", slot, "err", err)
		if kept, next, out, err = sanitize(n.chain.rt, st, &parent, &types.InherentData{ParentHeader: parent}); err != nil {
			log.Errorw("empty inherent refused", "slot", slot, "err", err)
			return
		}
	}
	if len(out.Filtered) > 0 {
		log.Warnw("block builder dropped inherent items the runtime would refuse", "filtered", out.Filtered)
	}
	author := n.g.SlotAuthor(slot)
	kp := n.hosted.get(author)
	if kp == nil {
		return
	}
	b := BuildBlock(kp, author, slot, &parent, kept, next, uint32(fetch.Microseconds()), res.FellBack)
	a := &p2p.BlockAnnouncement{Header: b.Header, Body: types.Encode(&b.Body)}
	if err := n.net.PublishAnnouncement(ctx, a); err != nil && ctx.Err() == nil {
		log.Warnw("announce", "slot", slot, "err", err)
	}
	log.Infow("authored", "number", b.Header.Number, "slot", slot, "bitfields", len(kept.Bitfields),
		"backed", len(kept.BackedCandidates), "fetch", fetch, "fallback", res.FellBack)
}

// keepBuilderConnected connects the block builder to its node and
// reconnects it whenever the connection drops, until ctx ends.
func (n *Node) keepBuilderConnected(ctx context.Context) {
	t := time.NewTicker(builderRedial)
	defer t.Stop()
	for {
		if err := n.connectBuilder(ctx); err != nil && ctx.Err() == nil {
			log.Debugw("block builder cannot reach its node yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// builderRedial is how often a disconnected block builder redials.
const builderRedial = 500 * time.Millisecond

func (n *Node) connectBuilder(ctx context.Context) error {
	if len(n.builder.Network().ConnsToPeer(n.net.ID())) > 0 {
		return nil
	}
	ai := peer.AddrInfo{ID: n.net.ID(), Addrs: n.net.Host().Addrs()}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return n.builder.Connect(cctx, ai)
}

// Sink: validated gossip from the network.

func (n *Node) Bitfield(rp types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) {
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.Bitfield(rp, bf.ValidatorIndex, time.Now())
	}
	n.chain.rememberBitfield(rp, bf)
	n.countHeld(rp, kindBitfield)
	n.prov.feed(rp, &provisioner.SignedBitfield{Bitfield: *bf})
}

func (n *Node) BackedCandidate(rp types.Hash, c *types.BackedCandidate) {
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.Candidate(rp, time.Now())
	}
	n.chain.rememberBacked(c)
	if full := n.backing.add(rp, c); full != nil {
		// Counted for the best leaf, which takes every candidate whose
		// relay parent its window holds.
		n.mu.Lock()
		leaf := n.leaf
		n.mu.Unlock()
		n.countHeld(leaf, kindCandidate)
		n.prov.feed(rp, full)
	}
}

func (n *Node) Dispute(set *types.DisputeStatementSet) {
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.DisputeRaised(set)
		n.cfg.Recorder.Dispute(time.Now())
	}
	n.mu.Lock()
	leaf := n.leaf
	n.held.Disputes++
	n.mu.Unlock()
	n.prov.feed(leaf, &provisioner.DisputeStatements{Set: *set})
}

func (n *Node) Misbehavior(r *types.MisbehaviorReport) {
	n.mu.Lock()
	leaf := n.leaf
	n.held.Misbehavior++
	n.mu.Unlock()
	n.prov.feed(leaf, &provisioner.MisbehaviorReport{Report: *r})
}

func (n *Node) Announcement(a *p2p.BlockAnnouncement) {
	select {
	case n.imports <- a:
	default:
		log.Warnw("import queue full, announcement dropped", "number", a.Header.Number)
	}
}
