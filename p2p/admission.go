package p2p

import (
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Admission by session key (DESIGN.md section 4). Three classes of peers:
//
//   - admitted: a verified validator record (record.go), or listed in
//     Config.TrustedPeers or DirectPeers. They gossip.
//   - builders (Config.BuilderPeers): they may use the inherent and author
//     protocols, and nothing else.
//   - strangers: everyone else. At most AdmissionConfig.MaxStrangers of
//     them are connected at a time; they get no gossip and no inherent.
//
// Gossip is closed to strangers through the peer score rather than a
// subscription filter: gossipsub's AppSpecificScore puts a stranger far
// below the graylist threshold, so the router ignores its RPCs (after
// noting its subscriptions, which lets a validator whose record verifies a
// moment after it connected be grafted at the next heartbeat), never
// grafts it, never floods to it (publish threshold) and never gossips
// IHAVE to it (gossip threshold). A subscription filter cannot do this: it
// sees only topic names, not whether a peer has proved anything.
//
// Connections are gated (connGater): banned peers are refused both ways;
// inbound strangers beyond the quota are refused, except that a stranger
// whose record exchange already failed is evicted to make room, so a
// flood of identities that cannot show a record churns among itself and
// a validator still gets in. Validators are protected in the connection
// manager and redialled from the addresses of their records.

// strangerScore is the application score of a peer that is not admitted:
// far below any sensible graylist threshold (the default is -80), so no
// amount of positive topic score lifts a stranger into the mesh.
const strangerScore = -1e6

// appSpecificWeight weighs the application score in gossipsub's score.
const appSpecificWeight = 1

// admission is the node's admission state. The connection gater is built
// before the host and so before the Node; everything it needs is here.
type admission struct {
	cfg *AdmissionConfig
	// open: RequireRecords is off, everyone is admitted (bans and junk
	// still apply).
	open     bool
	trusted  map[peer.ID]bool // TrustedPeers and DirectPeers
	builders map[peer.ID]bool // nil: any peer may build
	static   map[peer.ID]bool // bootnodes: dialled by us, admitted as a connection

	mu        sync.Mutex
	verified  map[peer.ID][]PeerValidator // connected peers with a verified record: the keys counted for them
	claims    map[PeerValidator]int       // connected peers counted for each key (MaxPeersPerValidator)
	known     map[peer.ID]knownValidator
	strangers map[peer.ID]*stranger
	bans      map[peer.ID]time.Time
	junk      map[peer.ID]*junkCount
	evict     chan peer.ID // strangers to disconnect, drained by the node's admission loop
	now       func() time.Time
}

// knownValidator is a validator peer seen with a verified record: it is
// redialled when disconnected and admitted at once when it connects.
type knownValidator struct {
	vs    []PeerValidator
	addrs []ma.Multiaddr
	seen  time.Time
}

// stranger is a connected (or admitted, connecting) stranger.
type stranger struct {
	since time.Time
	// judged is set once its record exchange ended without a verified
	// record: it may then be evicted for a newcomer.
	judged bool
}

// maxKnownValidators bounds the remembered validator peers per validator
// of the set (several peer ids per key over restarts).
const maxKnownPerValidator = 4

func newAdmission(cfg *Config, static []peer.AddrInfo) *admission {
	a := &admission{
		cfg:       &cfg.Admission,
		open:      !cfg.Admission.RequireRecords,
		trusted:   make(map[peer.ID]bool),
		static:    make(map[peer.ID]bool),
		verified:  make(map[peer.ID][]PeerValidator),
		claims:    make(map[PeerValidator]int),
		known:     make(map[peer.ID]knownValidator),
		strangers: make(map[peer.ID]*stranger),
		bans:      make(map[peer.ID]time.Time),
		junk:      make(map[peer.ID]*junkCount),
		evict:     make(chan peer.ID, 64),
		now:       time.Now,
	}
	for _, p := range cfg.TrustedPeers {
		a.trusted[p] = true
	}
	if cfg.BuilderPeers != nil {
		a.builders = make(map[peer.ID]bool, len(cfg.BuilderPeers))
		for _, p := range cfg.BuilderPeers {
			a.builders[p] = true
		}
	}
	for _, ai := range static {
		a.static[ai.ID] = true
	}
	return a
}

// admitted reports whether p may gossip: a verified validator or trusted.
func (a *admission) admitted(p peer.ID) bool {
	if a.open || a.trusted[p] {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.verified[p]
	return ok
}

// builderAllowed reports whether p may use the builder protocols.
func (a *admission) builderAllowed(p peer.ID) bool {
	return a.builders == nil || a.builders[p]
}

// appScore is gossipsub's AppSpecificScore: the stranger floor plus the
// junk penalty. It runs inside the router's event loop, so it only reads
// memory.
func (a *admission) appScore(p peer.ID) float64 {
	base := 0.0
	if !a.admitted(p) {
		base = strangerScore
	}
	return base + a.junkPenalty(p)
}

// setVerified records p's verified record (and remembers its addresses
// for redialling). false when the validator already has
// MaxPeersPerValidator connected peer ids: p stays a stranger.
func (a *admission) setVerified(p peer.ID, v PeerValidator, addrs []ma.Multiaddr) bool {
	return len(a.setVerifiedAll(p, []PeerValidator{v}, addrs)) > 0
}

// setVerifiedAll records the verified keys of p, a node that may host
// several validators, and remembers its addresses for redialling. It
// returns the keys counted for p: those not already claimed by
// MaxPeersPerValidator other connected peers, so that one key admits no
// more peer ids than it did when a peer held one key. None: p stays (or
// becomes again) a stranger. The cost is linear in len(vs): the claims
// are counted per key, not found by walking every peer.
func (a *admission) setVerifiedAll(p peer.ID, vs []PeerValidator, addrs []ma.Multiaddr) []PeerValidator {
	a.mu.Lock()
	defer a.mu.Unlock()
	// A second verification of p (a new session's records) replaces its
	// claims: p does not compete with itself.
	a.unclaimLocked(p)
	var kept []PeerValidator
	seen := make(map[PeerValidator]bool, len(vs))
	for _, v := range vs {
		if seen[v] || a.claims[v] >= a.cfg.MaxPeersPerValidator {
			continue
		}
		seen[v] = true
		a.claims[v]++
		kept = append(kept, v)
	}
	if len(kept) == 0 {
		return nil
	}
	a.verified[p] = kept
	delete(a.strangers, p)
	if _, ok := a.known[p]; !ok && len(a.known) >= maxKnownPerValidator*max(1, len(a.verified))+64 {
		a.forgetOldestKnownLocked()
	}
	a.known[p] = knownValidator{vs: kept, addrs: addrs, seen: a.now()}
	return kept
}

// unclaimLocked drops p's verified keys and their claims.
func (a *admission) unclaimLocked(p peer.ID) {
	for _, v := range a.verified[p] {
		if a.claims[v]--; a.claims[v] <= 0 {
			delete(a.claims, v)
		}
	}
	delete(a.verified, p)
}

// validatorsOf are the keys counted for p (nil: none).
func (a *admission) validatorsOf(p peer.ID) []PeerValidator {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.verified[p])
}

func (a *admission) forgetOldestKnownLocked() {
	var oldest peer.ID
	var at time.Time
	for p, k := range a.known {
		if _, connected := a.verified[p]; connected {
			continue
		}
		if oldest == "" || k.seen.Before(at) {
			oldest, at = p, k.seen
		}
	}
	delete(a.known, oldest)
}

// knownPeers are the remembered validator peers (for redialling).
func (a *admission) knownPeers() []peer.AddrInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(a.known))
	for p, k := range a.known {
		if len(k.addrs) > 0 {
			out = append(out, peer.AddrInfo{ID: p, Addrs: k.addrs})
		}
	}
	slices.SortFunc(out, func(x, y peer.AddrInfo) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}

// judged marks a stranger whose record exchange ended without a verified
// record. Past MaxStrangers judged strangers, the oldest is evicted.
func (a *admission) judged(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.strangers[p]
	if s == nil || s.judged {
		return
	}
	s.judged = true
	if a.trusted[p] || a.static[p] || (a.builders != nil && a.builders[p]) {
		delete(a.strangers, p) // exempt: not a stranger for the quota
		return
	}
	n := 0
	var victim peer.ID
	var at time.Time
	for q, t := range a.strangers {
		if !t.judged {
			continue
		}
		n++
		if victim == "" || t.since.Before(at) {
			victim, at = q, t.since
		}
	}
	if n <= a.cfg.MaxStrangers {
		return
	}
	select {
	case a.evict <- victim:
		delete(a.strangers, victim)
	default:
		// The admission loop is behind; the next judgement retries.
	}
}

// disconnected forgets p's connection state (not its ban, junk or known
// addresses).
func (a *admission) disconnected(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unclaimLocked(p)
	delete(a.strangers, p)
}

// exempt peers are admitted as connections whatever the quota.
func (a *admission) exempt(p peer.ID) bool {
	if a.open || a.trusted[p] || a.static[p] || (a.builders != nil && a.builders[p]) {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, v := a.verified[p]
	_, k := a.known[p]
	return v || k
}

// admitStranger takes a slot for an inbound peer not known to be a
// validator. Two quotas: MaxPending peers whose record exchange is still
// running (a validator connecting for the first time is one of them until
// its record verifies, so a restart of the whole network must fit), and
// MaxStrangers judged ones (judged evicts past it). false refuses p.
func (a *admission) admitStranger(p peer.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.strangers[p]; ok {
		return true // a second connection of an admitted stranger
	}
	pending := 0
	for _, s := range a.strangers {
		if !s.judged {
			pending++
		}
	}
	if pending >= a.cfg.MaxPending {
		return false
	}
	a.strangers[p] = &stranger{since: a.now()}
	return true
}

// sweepStrangers drops slots of strangers that never completed their
// connection (the gater admitted them, the upgrade then failed).
func (a *admission) sweepStrangers(connected func(peer.ID) bool, olderThan time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for p, s := range a.strangers {
		if now.Sub(s.since) > olderThan && !connected(p) {
			delete(a.strangers, p)
		}
	}
}

// ban refuses p for d; it reports whether p was not banned already.
func (a *admission) ban(p peer.ID, d time.Duration) bool {
	if a.trusted[p] {
		return false // an operator's explicit choice outranks the score
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.bans[p]
	now := a.now()
	a.bans[p] = now.Add(d)
	return !ok || !until.After(now)
}

func (a *admission) banned(p peer.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.bans[p]
	if !ok {
		return false
	}
	if !until.After(a.now()) {
		delete(a.bans, p)
		return false
	}
	return true
}

// bannedPeers lists the peers banned now.
func (a *admission) bannedPeers() []peer.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []peer.ID
	for p, until := range a.bans {
		if until.After(now) {
			out = append(out, p)
		} else {
			delete(a.bans, p)
		}
	}
	slices.Sort(out)
	return out
}

// junkCount is a peer's exponentially decaying count of junk messages,
// with how many of each reason it ever sent (for the log line of a ban).
type junkCount struct {
	n       float64
	at      time.Time
	reasons map[string]int
}

func (j *junkCount) value(now time.Time, halfLife time.Duration) float64 {
	dt := now.Sub(j.at)
	if dt <= 0 {
		return j.n
	}
	return j.n * math.Exp2(-float64(dt)/float64(halfLife))
}

// maxJunkPeers bounds the junk table; past it the smallest counts go.
const maxJunkPeers = 4096

// addJunk counts w junk messages of the given reason against p.
// It returns p's junk penalty with them (see junkPenalty).
func (a *admission) addJunk(p peer.ID, w float64, reason string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	j := a.junk[p]
	if j == nil {
		if len(a.junk) >= maxJunkPeers {
			a.decayJunkLocked(now)
		}
		j = &junkCount{at: now}
		a.junk[p] = j
	}
	j.n = j.value(now, a.cfg.JunkHalfLife) + w
	j.at = now
	if j.reasons == nil {
		j.reasons = make(map[string]int, 2)
	}
	j.reasons[reason]++
	return a.penaltyLocked(j, now)
}

// junkReasons is a copy of p's junk counts by reason (nil without junk).
func (a *admission) junkReasons(p peer.ID) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if j := a.junk[p]; j != nil {
		return maps.Clone(j.reasons)
	}
	return nil
}

// decayJunkLocked drops the counts that no longer cost anything.
func (a *admission) decayJunkLocked(now time.Time) {
	for p, j := range a.junk {
		if j.value(now, a.cfg.JunkHalfLife) < a.cfg.JunkGrace {
			delete(a.junk, p)
		}
	}
}

// junkBelow lists the peers whose junk penalty alone is below th.
func (a *admission) junkBelow(th float64) []peer.ID {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var out []peer.ID
	for p, j := range a.junk {
		if a.penaltyLocked(j, now) < th {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// junkPenalty is the (negative) score cost of p's junk.
func (a *admission) junkPenalty(p peer.ID) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	j := a.junk[p]
	if j == nil {
		return 0
	}
	return a.penaltyLocked(j, a.now())
}

// penaltyLocked is the score cost of j at now: nothing within the grace,
// JunkWeight for each junk message past it. Callers hold mu.
func (a *admission) penaltyLocked(j *junkCount, now time.Time) float64 {
	over := j.value(now, a.cfg.JunkHalfLife) - a.cfg.JunkGrace
	if over <= 0 {
		return 0
	}
	return over * a.cfg.JunkWeight
}

// connGater is the libp2p connection gater of the node.
type connGater struct{ a *admission }

func (g connGater) InterceptPeerDial(p peer.ID) bool             { return !g.a.banned(p) }
func (g connGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g connGater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }

// InterceptSecured decides on a connection once the peer id is proven:
// banned peers never, outbound dials (we chose the peer) and exempt peers
// always, other inbound peers within the stranger quota.
func (g connGater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if g.a.banned(p) {
		return false
	}
	if dir == network.DirOutbound || g.a.exempt(p) {
		return true
	}
	return g.a.admitStranger(p)
}

func (g connGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// admissionLoop disconnects evicted strangers, bans and disconnects peers
// whose behaviour graylisted them, and drops stale stranger slots.
func (n *Node) admissionLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Gossip.ScoreInspectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case p := <-n.adm.evict:
			n.m.admission.WithLabelValues("evicted").Inc()
			_ = n.host.Network().ClosePeer(p)
		case <-t.C:
			n.banGraylisted()
			n.adm.sweepStrangers(func(p peer.ID) bool {
				return n.host.Network().Connectedness(p) == network.Connected
			}, 10*time.Second)
		}
	}
}

// banGraylisted bans and disconnects every peer whose score, without the
// stranger floor, is below the graylist threshold: its RPCs are ignored
// anyway, and its connection is better given to someone else.
func (n *Node) banGraylisted() {
	th := n.Thresholds()
	n.scoreMu.RLock()
	var bad []peer.ID
	for p, s := range n.behaviour {
		// Below the threshold in two snapshots in a row: a ban is costly
		// to undo, and one snapshot may straddle the moment a stranger
		// was admitted (gossipsub asks for the application score twice,
		// once for the score and once for the snapshot's part; see
		// snapshotFloor). A peer that keeps misbehaving is cut off one
		// inspection interval later.
		if prev, ok := n.prevBehaviour[p]; ok && s < th.Graylist && prev < th.Graylist {
			bad = append(bad, p)
		}
	}
	n.scoreMu.RUnlock()
	// Junk alone below the threshold: banned whether or not gossipsub has
	// scored the peer. gossipsub keeps a score record only for a peer it
	// has opened its own stream to; until then the peer scores 0, its
	// RPCs are read and its junk judged, yet it appears in no snapshot. An
	// identity of a validator turned bad was judged 3,790 times by one node
	// that way, cut off 1.5 s after the other nodes.
	for _, p := range n.adm.junkBelow(th.Graylist) {
		if !slices.Contains(bad, p) {
			bad = append(bad, p)
		}
	}
	for _, p := range bad {
		n.banForBehaviour(p)
		if n.host.Network().Connectedness(p) == network.Connected {
			_ = n.host.Network().ClosePeer(p)
		}
	}
}

// banForBehaviour bans p for BanDuration, counting and logging the first
// ban; it reports whether p was not banned already.
func (n *Node) banForBehaviour(p peer.ID) bool {
	if !n.adm.ban(p, n.cfg.Admission.BanDuration) {
		return false
	}
	n.m.admission.WithLabelValues("banned").Inc()
	kv := []any{"peer", p, "for", n.cfg.Admission.BanDuration, "validator", n.adm.admitted(p)}
	kv = append(kv, n.scoreParts(p)...)
	if r := n.adm.junkReasons(p); r != nil {
		kv = append(kv, "junk", r)
	}
	log.Infow("peer graylisted: banned and disconnected", kv...)
	return true
}

// junk counts w junk messages of reason against p, and bans and
// disconnects p the moment its junk alone takes it below the graylist
// threshold, from the goroutine that judged the message. Waiting for the
// admission loop's next inspection is not enough under a flood: that
// goroutine queues behind thousands of validations, and nodes cut a bad
// identity off 1.5-2.5 s after the others. The inspection stays as the
// backstop (and for gossipsub's own score).
func (n *Node) junk(p peer.ID, w float64, reason string) {
	if n.adm.addJunk(p, w, reason) >= n.Thresholds().Graylist || !n.banForBehaviour(p) {
		return
	}
	if !n.beginHandler() {
		return // closing: the host goes with the node
	}
	go func() {
		defer n.handlers.Done()
		_ = n.host.Network().ClosePeer(p)
	}()
}

// Ban disconnects p and refuses it for d (at least BanDuration when d is
// 0). Trusted peers are never banned.
func (n *Node) Ban(p peer.ID, d time.Duration) {
	if d <= 0 {
		d = n.cfg.Admission.BanDuration
	}
	if n.adm.ban(p, d) {
		n.m.admission.WithLabelValues("banned").Inc()
	}
	if n.adm.banned(p) {
		_ = n.host.Network().ClosePeer(p)
	}
}

// BannedPeers are the peers banned now (graylisted for their behaviour,
// or by Ban), sorted.
func (n *Node) BannedPeers() []peer.ID { return n.adm.bannedPeers() }

// Admitted reports whether p may gossip with this node: a session
// validator by a verified record, a trusted or a direct peer.
func (n *Node) Admitted(p peer.ID) bool { return n.adm.admitted(p) }
