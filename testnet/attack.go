package testnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// The testnet's attacker (--attack KIND[:RATE]). Each attack is sent from
// two sides at once:
//
//   - outsiders: fresh libp2p identities run by this process, with no
//     validator record: strangers to every node;
//   - validators turned bad (--adversaries K): for each of the last K
//     validators, identities that present a record signed by that
//     validator's key, so the nodes admit them to gossip as they would
//     the validator itself. Node processes cannot be told to attack (the
//     provisioner binary only knows --adversary), so this process holds
//     the bad validators' keys and attacks from a second identity of
//     theirs, which is what a hostile validator would do anyway: its
//     junk then costs that identity, not its honest node.
//
// The attacker notes what it sees from its side (refused dials, resets,
// grafts and gossip it received, inherents it got, the time from an
// identity's first junk to its disconnection); the nodes' own counters say
// what they refused (Run scrapes them before and after).

// AttackKind names an attack.
type AttackKind string

const (
	AttackSybilJoin    AttackKind = "sybil-join"    // fresh identities join every topic
	AttackUnknownLeaf  AttackKind = "unknown-leaf"  // signed gossip for relay parents that are no leaf
	AttackSlowFrames   AttackKind = "slow-frames"   // unfinished 4 MiB gossip frames, stalled
	AttackInherentSpam AttackKind = "inherent-spam" // strangers fetching inherents
	AttackConnFlood    AttackKind = "conn-flood"    // identities dialling and holding connections
	AttackGarbage      AttackKind = "garbage"       // random bytes on every topic
)

// AttackKinds lists the attacks in the order the report shows them.
var AttackKinds = []AttackKind{AttackSybilJoin, AttackUnknownLeaf, AttackSlowFrames, AttackInherentSpam, AttackConnFlood, AttackGarbage}

// defaultAttackRates per second, per side (the outsiders together, and
// each bad validator). Messages for unknown-leaf and garbage: twice the
// gossip of a 100-validator network's bitfields per block, from one
// sender. Identities for sybil-join and conn-flood, frames for
// slow-frames, requests for inherent-spam: each costs this process a
// libp2p host, so the defaults stay within what one 2-core machine runs
// beside ten nodes.
var defaultAttackRates = map[AttackKind]float64{
	AttackSybilJoin: 10, AttackUnknownLeaf: 200, AttackSlowFrames: 10,
	AttackInherentSpam: 20, AttackConnFlood: 20, AttackGarbage: 200,
}

// attackUnits says what RATE counts.
var attackUnits = map[AttackKind]string{
	AttackSybilJoin: "identities/s", AttackUnknownLeaf: "messages/s", AttackSlowFrames: "frames/s",
	AttackInherentSpam: "requests/s", AttackConnFlood: "identities/s", AttackGarbage: "messages/s",
}

// maxAttackRate bounds RATE: beyond it the attacker, not the nodes, is what
// a run would measure.
const maxAttackRate = 10_000

// Attack is one --attack.
type Attack struct {
	Kind AttackKind `json:"kind"`
	Rate float64    `json:"rate"`
}

func (a Attack) String() string {
	return string(a.Kind) + ":" + strconv.FormatFloat(a.Rate, 'f', -1, 64)
}

// ParseAttack reads KIND[:RATE]; RATE defaults per kind.
func ParseAttack(s string) (Attack, error) {
	kind, rate, hasRate := strings.Cut(s, ":")
	a := Attack{Kind: AttackKind(kind)}
	def, ok := defaultAttackRates[a.Kind]
	if !ok {
		names := make([]string, len(AttackKinds))
		for i, k := range AttackKinds {
			names[i] = string(k)
		}
		return Attack{}, usagef("--attack %q: unknown kind %q (want one of %s)", s, kind, strings.Join(names, ", "))
	}
	a.Rate = def
	if hasRate {
		r, err := strconv.ParseFloat(rate, 64)
		if err != nil || !(r > 0) || r > maxAttackRate {
			return Attack{}, usagef("--attack %q: RATE must be a number in (0, %d] (%s)", s, maxAttackRate, attackUnits[a.Kind])
		}
		a.Rate = r
	}
	return a, nil
}

// AttackReport is what one attack did and what it got (Report.Attacks).
type AttackReport struct {
	Kind AttackKind `json:"kind"`
	Rate float64    `json:"rate"`
	Unit string     `json:"unit"`
	// Outsiders and BadValidators: the attacker's own view of each side.
	Outsiders     AttackSide  `json:"outsiders"`
	BadValidators *AttackSide `json:"bad_validators,omitempty"`
	// Refused: the nodes' counters that this attack moves, summed over
	// the nodes, counted from the attack's start (name{label}: count; zero
	// counts left out). Attacks run together share these counters.
	Refused map[string]float64 `json:"refused"`
}

// AttackSide is one side's view of an attack.
type AttackSide struct {
	Identities int `json:"identities"`
	// Sent: messages, frames or requests sent; Skipped: ones the
	// attacker dropped because its own cap of live identities was full.
	Sent    int `json:"sent"`
	Skipped int `json:"skipped,omitempty"`
	// DialRefused: connections the node refused (gater, quota);
	// Connected: ones it took; Disconnected: taken, then closed by the
	// node while the identity still held them.
	DialRefused  int `json:"dial_refused"`
	Connected    int `json:"connected"`
	Disconnected int `json:"disconnected"`
	// Grafts and GossipReceived: GRAFTs and gossip messages the nodes sent
	// to these identities (a node that never meshes with them sends
	// neither).
	Grafts         int `json:"grafts"`
	GossipReceived int `json:"gossip_received"`
	// GossipFrom names who sent the gossip messages ("node N: count", or
	// a peer id that is no node), so that a leak says where it is.
	GossipFrom []string `json:"gossip_from,omitempty"`
	// Inherents: inherent requests answered with data; InherentRefused:
	// reset unanswered; InherentBusy and InherentOther: answered with busy
	// or another error code.
	Inherents       int `json:"inherents,omitempty"`
	InherentRefused int `json:"inherent_refused,omitempty"`
	InherentBusy    int `json:"inherent_busy,omitempty"`
	InherentOther   int `json:"inherent_other,omitempty"`
	// StreamsReset: slow frames the node reset; ResetMillis: how long
	// after the frame's first bytes.
	StreamsReset int            `json:"streams_reset,omitempty"`
	ResetMillis  *DurationStats `json:"reset_ms,omitempty"`
	// CutoffMillis: per identity and node, the time from the first junk
	// the node could judge to the node disconnecting the identity;
	// CutoffMissed: pairs still connected cutoffTarget after it. That junk
	// is the latest of the identity's first junk, the node's fetch of its
	// record (until then the identity is a stranger whose gossip the node
	// drops unread) and its first message queued for the node on the
	// stream open at the cut (gossipIdentity.cutoffs). AdmittedAfterJunk
	// counts the pairs where the record came after the first junk,
	// NeverAdmitted those where the node never fetched it, and NoJunkSent
	// those the identity sent nothing before the cut: neither is judged.
	CutoffMillis      *DurationStats `json:"cutoff_ms,omitempty"`
	CutoffMissed      int            `json:"cutoff_missed,omitempty"`
	AdmittedAfterJunk int            `json:"admitted_after_junk,omitempty"`
	NeverAdmitted     int            `json:"never_admitted,omitempty"`
	NoJunkSent        int            `json:"no_junk_sent,omitempty"`
	// ProbesAdmitted of ProbesTried: during a conn-flood, a fresh identity
	// of a real validator dials a node once a second; admitted means the
	// node took the connection and fetched its record.
	ProbesTried    int `json:"probes_tried,omitempty"`
	ProbesAdmitted int `json:"probes_admitted,omitempty"`
}

// DurationStats summarises durations in milliseconds.
type DurationStats struct {
	N      int     `json:"n"`
	P50    float64 `json:"p50"`
	Max    float64 `json:"max"`
	Within int     `json:"within_1s"`
}

func durationStats(ds []time.Duration) *DurationStats {
	if len(ds) == 0 {
		return nil
	}
	ms := make([]float64, len(ds))
	st := &DurationStats{N: len(ds)}
	for i, d := range ds {
		ms[i] = float64(d.Microseconds()) / 1000
		if d <= cutoffTarget {
			st.Within++
		}
	}
	sort.Float64s(ms)
	st.P50, st.Max = ms[len(ms)/2], ms[len(ms)-1]
	return st
}

// refusedFamilies: the node counters each attack moves (metric names
// without the provisioner_p2p_ prefix).
var refusedFamilies = map[AttackKind][]string{
	AttackSybilJoin:    {"validator_records_total", "admission_total", "gossip_rejected_total"},
	AttackUnknownLeaf:  {"gossip_ignored_total", "parked_total", "admission_total", "gossip_rejected_total"},
	AttackSlowFrames:   {"frames_refused_total", "admission_total"},
	AttackInherentSpam: {"builder_unauthorized_total", "inherent_requests_total", "admission_total"},
	AttackConnFlood:    {"validator_records_total", "admission_total"},
	AttackGarbage:      {"gossip_rejected_total", "admission_total", "dropped_total"},
}

// Attack tuning. cutoffWait bounds how long a bad identity keeps sending
// after its first junk before it is judged not cut off and replaced;
// holdFor is how long a flooding or joining identity keeps its
// connection; maxLive caps this process's live attack identities per
// attack, so that the attacker cannot starve the nodes it shares the
// machine with of memory (a skipped identity is counted).
const (
	cutoffWait = 5 * time.Second
	// cutoffTarget is how soon after its first junk a bad identity must
	// be cut off (attack_cutoff_1s).
	cutoffTarget  = time.Second
	holdFor       = 10 * time.Second
	maxLive       = 200
	admissionWait = 500 * time.Millisecond
	slowFrameSize = 4 << 20
	slowFrameHold = 15 * time.Second
)

// attackEnv is what the attacker needs from the run.
type attackEnv struct {
	g       *Genesis
	targets []peer.AddrInfo
	// nodeOf is each target's node index.
	nodeOf map[peer.ID]int
	// bad are the validator indices turned bad (may be empty).
	bad []int
	// session is the session a record is signed for now; best is the
	// chain's best block, for building candidates.
	session func() types.SessionIndex
	best    func() (types.Header, *State)
}

// attacker runs the attacks; stop ends them and returns the reports.
type attacker struct {
	env     attackEnv
	attacks []Attack
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	keys    map[int]*types.Keypair

	mu    sync.Mutex
	sides map[attackSideKey]*sideStats
}

type attackSideKey struct {
	kind    AttackKind
	insider bool
}

// sideStats accumulates an AttackSide.
type sideStats struct {
	AttackSide
	resets, cutoffs []time.Duration
	live            atomic.Int32
	gossipFrom      map[string]int
}

// startAttacks starts every attack from both sides; the goroutines it
// starts end with ctx or stop.
func startAttacks(ctx context.Context, env attackEnv, attacks []Attack) (*attacker, error) {
	ctx, cancel := context.WithCancel(ctx)
	a := &attacker{env: env, attacks: attacks, cancel: cancel, keys: map[int]*types.Keypair{}, sides: map[attackSideKey]*sideStats{}}
	for _, v := range append([]int{0, len(env.g.Validators) - 1}, env.bad...) {
		kp, err := types.KeypairFromURI(DevURI(v))
		if err != nil {
			cancel()
			return nil, fmt.Errorf("attacker key of validator %d: %w", v, err)
		}
		a.keys[v] = kp
	}
	for i, at := range attacks {
		a.side(at.Kind, false)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.outsider(ctx, at, uint64(i))
		}()
		for _, v := range env.bad {
			a.side(at.Kind, true)
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.insider(ctx, at, v, uint64(i))
			}()
		}
		if at.Kind == AttackConnFlood {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.probeValidators(ctx, at.Kind)
			}()
		}
	}
	return a, nil
}

// stop ends the attacks, waits for every goroutine and returns the
// attacker's side of each report (Refused is Run's to fill).
func (a *attacker) stop() []AttackReport {
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AttackReport, 0, len(a.attacks))
	for _, at := range a.attacks {
		r := AttackReport{Kind: at.Kind, Rate: at.Rate, Unit: attackUnits[at.Kind], Refused: map[string]float64{}}
		r.Outsiders = a.sides[attackSideKey{at.Kind, false}].finish()
		if s := a.sides[attackSideKey{at.Kind, true}]; s != nil {
			side := s.finish()
			r.BadValidators = &side
		}
		out = append(out, r)
	}
	return out
}

// addGossipFrom adds the senders tr saw, named by name.
func (s *sideStats) addGossipFrom(tr *attackTracer, name func(peer.ID) string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for p, n := range tr.from {
		if s.gossipFrom == nil {
			s.gossipFrom = map[string]int{}
		}
		s.gossipFrom[name(p)] += n
	}
}

func (s *sideStats) finish() AttackSide {
	side := s.AttackSide
	side.ResetMillis = durationStats(s.resets)
	side.CutoffMillis = durationStats(s.cutoffs)
	for _, who := range slices.Sorted(maps.Keys(s.gossipFrom)) {
		side.GossipFrom = append(side.GossipFrom, fmt.Sprintf("%s: %d", who, s.gossipFrom[who]))
	}
	return side
}

func (a *attacker) side(k AttackKind, insider bool) *sideStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := attackSideKey{k, insider}
	s := a.sides[key]
	if s == nil {
		s = &sideStats{}
		a.sides[key] = s
	}
	return s
}

// note updates a side's counters under the attacker's lock.
func (a *attacker) note(s *sideStats, f func(*sideStats)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(s)
}

// pace calls send rate times a second (in ticks of 20 ms) until ctx ends.
func pace(ctx context.Context, rate float64, send func(i int)) {
	const tick = 20 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	credit, i := 0.0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		credit += rate * tick.Seconds()
		for ; credit >= 1; credit-- {
			if ctx.Err() != nil {
				return
			}
			send(i)
			i++
		}
	}
}

// newAttackHost is a light libp2p host: TCP only, no listener, no
// resource accounting (the attacker is not the one under test).
func newAttackHost() (host.Host, error) {
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return nil, fmt.Errorf("attack host: %w", err)
	}
	return h, nil
}

// serveRecord makes h answer the validator-record protocol with a record
// of validator v signed by kp; admitted is closed once a node asked.
func serveRecord(h host.Host, g *Genesis, session types.SessionIndex, v int, kp *types.Keypair) <-chan struct{} {
	return serveRecordTo(h, g, session, v, kp, nil)
}

// serveRecordTo is serveRecord that also tells onAsk (when not nil) which
// peer fetched the record, each time one did.
func serveRecordTo(h host.Host, g *Genesis, session types.SessionIndex, v int, kp *types.Keypair, onAsk func(peer.ID)) <-chan struct{} {
	asked := make(chan struct{})
	var once sync.Once
	key := &p2p.SessionKey{Session: session, Index: types.ValidatorIndex(v), Signer: kp}
	rec := p2p.SignValidatorRecord(g.Hash(), h.ID(), h.Addrs(), key)
	h.SetStreamHandler(p2p.ValidatorRecordProtocol(g.Hash()), func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := p2p.ReadFrame(bufio.NewReader(s), 64); err != nil {
			_ = s.Reset()
			return
		}
		if p2p.WriteFrame(s, someRecord{rec}) == nil {
			if onAsk != nil {
				onAsk(s.Conn().RemotePeer())
			}
			once.Do(func() { close(asked) })
		}
	})
	return asked
}

// connectAll dials every target, counting refusals; it returns the
// targets it is connected to.
func (a *attacker) connectAll(ctx context.Context, h host.Host, s *sideStats, targets []peer.AddrInfo) []peer.ID {
	var mu sync.Mutex
	var ok []peer.ID
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			err := h.Connect(cctx, t)
			a.note(s, func(s *sideStats) {
				if err != nil {
					s.DialRefused++
				} else {
					s.Connected++
				}
			})
			if err == nil {
				mu.Lock()
				ok = append(ok, t.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok
}

// gossipIdentity is an identity on the gossip topics: a host, a gossipsub
// router with the nodes' message-id rule, every topic joined and
// subscribed (its messages are never read: what counts is that a node
// sent them, which the tracer sees).
type gossipIdentity struct {
	h      host.Host
	ps     *pubsub.PubSub
	topics map[p2p.Kind]*pubsub.Topic
	subs   []*pubsub.Subscription
	tr     *attackTracer
	cancel context.CancelFunc
	// firstJunk and gone: when the identity sent its first junk, and when
	// each node disconnected it; askedAt: when each node fetched its
	// record (a bad validator's identity).
	mu        sync.Mutex
	firstJunk time.Time
	gone      map[peer.ID]time.Time
	askedAt   map[peer.ID]time.Time
	asked     <-chan struct{}
}

// attackTracer counts GRAFTs and messages that nodes send the identity
// (attack identities do not listen, so nothing else reaches them), and
// who sent the messages.
type attackTracer struct {
	grafts, msgs atomic.Int64
	mu           sync.Mutex
	from         map[peer.ID]int
	// firstSent holds, per peer and in order, when the identity's router
	// first queued published messages on each of its gossip streams to
	// the peer; open says the current stream has its entry. A node resets
	// the stream of a frame over the sender's limit, and what was queued
	// on it never arrived.
	firstSent map[peer.ID][]time.Time
	open      map[peer.ID]bool
}

// firstSentBy is when the identity first queued a published message on
// the last of its streams to p opened by t (by any time for a zero t);
// false if it sent p nothing by then.
func (t *attackTracer) firstSentBy(p peer.ID, by time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sent := t.firstSent[p]
	for i := len(sent) - 1; i >= 0; i-- {
		if by.IsZero() || !sent[i].After(by) {
			return sent[i], true
		}
	}
	return time.Time{}, false
}

// sent notes a published message m's sender. An identity registers no
// validators, so every message it receives is delivered, a duplicate or
// refused, and traced as exactly one of these.
func (t *attackTracer) sent(m *pubsub.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.from == nil {
		t.from = map[peer.ID]int{}
	}
	t.from[m.ReceivedFrom]++
}

func (t *attackTracer) RecvRPC(rpc *pubsub.RPC) {
	t.msgs.Add(int64(len(rpc.GetPublish())))
	if c := rpc.GetControl(); c != nil {
		t.grafts.Add(int64(len(c.GetGraft())))
	}
}
func (t *attackTracer) AddPeer(peer.ID, protocol.ID)             {}
func (t *attackTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *attackTracer) OnClosedOutboundStream(p peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, p)
}
func (t *attackTracer) RemovePeer(peer.ID)                        {}
func (t *attackTracer) Join(string)                               {}
func (t *attackTracer) Leave(string)                              {}
func (t *attackTracer) Graft(peer.ID, string)                     {}
func (t *attackTracer) Prune(peer.ID, string)                     {}
func (t *attackTracer) ValidateMessage(*pubsub.Message)           {}
func (t *attackTracer) DeliverMessage(m *pubsub.Message)          { t.sent(m) }
func (t *attackTracer) RejectMessage(m *pubsub.Message, _ string) { t.sent(m) }
func (t *attackTracer) DuplicateMessage(m *pubsub.Message)        { t.sent(m) }
func (t *attackTracer) ThrottlePeer(peer.ID)                      {}
func (t *attackTracer) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	if len(rpc.GetPublish()) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open[p] {
		return
	}
	if t.firstSent == nil {
		t.firstSent, t.open = map[peer.ID][]time.Time{}, map[peer.ID]bool{}
	}
	t.firstSent[p] = append(t.firstSent[p], time.Now())
	t.open[p] = true
}
func (t *attackTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (t *attackTracer) UndeliverableMessage(*pubsub.Message)                 {}
func (t *attackTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}

// newGossipIdentity makes an identity; with kp it presents validator v's
// record.
func (a *attacker) newGossipIdentity(ctx context.Context, v int, kp *types.Keypair) (*gossipIdentity, error) {
	h, err := newAttackHost()
	if err != nil {
		return nil, err
	}
	id := &gossipIdentity{h: h, topics: map[p2p.Kind]*pubsub.Topic{}, tr: &attackTracer{},
		gone: map[peer.ID]time.Time{}, askedAt: map[peer.ID]time.Time{}}
	if kp != nil {
		id.asked = serveRecordTo(h, a.env.g, a.env.session(), v, kp, func(p peer.ID) {
			id.mu.Lock()
			if _, ok := id.askedAt[p]; !ok {
				id.askedAt[p] = time.Now()
			}
			id.mu.Unlock()
		})
	}
	h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(nw network.Network, c network.Conn) {
		p := c.RemotePeer()
		if nw.Connectedness(p) == network.Connected {
			return
		}
		id.mu.Lock()
		if _, ok := id.gone[p]; !ok {
			id.gone[p] = time.Now()
		}
		id.mu.Unlock()
	}})
	pctx, cancel := context.WithCancel(ctx)
	id.cancel = cancel
	id.ps, err = pubsub.NewGossipSub(pctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(p2p.MessageID), pubsub.WithRawTracer(id.tr),
		// The default queue of 32 RPCs per peer drops most of a burst at
		// the attacker itself, and a node then sees the identity's junk
		// one burst later than the others (measured: cut-offs of 1.6-2.4 s
		// at 6,100 messages/s; with 4,096, still 1.7 s at 10,000).
		pubsub.WithPeerOutboundQueueSize(16384))
	if err != nil {
		id.close()
		return nil, fmt.Errorf("attack gossipsub: %w", err)
	}
	for _, k := range []p2p.Kind{p2p.KindBitfield, p2p.KindBackedCandidate, p2p.KindDispute, p2p.KindMisbehavior, p2p.KindAnnouncement} {
		t, err := id.ps.Join(p2p.TopicName(a.env.g.Hash(), k))
		if err != nil {
			id.close()
			return nil, fmt.Errorf("attack join: %w", err)
		}
		id.topics[k] = t
		// A small buffer: nothing reads it, and a node that never sends
		// fills nothing.
		if sub, err := t.Subscribe(pubsub.WithBufferSize(1)); err == nil {
			id.subs = append(id.subs, sub)
		}
	}
	return id, nil
}

func (id *gossipIdentity) close() {
	for _, s := range id.subs {
		s.Cancel()
	}
	if id.cancel != nil {
		id.cancel()
	}
	_ = id.h.Close()
}

func (id *gossipIdentity) junk(ctx context.Context, k p2p.Kind, data []byte) bool {
	id.mu.Lock()
	if id.firstJunk.IsZero() {
		id.firstJunk = time.Now()
	}
	id.mu.Unlock()
	return id.topics[k].Publish(ctx, data) == nil
}

// retire adds the identity's figures to s: its cut-offs (for identities
// that sent junk to nodes it was connected to), grafts and messages.
func (a *attacker) retire(id *gossipIdentity, s *sideStats, connected []peer.ID) {
	id.mu.Lock()
	cut, missed, late, never, unsent := id.cutoffs(connected, time.Now())
	disc := 0
	for _, p := range connected {
		if _, ok := id.gone[p]; ok {
			disc++
		}
	}
	id.mu.Unlock()
	a.note(s, func(s *sideStats) {
		s.cutoffs = append(s.cutoffs, cut...)
		s.CutoffMissed += missed
		s.AdmittedAfterJunk += late
		s.NeverAdmitted += never
		s.NoJunkSent += unsent
		s.Disconnected += disc
		s.Grafts += int(id.tr.grafts.Load())
		s.GossipReceived += int(id.tr.msgs.Load())
		s.addGossipFrom(id.tr, a.nodeName)
	})
	id.close()
}

// cutoffs judges a bad validator's identity against each node in
// connected, at now (id.mu held): the time from the first junk the node
// judged to its disconnection, for nodes that cut it off; missed, nodes
// still connected cutoffTarget after that junk (one retired sooner, when
// the run ended, is not judged); late, nodes that fetched its record only
// after its first junk (their junk counts from then: a stranger's gossip
// is dropped unread); never, nodes that never fetched it; unsent, nodes
// its router never sent a published message to. Junk counts from the
// latest of its first junk, the node's fetch of its record and its first
// message queued for the node on the gossip stream open when the node cut
// it off. An outsider (no record) is never admitted, its junk never
// judged, and its disconnection the stranger quota's doing: it gives
// nothing.
func (id *gossipIdentity) cutoffs(connected []peer.ID, now time.Time) (cut []time.Duration, missed, late, never, unsent int) {
	if id.asked == nil || id.firstJunk.IsZero() {
		return nil, 0, 0, 0, 0
	}
	for _, p := range connected {
		from := id.firstJunk
		asked, ok := id.askedAt[p]
		switch {
		case !ok:
			never++
			continue
		case asked.After(from):
			late++
			from = asked
		}
		// The node cannot judge junk before it is sent: the identity's
		// router sends to a node once it has heard the node's
		// subscriptions, which under load can be seconds after the
		// identity's first junk went to the others; and junk queued on a
		// stream the node reset (a frame over its limit for a peer not
		// admitted yet) never arrived. So it counts from the first junk
		// on the stream that was open when the node cut the identity off.
		at, gone := id.gone[p]
		by := at
		if !gone {
			by = time.Time{}
		}
		sent, ok := id.tr.firstSentBy(p, by)
		if !ok {
			unsent++
			continue
		}
		if sent.After(from) {
			from = sent
		}
		switch {
		case gone && !at.Before(from):
			cut = append(cut, at.Sub(from))
		case !gone && now.Sub(from) >= cutoffTarget:
			missed++
		}
	}
	return cut, missed, late, never, unsent
}

// nodeName is "node N" for the node whose peer id is p, else p.
func (a *attacker) nodeName(p peer.ID) string {
	if i, ok := a.env.nodeOf[p]; ok {
		return fmt.Sprintf("node %d", i)
	}
	return p.String()
}

// allGone reports whether every node in ps has disconnected id.
func (id *gossipIdentity) allGone(ps []peer.ID) bool {
	id.mu.Lock()
	defer id.mu.Unlock()
	for _, p := range ps {
		if _, ok := id.gone[p]; !ok {
			return false
		}
	}
	return true
}

// outsider runs one attack from fresh identities without records.
func (a *attacker) outsider(ctx context.Context, at Attack, seed uint64) {
	rng := rand.New(rand.NewPCG(a.env.g.Seed, seed<<8|1))
	a.attack(ctx, at, a.side(at.Kind, false), rng, -1, nil)
}

// insider runs one attack from identities of bad validator v.
func (a *attacker) insider(ctx context.Context, at Attack, v int, seed uint64) {
	rng := rand.New(rand.NewPCG(a.env.g.Seed, seed<<8|uint64(v)<<1))
	a.attack(ctx, at, a.side(at.Kind, true), rng, v, a.keys[v])
}

// attack runs one attack kind on one side: v and kp are the bad
// validator whose record the identities present (-1 and nil: outsiders).
func (a *attacker) attack(ctx context.Context, at Attack, s *sideStats, rng *rand.Rand, v int, kp *types.Keypair) {
	switch at.Kind {
	case AttackSybilJoin, AttackConnFlood, AttackSlowFrames, AttackInherentSpam:
		// One fresh identity per RATE unit, against one node each.
		var wg sync.WaitGroup
		defer wg.Wait()
		pace(ctx, at.Rate, func(i int) {
			if s.live.Load() >= maxLive {
				a.note(s, func(s *sideStats) { s.Skipped++ })
				return
			}
			s.live.Add(1)
			target := a.env.targets[i%len(a.env.targets)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.live.Add(-1)
				a.freshIdentity(ctx, at.Kind, s, target, v, kp)
			}()
		})
	case AttackUnknownLeaf, AttackGarbage:
		a.gossipJunk(ctx, at, s, rng, v, kp)
	}
}

// freshIdentity is one identity of an identity-based attack against one
// node.
func (a *attacker) freshIdentity(ctx context.Context, k AttackKind, s *sideStats, target peer.AddrInfo, v int, kp *types.Keypair) {
	switch k {
	case AttackSybilJoin:
		id, err := a.newGossipIdentity(ctx, v, kp)
		if err != nil {
			return
		}
		a.note(s, func(s *sideStats) { s.Identities++ })
		connected := a.connectAll(ctx, id.h, s, []peer.AddrInfo{target})
		a.hold(ctx, id.h, connected, holdFor)
		a.retire(id, s, connected)
	case AttackConnFlood:
		h, err := newAttackHost()
		if err != nil {
			return
		}
		defer h.Close()
		if kp != nil {
			serveRecord(h, a.env.g, a.env.session(), v, kp)
		}
		a.note(s, func(s *sideStats) { s.Identities++ })
		connected := a.connectAll(ctx, h, s, []peer.AddrInfo{target})
		if a.hold(ctx, h, connected, holdFor) {
			a.note(s, func(s *sideStats) { s.Disconnected++ })
		}
	case AttackSlowFrames:
		h, err := newAttackHost()
		if err != nil {
			return
		}
		defer h.Close()
		asked := (<-chan struct{})(nil)
		if kp != nil {
			asked = serveRecord(h, a.env.g, a.env.session(), v, kp)
		}
		a.note(s, func(s *sideStats) { s.Identities++ })
		if len(a.connectAll(ctx, h, s, []peer.AddrInfo{target})) == 0 {
			return
		}
		if asked != nil {
			// A validator's frame is judged against the admitted limit
			// only once its record verified.
			waitAsked(ctx, asked)
		}
		a.slowFrame(ctx, h, s, target.ID)
	case AttackInherentSpam:
		h, err := newAttackHost()
		if err != nil {
			return
		}
		defer h.Close()
		if kp != nil {
			serveRecord(h, a.env.g, a.env.session(), v, kp)
		}
		a.note(s, func(s *sideStats) { s.Identities++ })
		if len(a.connectAll(ctx, h, s, []peer.AddrInfo{target})) == 0 {
			return
		}
		a.inherentRequest(ctx, h, s, target.ID)
	}
}

func waitAsked(ctx context.Context, asked <-chan struct{}) {
	t := time.NewTimer(admissionWait * 4)
	defer t.Stop()
	select {
	case <-asked:
		// The node verifies the record right after reading it.
		time.Sleep(50 * time.Millisecond)
	case <-t.C:
	case <-ctx.Done():
	}
}

// hold keeps h's connections to ps for d; true when a node closed one
// meanwhile.
func (a *attacker) hold(ctx context.Context, h host.Host, ps []peer.ID, d time.Duration) bool {
	if len(ps) == 0 {
		return false
	}
	end := time.NewTimer(d)
	defer end.Stop()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-end.C:
			return false
		case <-t.C:
			for _, p := range ps {
				if h.Network().Connectedness(p) != network.Connected {
					return true
				}
			}
		}
	}
}

// gossipProtocols are gossipsub's stream protocols, newest first.
var gossipProtocols = []protocol.ID{"/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"}

// slowFrame opens a gossip stream, announces a 4 MiB frame, sends 1 KiB of
// it and stalls until the node resets the stream (or slowFrameHold).
func (a *attacker) slowFrame(ctx context.Context, h host.Host, s *sideStats, p peer.ID) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	st, err := h.NewStream(sctx, p, gossipProtocols...)
	cancel()
	if err != nil {
		a.note(s, func(s *sideStats) { s.StreamsReset++ })
		return
	}
	defer st.Reset()
	frame := binary.AppendUvarint(nil, slowFrameSize)
	frame = append(frame, make([]byte, 1024)...)
	start := time.Now()
	if _, err := st.Write(frame); err != nil {
		a.note(s, func(s *sideStats) { s.Sent++; s.StreamsReset++; s.resets = append(s.resets, time.Since(start)) })
		return
	}
	a.note(s, func(s *sideStats) { s.Sent++ })
	// The node never writes on this stream: a read returns when it
	// resets it, or the connection goes.
	_ = st.SetReadDeadline(time.Now().Add(slowFrameHold))
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = st.Reset()
		case <-done:
		}
	}()
	_, err = st.Read(make([]byte, 1))
	if ctx.Err() != nil || isDeadline(err) {
		return
	}
	a.note(s, func(s *sideStats) { s.StreamsReset++; s.resets = append(s.resets, time.Since(start)) })
}

func isDeadline(err error) bool {
	var t interface{ Timeout() bool }
	return err != nil && errors.As(err, &t) && t.Timeout()
}

// inherentRequest asks p for the inherent of its best leaf.
func (a *attacker) inherentRequest(ctx context.Context, h host.Host, s *sideStats, p peer.ID) {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	a.note(s, func(s *sideStats) { s.Sent++ })
	st, err := h.NewStream(sctx, p, p2p.InherentProtocol(a.env.g.Hash()))
	if err != nil {
		a.note(s, func(s *sideStats) { s.InherentRefused++ })
		return
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(3 * time.Second))
	if err := p2p.WriteFrame(st, &p2p.InherentRequest{TimeoutMillis: 500}); err != nil {
		a.note(s, func(s *sideStats) { s.InherentRefused++ })
		return
	}
	b, err := p2p.ReadFrame(bufio.NewReader(st), 8<<20)
	var resp p2p.InherentResponse
	if err == nil {
		err = types.DecodeOwned(b, &resp, codec.DefaultLimits)
	}
	a.note(s, func(s *sideStats) {
		switch {
		case err != nil:
			s.InherentRefused++
		case resp.Code == p2p.CodeOK:
			s.Inherents++
		case resp.Code == p2p.CodeBusy:
			s.InherentBusy++
		default:
			s.InherentOther++
		}
	})
}

// gossipJunk keeps a pool of identities on every node and publishes RATE
// junk messages a second through them. A bad validator's identity is
// replaced once every node has cut it off (or cutoffWait after its first
// junk), so each identity gives one cut-off time per node.
func (a *attacker) gossipJunk(ctx context.Context, at Attack, s *sideStats, rng *rand.Rand, v int, kp *types.Keypair) {
	// Outsiders spread over a few identities; a bad validator sends from
	// one at a time (its record admits only a few).
	poolSize := 4
	if kp != nil {
		poolSize = 1
	}
	type member struct {
		id        *gossipIdentity
		connected []peer.ID
		since     time.Time
	}
	pool := make([]*member, 0, poolSize)
	defer func() {
		for _, m := range pool {
			a.retire(m.id, s, m.connected)
		}
	}()
	fill := func() {
		for len(pool) < poolSize && ctx.Err() == nil {
			id, err := a.newGossipIdentity(ctx, v, kp)
			if err != nil {
				return
			}
			a.note(s, func(s *sideStats) { s.Identities++ })
			m := &member{id: id, connected: a.connectAll(ctx, id.h, s, a.env.targets)}
			// Junk before the record verified would be ignored as a
			// stranger's: wait for the nodes to admit the identity.
			if kp != nil {
				waitAsked(ctx, id.asked)
				sleepCtx(ctx, admissionWait)
			}
			m.since = time.Now()
			pool = append(pool, m)
		}
	}
	fill()
	pace(ctx, at.Rate, func(i int) {
		// Retire identities that every node cut off, or that outlived
		// cutoffWait since their first junk.
		keep := pool[:0]
		for _, m := range pool {
			m.id.mu.Lock()
			first := m.id.firstJunk
			m.id.mu.Unlock()
			if m.id.allGone(m.connected) || (!first.IsZero() && time.Since(first) > cutoffWait) {
				a.retire(m.id, s, m.connected)
				continue
			}
			keep = append(keep, m)
		}
		pool = keep
		if len(pool) < poolSize {
			fill()
		}
		if len(pool) == 0 {
			return
		}
		m := pool[i%len(pool)]
		k, data := a.junkMessage(at.Kind, rng, i, v, kp)
		if m.id.junk(ctx, k, data) {
			a.note(s, func(s *sideStats) { s.Sent++ })
		}
	})
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// junkKinds are the topics garbage goes to, in turn.
var junkKinds = []p2p.Kind{p2p.KindBitfield, p2p.KindBackedCandidate, p2p.KindDispute, p2p.KindMisbehavior, p2p.KindAnnouncement}

// junkMessage is the i-th message of an attack: random bytes on each topic
// in turn (garbage), or a well-formed, validly signed bitfield or backed
// candidate for a random relay parent (unknown-leaf). Outsiders sign with
// the last validator's key: the dev keys are public, and a stolen key
// still gives no admission.
func (a *attacker) junkMessage(k AttackKind, rng *rand.Rand, i, v int, kp *types.Keypair) (p2p.Kind, []byte) {
	if k == AttackGarbage {
		b := make([]byte, 32+rng.IntN(480))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return junkKinds[i%len(junkKinds)], b
	}
	if kp == nil {
		v = len(a.env.g.Validators) - 1
		kp = a.keys[v]
	}
	var rp types.Hash
	for j := range rp {
		rp[j] = byte(rng.Uint32())
	}
	session := a.env.session()
	if i%2 == 1 {
		if bc, ok := a.backedFor(v, kp); ok {
			return p2p.KindBackedCandidate, types.Encode(&p2p.BackedCandidateMessage{RelayParent: rp, Candidate: bc})
		}
	}
	bf := types.SignBitfield(kp, types.NewBitVec(a.env.g.Cores), types.ValidatorIndex(v),
		types.SigningContext{SessionIndex: session, ParentHash: rp})
	return p2p.KindBitfield, types.Encode(&p2p.BitfieldMessage{RelayParent: rp, Bitfield: bf})
}

// backedFor is a candidate of the best block with v's valid vote.
func (a *attacker) backedFor(v int, kp *types.Keypair) (types.BackedCandidate, bool) {
	h, st := a.env.best()
	if st == nil {
		return types.BackedCandidate{}, false
	}
	cand, err := BuildCandidate(a.env.g, &h, st, types.CoreIndex(v%a.env.g.Cores))
	if err != nil {
		return types.BackedCandidate{}, false
	}
	pos := max(0, slices.Index(cand.Group, types.ValidatorIndex(v)))
	bc, err := Backed(cand, len(cand.Group), map[int]types.ValidityAttestation{pos: BackingVote(kp, cand, true)})
	if err != nil {
		return types.BackedCandidate{}, false
	}
	return bc, true
}

// probeValidators: during a conn-flood, once a second a fresh identity of
// validator 0 (never a bad one: Validate keeps it honest) dials a node in
// turn; admitted when the node took the connection and fetched its
// record.
func (a *attacker) probeValidators(ctx context.Context, k AttackKind) {
	s := a.side(k, false)
	v := 0
	i := 0
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		target := a.env.targets[i%len(a.env.targets)]
		i++
		h, err := newAttackHost()
		if err != nil {
			continue
		}
		asked := serveRecord(h, a.env.g, a.env.session(), v, a.keys[v])
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = h.Connect(cctx, target)
		cancel()
		admitted := false
		if err == nil {
			w := time.NewTimer(2 * time.Second)
			select {
			case <-asked:
				admitted = true
			case <-w.C:
			case <-ctx.Done():
			}
			w.Stop()
		}
		_ = h.Close()
		if ctx.Err() != nil {
			return
		}
		a.note(s, func(s *sideStats) {
			s.ProbesTried++
			if admitted {
				s.ProbesAdmitted++
			}
		})
	}
}

// counterPrefix is the prefix of the node counters an attack report reads.
const counterPrefix = "provisioner_p2p_"

// scrapeCounters reads every provisioner_p2p_ counter of a node, keyed
// name{label="value",...} without the prefix: from its registry in
// process, from its /metrics otherwise.
func scrapeCounters(h *nodeHandle) (map[string]float64, error) {
	var mfs []*dto.MetricFamily
	if h.reg != nil {
		var err error
		if mfs, err = h.reg.Gather(); err != nil {
			return nil, fmt.Errorf("gather node %d: %w", h.index, err)
		}
	} else {
		client := http.Client{Timeout: 2 * time.Second}
		resp, err := client.Get("http://" + h.metrics + "/metrics")
		if err != nil {
			return nil, fmt.Errorf("scrape node %d: %w", h.index, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("scrape node %d: GET /metrics: %s", h.index, resp.Status)
		}
		tp := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := tp.TextToMetricFamilies(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("scrape node %d: %w", h.index, err)
		}
		for _, mf := range fams {
			mfs = append(mfs, mf)
		}
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		name, ok := strings.CutPrefix(mf.GetName(), counterPrefix)
		if !ok || mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				sort.Strings(labels)
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// runAttacks is an attack run's state inside Run.
type runAttacks struct {
	att  *attacker
	base map[int]map[string]float64 // node index -> counters at the start
}

// startRunAttacks starts cfg.Attacks against the running nodes. Called
// once block 1 is in: the network has formed, so the attack hits a
// running chain, and each node's counters are read first so that the
// report counts what the attack moved.
func startRunAttacks(ctx context.Context, cfg Config, g *Genesis, obs *Node, handles []*nodeHandle) (*runAttacks, error) {
	env := attackEnv{
		g: g,
		session: func() types.SessionIndex {
			h, _ := obs.Chain().Best()
			return obs.Chain().sessionForChild(h.Hash())
		},
		best: func() (types.Header, *State) { return obs.Chain().Best() },
	}
	ra := &runAttacks{base: map[int]map[string]float64{}}
	for i, h := range handles {
		if h == nil {
			continue
		}
		ai, err := peer.AddrInfoFromString(h.addr)
		if err != nil {
			return nil, fmt.Errorf("node %d address: %w", i, err)
		}
		env.targets = append(env.targets, *ai)
		if env.nodeOf == nil {
			env.nodeOf = map[peer.ID]int{}
		}
		env.nodeOf[ai.ID] = i
		if c, err := scrapeCounters(h); err == nil {
			ra.base[i] = c
		}
	}
	if len(env.targets) == 0 {
		return nil, errors.New("no node to attack")
	}
	for i := cfg.Nodes - cfg.Adversaries; i < cfg.Nodes; i++ {
		env.bad = append(env.bad, i)
	}
	att, err := startAttacks(ctx, env, cfg.Attacks)
	if err != nil {
		return nil, err
	}
	ra.att = att
	return ra, nil
}

// finish stops the attacks and fills each report's Refused from the
// nodes' counters since the start; a node that cannot be read is a fault.
func (ra *runAttacks) finish(handles []*nodeHandle) (reports []AttackReport, faults []string) {
	reports = ra.att.stop()
	delta := map[string]float64{}
	for _, h := range handles {
		if h == nil || h.paused {
			continue
		}
		c, err := scrapeCounters(h)
		if err != nil {
			faults = append(faults, fmt.Sprintf("attack counters: %v", err))
			continue
		}
		base := ra.base[h.index]
		for k, v := range c {
			// A restarted node's counters began again: count it all.
			if d := v - base[k]; d > 0 {
				delta[k] += d
			} else if d < 0 {
				delta[k] += v
			}
		}
	}
	for i := range reports {
		for _, fam := range refusedFamilies[reports[i].Kind] {
			for k, v := range delta {
				if v != 0 && (k == fam || strings.HasPrefix(k, fam+"{")) {
					reports[i].Refused[k] = v
				}
			}
		}
	}
	return reports, faults
}

func formatAttacks(as []Attack) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = fmt.Sprintf("%s at %g %s", a.Kind, a.Rate, attackUnits[a.Kind])
	}
	return strings.Join(parts, ", ")
}

// writeAttackSummary prints one block per attack: each side's figures and
// the nodes' refusals.
func (rep *Report) writeAttackSummary(w io.Writer) {
	for _, a := range rep.Attacks {
		fmt.Fprintf(w, "  attack %s at %g %s\n", a.Kind, a.Rate, a.Unit)
		fmt.Fprintf(w, "    outsiders:      %s\n", a.Outsiders.line())
		if a.BadValidators != nil {
			fmt.Fprintf(w, "    bad validators: %s\n", a.BadValidators.line())
		}
		fmt.Fprintf(w, "    nodes refused:  %s\n", FormatCounts(a.Refused))
	}
	if len(rep.Attacks) == 0 {
		return
	}
	var rss []string
	for _, r := range rep.NodesResources {
		if r.RSSBytes != nil && r.Scope == "process" {
			rss = append(rss, fmt.Sprintf("%d:%.0f", r.Node, *r.RSSBytes/(1<<20)))
		}
	}
	if len(rss) > 0 {
		fmt.Fprintf(w, "  node RSS (MiB): %s\n", strings.Join(rss, " "))
	}
}

// line is an AttackSide in one line, zero figures left out.
func (s AttackSide) line() string {
	var parts []string
	add := func(name string, v int) {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, v))
		}
	}
	add("identities", s.Identities)
	add("sent", s.Sent)
	add("skipped", s.Skipped)
	add("dial refused", s.DialRefused)
	add("connected", s.Connected)
	add("disconnected", s.Disconnected)
	parts = append(parts, fmt.Sprintf("grafts %d", s.Grafts), fmt.Sprintf("gossip received %d", s.GossipReceived))
	add("inherents", s.Inherents)
	add("inherent refused", s.InherentRefused)
	add("inherent busy", s.InherentBusy)
	add("inherent other", s.InherentOther)
	add("streams reset", s.StreamsReset)
	if d := s.ResetMillis; d != nil {
		parts = append(parts, fmt.Sprintf("reset after p50 %.0f ms max %.0f ms", d.P50, d.Max))
	}
	if d := s.CutoffMillis; d != nil {
		parts = append(parts, fmt.Sprintf("cut off %d/%d within 1 s (p50 %.0f ms, max %.0f ms)", d.Within, d.N+s.CutoffMissed, d.P50, d.Max))
	} else if s.CutoffMissed > 0 {
		parts = append(parts, fmt.Sprintf("cut off 0/%d", s.CutoffMissed))
	}
	add("admitted after its first junk", s.AdmittedAfterJunk)
	add("never admitted", s.NeverAdmitted)
	add("no junk sent", s.NoJunkSent)
	if s.ProbesTried > 0 {
		parts = append(parts, fmt.Sprintf("validator probes admitted %d/%d", s.ProbesAdmitted, s.ProbesTried))
	}
	return strings.Join(parts, ", ")
}

// validateAttacks is Validate's part for --attack.
func (cfg *Config) validateAttacks() error {
	seen := map[AttackKind]bool{}
	for _, a := range cfg.Attacks {
		switch _, known := defaultAttackRates[a.Kind]; {
		case !known:
			return usagef("--attack %s: unknown kind", a.Kind)
		case !(a.Rate > 0) || a.Rate > maxAttackRate:
			return usagef("--attack %s: RATE must be in (0, %d]", a, maxAttackRate)
		case seen[a.Kind]:
			return usagef("--attack %s: %s given twice", a, a.Kind)
		case cfg.Latency != (Latency{}) || cfg.Bandwidth != 0:
			// Mocknet hosts have no sockets for the attacker to dial.
			return usagef("--attack needs real sockets: it cannot be used with --latency or --bandwidth")
		}
		seen[a.Kind] = true
	}
	return nil
}

// maxNodeRSS is the done criterion for a node process's resident memory
// under attack.
const maxNodeRSS = 100 << 20

// attackChecks are the done criteria of a run under --attack:
//
//   - attack_bitfields_included: the bitfields_included measure (signed
//     bitfields of leaves that got a child, against those in the child),
//     with at least 99.5% in the next block (at most one late bitfield in
//     200, and at least one allowed, as lateBitfieldsAllowed does for 1%);
//   - attack_paras_included: inclusions per block unchanged against the
//     honest baseline (honestInclusions): every para at least as often as
//     an honest run of the same blocks includes it;
//   - attack_node_rss: every node process under 100 MiB resident (node
//     processes only: in process the nodes share one process);
//   - attack_strangers_not_in_mesh: no node sent an outsider identity a
//     GRAFT or a gossip message;
//   - attack_strangers_no_inherent: no outsider identity (and no bad
//     validator's: they are not builders) got an inherent;
//   - attack_cutoff_1s: each bad validator identity that sent junk which
//     costs score (garbage, unknown-leaf) was disconnected by every node
//     that admitted it within 1 s of the first junk the node could judge
//     (the latest of the identity's first junk, the node's fetch of its
//     record and the identity's first message queued for the node: see
//     AttackSide.CutoffMillis).
//
// no_empty_fallback applies as in every run.
func attackChecks(rep *Report, cfg Config, add func(name string, pass bool, format string, a ...any)) {
	if len(cfg.Attacks) == 0 {
		return
	}
	if len(rep.Attacks) == 0 {
		add("attacks_ran", false, "no attack report: the attacks did not start")
		return
	}
	late := rep.Bitfields.Signed - rep.Bitfields.InInherent
	allowed := max(1, rep.Bitfields.Signed/200)
	add("attack_bitfields_included", rep.Bitfields.Signed > 0 && late <= allowed,
		"%d of %d signed bitfields in the next block (%.2f%%; need 99.5%%, at most %d late)",
		rep.Bitfields.InInherent, rep.Bitfields.Signed, 100*rep.Bitfields.Ratio, allowed)
	base := honestInclusions(rep.Blocks)
	worst := -1
	for _, n := range rep.ParasIncluded {
		if worst < 0 || n < worst {
			worst = n
		}
	}
	add("attack_paras_included", worst >= base,
		"least-included para: %d inclusions in %d blocks (honest baseline: %d, one per block from #2 but after a session change)",
		worst, len(rep.Blocks), base)
	if cfg.InProcess {
		add("attack_node_rss", true, "not measured: in process the nodes share one process")
	} else {
		var over []string
		most, measured := 0.0, 0
		for _, r := range rep.NodesResources {
			if r.RSSBytes == nil {
				continue
			}
			measured++
			most = max(most, *r.RSSBytes)
			if *r.RSSBytes >= maxNodeRSS {
				over = append(over, fmt.Sprintf("node %d %.0f MiB", r.Node, *r.RSSBytes/(1<<20)))
			}
		}
		add("attack_node_rss", measured > 0 && len(over) == 0, "%d nodes measured, largest %.1f MiB (limit 100 MiB)%s",
			measured, most/(1<<20), strings.Join(append([]string{""}, over...), "; over: "))
	}
	grafts, msgs, inherents := 0, 0, 0
	for _, a := range rep.Attacks {
		grafts += a.Outsiders.Grafts
		msgs += a.Outsiders.GossipReceived
		inherents += a.Outsiders.Inherents
		if a.BadValidators != nil {
			inherents += a.BadValidators.Inherents
		}
	}
	var from []string
	for _, a := range rep.Attacks {
		from = append(from, a.Outsiders.GossipFrom...)
	}
	sentBy := ""
	if len(from) > 0 {
		sentBy = " (from " + strings.Join(from, ", ") + ")"
	}
	add("attack_strangers_not_in_mesh", grafts == 0 && msgs == 0,
		"outsider identities got %d GRAFTs and %d gossip messages from the nodes%s", grafts, msgs, sentBy)
	add("attack_strangers_no_inherent", inherents == 0, "%d inherents served to attackers", inherents)
	within, total, lateAdmitted := 0, 0, 0
	var worstCut float64
	for _, a := range rep.Attacks {
		if a.BadValidators == nil || (a.Kind != AttackGarbage && a.Kind != AttackUnknownLeaf) {
			continue
		}
		total += a.BadValidators.CutoffMissed
		lateAdmitted += a.BadValidators.AdmittedAfterJunk
		if d := a.BadValidators.CutoffMillis; d != nil {
			within += d.Within
			total += d.N
			worstCut = max(worstCut, d.Max)
		}
	}
	if total > 0 {
		add("attack_cutoff_1s", within == total,
			"%d of %d bad identity-node pairs cut off within 1 s of the first junk the node could judge (slowest %.0f ms; %d pairs judged from the node's late fetch of the record)",
			within, total, worstCut, lateAdmitted)
	}
}

// honestInclusions is how often an honest run includes each para in
// blocks: the candidate backed in block n is included in block n+1, and
// every para is backed in every block except the last of a session (its
// child's cores are scheduled anew), so each para is included once in
// every block from #2 whose parent is in the same session. A 20-block
// run with session length 10 gives 17 (measured: 10 nodes, 5 paras,
// 1 s slots, no attack).
func honestInclusions(blocks []BlockReport) int {
	session := map[types.BlockNumber]types.SessionIndex{}
	for _, b := range blocks {
		session[b.Number] = b.Session
	}
	// A fork's second block of a height is not a second chance to
	// include: count heights, not blocks.
	n := 0
	for num, s := range session {
		if p, ok := session[num-1]; ok && num >= 2 && p == s {
			n++
		}
	}
	return n
}
