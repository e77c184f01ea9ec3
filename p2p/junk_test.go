package p2p

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

func TestJunkPenalty(t *testing.T) {
	cases := []struct {
		name  string
		junk  int
		after time.Duration
		want  float64
	}{
		{"within the grace", 16, 0, 0},
		{"past the grace", 20, 0, -8},
		{"graylist reach", 56, 0, -80},
		{"one half-life later", 40, time.Minute, -8},
		{"decayed under the grace", 20, time.Minute, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{}
			cfg.Admission = AdmissionConfig{JunkGrace: 16, JunkWeight: -2, JunkHalfLife: time.Minute}
			a := newAdmission(cfg, nil)
			now := time.Unix(1000, 0)
			a.now = func() time.Time { return now }
			var added float64
			for i := 0; i < tc.junk; i++ {
				added = a.addJunk("p", 1, ReasonDuplicate)
			}
			if tc.after == 0 && added != tc.want {
				t.Fatalf("addJunk returned %v, want the penalty %v", added, tc.want)
			}
			now = now.Add(tc.after)
			if got := a.junkPenalty("p"); got != tc.want {
				t.Fatalf("penalty %v, want %v", got, tc.want)
			}
			if got := a.appScore("p"); got != tc.want {
				t.Fatalf("open admission: app score %v, want %v", got, tc.want)
			}
		})
	}
}

// TestJunkReasons: a ban's log line names what the peer sent, counted by
// reason whatever the weights and the decay.
func TestJunkReasons(t *testing.T) {
	a, now := junkAdmission()
	if got := a.junkReasons("p"); got != nil {
		t.Fatalf("no junk yet: %v", got)
	}
	a.addJunk("p", junkIgnored, ReasonSecondBitfield)
	a.addJunk("p", junkExpired, "park_expired")
	*now = now.Add(time.Hour)
	a.addJunk("p", junkReplayReject, "replay_"+ReasonBadSignature)
	a.addJunk("p", junkIgnored, ReasonSecondBitfield)
	want := map[string]int{ReasonSecondBitfield: 2, "park_expired": 1, "replay_" + ReasonBadSignature: 1}
	if got := a.junkReasons("p"); !maps.Equal(got, want) {
		t.Fatalf("reasons %v, want %v", got, want)
	}
	if got := a.junkReasons("q"); got != nil {
		t.Fatalf("another peer: %v", got)
	}
}

func TestStrangerScoreBelowGraylist(t *testing.T) {
	cfg := &Config{TrustedPeers: []peer.ID{"trusted"}}
	cfg.Admission = AdmissionConfig{RequireRecords: true, MaxPeersPerValidator: 1}
	a := newAdmission(cfg, nil)
	if got := a.appScore("stranger"); got != strangerScore {
		t.Fatalf("stranger %v, want %v", got, strangerScore)
	}
	if got := a.appScore("trusted"); got != 0 {
		t.Fatalf("trusted %v, want 0", got)
	}
	if !a.setVerified("v", PeerValidator{Index: 1, Session: 7}, nil) {
		t.Fatal("record refused")
	}
	if got := a.appScore("v"); got != 0 {
		t.Fatalf("validator %v, want 0", got)
	}
	// A second peer id for the same validator, over the quota of 1.
	if a.setVerified("v2", PeerValidator{Index: 1, Session: 7}, nil) {
		t.Fatal("a second peer id admitted for one validator, quota 1")
	}
	if got := a.appScore("v2"); got != strangerScore {
		t.Fatalf("second identity %v, want the stranger score", got)
	}
}

// TestSecondBitfieldChecked: a second, different bitfield for a validator
// is checked before it is ignored: a forged one is rejected (it costs its
// sender), a genuine equivocation is ignored.
func TestSecondBitfieldChecked(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	v := &validators{chain: newFakeChain(f, leaf), lim: DefaultLimits()}
	first := f.bitfield(leaf, 0, "10000")
	second := f.bitfield(leaf, 0, "01000")
	forged := second
	forged.Bitfield.Signature[3] ^= 0xff
	cases := []struct {
		name   string
		msg    BitfieldMessage
		res    Result
		reason string
	}{
		{"first", first, Accept, ""},
		{"forged second", forged, Reject, ReasonBadSignature},
		{"genuine second", second, Ignore, ReasonSecondBitfield},
		{"duplicate", first, Ignore, ReasonDuplicate},
	}
	for _, tc := range cases {
		_, res, reason := v.validateBitfield(types.Encode(&tc.msg))
		if res != tc.res || reason != tc.reason {
			t.Fatalf("%s: %v/%q, want %v/%q", tc.name, res, reason, tc.res, tc.reason)
		}
	}
}

// TestOversizeBitfieldRejected: the bitfield topic takes a few KiB, not
// the 4 MiB of the backed-candidate topic.
func TestOversizeBitfieldRejected(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	ev := newEvents()
	n := newTestNode(t, newFakeChain(f, leaf), nil, func(c *Config) { c.ValidationHook = ev.hook })
	raw := newRawPeer(t)
	raw.link(t, n)
	lim := DefaultLimits().Bitfield.MaxMessageSize
	if lim != 4<<10 {
		t.Fatalf("bitfield limit %d, want 4096", lim)
	}
	cases := []struct {
		size   int
		reason string
	}{
		{lim, ReasonTrailingBytes}, // within the limit: decoded, and refused for what it is
		{lim + 1, ReasonOversize},
		{64 << 10, ReasonOversize},
	}
	for i, tc := range cases {
		data := make([]byte, tc.size)
		data[0] = byte(i + 1) // distinct messages
		raw.send(t, KindBitfield, data)
		got := ev.waitFrom(t, raw.h.ID(), i, 10*time.Second)
		if got.Result != Reject || got.Reason != tc.reason {
			t.Fatalf("%d bytes: %v/%s, want reject/%s", tc.size, got.Result, got.Reason, tc.reason)
		}
	}
	if max := n.cfg.Limits.maxFrame(); max != 4<<20+frameSlack {
		t.Fatalf("frame limit %d, want the largest topic's %d + %d", max, 4<<20, frameSlack)
	}
}

// TestFrameGuard: a frame header over the sender's limit or the budget
// fails before gossipsub allocates; a completed frame frees its bytes.
func TestFrameGuard(t *testing.T) {
	prefix := func(n int) []byte {
		w := codec.NewWriter(10)
		for n >= 0x80 {
			w.U8(byte(n) | 0x80)
			n >>= 7
		}
		w.U8(byte(n))
		return w.Bytes()
	}
	admitted := map[peer.ID]bool{"validator": true}
	cases := []struct {
		name    string
		from    peer.ID
		pre     int // bytes the peer has in flight on another stream
		frames  [][]byte
		wantErr error
		inUse   int
	}{
		{"stranger small frame", "stranger", 0, [][]byte{prefix(100), make([]byte, 100)}, nil, 0},
		{"stranger large frame", "stranger", 0, [][]byte{prefix(64<<10 + 1)}, ErrFrameTooLarge, 0},
		{"validator large frame", "validator", 0, [][]byte{prefix(1 << 20), make([]byte, 10)}, nil, 1 << 20},
		{"validator frames in a row", "validator", 0, [][]byte{prefix(3 << 20), make([]byte, 3<<20), prefix(3 << 20)}, nil, 3 << 20},
		{"validator over the frame limit", "validator", 0, [][]byte{prefix(4<<20 + 1)}, ErrFrameTooLarge, 0},
		{"validator over its budget", "validator", 2 << 20, [][]byte{prefix(3 << 20)}, ErrFrameBudget, 2 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &frameGuard{
				cfg:      &FrameConfig{Timeout: time.Second, MinRate: 1 << 20, StrangerMax: 64 << 10},
				maxFrame: 4 << 20, budget: newFrameBudget(4<<20, 64<<20),
				admitted: func(p peer.ID) bool { return admitted[p] },
			}
			if tc.pre > 0 && !g.budget.reserve(tc.from, tc.pre) {
				t.Fatal("pre-reservation refused")
			}
			fs := &frameStream{g: g, peer: tc.from}
			var err error
			for _, b := range tc.frames {
				if err = fs.follow(b); err != nil {
					break
				}
			}
			if !errors.Is(err, tc.wantErr) && !(err == nil && tc.wantErr == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				fs.releaseAll()
			}
			if got := g.budget.inUse(); got != tc.inUse {
				t.Fatalf("bytes in use %d, want %d", got, tc.inUse)
			}
		})
	}
}

// TestJunkBelow lists exactly the peers whose junk penalty alone is below
// the threshold, after decay.
func TestJunkBelow(t *testing.T) {
	a, now := junkAdmission()
	for p, n := range map[peer.ID]int{"grace": 16, "some": 40, "edge": 56, "over": 57, "lots": 500} {
		for range n {
			a.addJunk(p, 1, ReasonDuplicate)
		}
	}
	// edge: (56-16)*-2 = -80, not below -80.
	if got, want := a.junkBelow(-80), []peer.ID{"lots", "over"}; !slices.Equal(got, want) {
		t.Fatalf("below -80: %v, want %v", got, want)
	}
	if got, want := a.junkBelow(-40), []peer.ID{"edge", "lots", "over", "some"}; !slices.Equal(got, want) {
		t.Fatalf("below -40: %v, want %v", got, want)
	}
	// Two half-lives: lots decays to 125 (-218), over to 14.25 (none).
	*now = now.Add(2 * time.Minute)
	if got, want := a.junkBelow(-80), []peer.ID{"lots"}; !slices.Equal(got, want) {
		t.Fatalf("two half-lives later: %v, want %v", got, want)
	}
}

// TestJunkBansPeerGossipsubNeverScored: a peer gossipsub holds no score
// record for (it never opened a gossip stream to it) is banned and
// disconnected once its junk alone is below the graylist threshold.
// Bans used to come only from gossipsub's score snapshots, in which such
// a peer never appears.
func TestJunkBansPeerGossipsubNeverScored(t *testing.T) {
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f, leafHash(1)), nil)
	p := connectPlainHost(t, n)
	th := n.Thresholds()
	for i := 0; float64(i) < n.cfg.Admission.JunkGrace+(th.Graylist/n.cfg.Admission.JunkWeight)+2; i++ {
		n.adm.addJunk(p, 1, ReasonDuplicate)
	}
	waitUntil(t, 10*time.Second, "the junk sender banned", func() bool { return contains(n.BannedPeers(), p) })
	waitUntil(t, 10*time.Second, "the junk sender disconnected", func() bool {
		return n.Host().Network().Connectedness(p) != network.Connected
	})
	n.scoreMu.RLock()
	_, scored := n.behaviour[p]
	n.scoreMu.RUnlock()
	if scored {
		t.Fatal("gossipsub scored the peer: the test does not exercise a peer without a score record")
	}
}

// TestJunkBansAtOnce: the junk that takes a peer below the graylist
// threshold bans and disconnects it from the goroutine that judged it,
// with no inspection tick in between (the interval here is an hour).
func TestJunkBansAtOnce(t *testing.T) {
	f := testFixture(t)
	n := newTestNode(t, newFakeChain(f, leafHash(1)), nil, func(c *Config) { c.Gossip.ScoreInspectInterval = time.Hour })
	p := connectPlainHost(t, n)
	th := n.Thresholds()
	below := int(n.cfg.Admission.JunkGrace + th.Graylist/n.cfg.Admission.JunkWeight) // the count at the threshold
	for range below {
		n.junk(p, 1, ReasonDuplicate)
	}
	if contains(n.BannedPeers(), p) {
		t.Fatalf("banned at %d junk messages, on the threshold", below)
	}
	n.junk(p, 1, ReasonDuplicate)
	if !contains(n.BannedPeers(), p) {
		t.Fatal("not banned by the junk message that took it below the threshold")
	}
	if got := counterOf(t, n.m.admission.WithLabelValues("banned")); got != 1 {
		t.Fatalf("bans counted %v, want 1", got)
	}
	waitUntil(t, 10*time.Second, "the junk sender disconnected", func() bool {
		return n.Host().Network().Connectedness(p) != network.Connected
	})
	n.junk(p, 1, ReasonDuplicate) // banned already: counted once
	if got := counterOf(t, n.m.admission.WithLabelValues("banned")); got != 1 {
		t.Fatalf("bans counted %v after more junk, want 1", got)
	}
}

// connectPlainHost connects a libp2p host without gossipsub to n (so
// gossipsub never opens a stream to it, nor scores it) and returns its id.
func connectPlainHost(t *testing.T, n *Node) peer.ID {
	t.Helper()
	plain, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	connect(t, plain, n.Host())
	return plain.ID()
}

// junkAdmission is an admission with grace 16, weight -2 and a one-minute
// half-life, on a clock the test moves through the returned pointer.
func junkAdmission() (*admission, *time.Time) {
	cfg := &Config{}
	cfg.Admission = AdmissionConfig{JunkGrace: 16, JunkWeight: -2, JunkHalfLife: time.Minute}
	a := newAdmission(cfg, nil)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	return a, &now
}

// TestLateSnapshotOfAdmittedPeerNoBan: gossipsub's score snapshots reach
// the node on goroutines of their own, so they can come after the peer
// they describe as a stranger has been admitted. Judged by the stranger
// floor they carry, not by the admission state at arrival, they do not
// make the peer read as graylisted; a stranger whose behaviour, floor
// aside, is below the threshold is still banned.
func TestLateSnapshotOfAdmittedPeerNoBan(t *testing.T) {
	f := testFixture(t)
	leaf := leafHash(1)
	noInspection := func(c *Config) { c.Gossip.ScoreInspectInterval = time.Hour }
	n := validatorNode(t, newFakeChain(f, leaf), nil, nil, 0, noInspection)
	honest := validatorNode(t, newFakeChain(f, leaf), nil, nil, 1, noInspection)
	connect(t, honest.Host(), n.Host())
	waitUntil(t, 10*time.Second, "the honest validator admitted", func() bool { return n.Admitted(honest.ID()) })
	bad := peer.ID("bad")
	th := n.Thresholds()
	snap := func() map[peer.ID]*pubsub.PeerScoreSnapshot {
		return map[peer.ID]*pubsub.PeerScoreSnapshot{
			// Taken while honest was a stranger: the floor, nothing else.
			honest.ID(): {Score: strangerScore, AppSpecificScore: strangerScore},
			// A stranger that also broke promises, below the threshold
			// without its floor.
			bad: {Score: strangerScore + 2*th.Graylist, AppSpecificScore: strangerScore, BehaviourPenalty: 1},
		}
	}
	n.setScoreSnapshots(snap())
	n.setScoreSnapshots(snap())
	n.banGraylisted()
	if banned := n.BannedPeers(); !slices.Equal(banned, []peer.ID{bad}) {
		t.Fatalf("banned %v, want only %v", banned, bad)
	}
}
