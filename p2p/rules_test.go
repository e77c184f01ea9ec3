package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ruleCase is one validator rule: a peer sends msgs (all but the last are
// expected to be accepted), the last one gets want/reason.
type ruleCase struct {
	name   string
	kind   Kind
	msgs   func(f *fixture, rp types.Hash) [][]byte
	want   Result
	reason string
}

func enc(v types.Encoder) []byte { return types.Encode(v) }

func one(b []byte) [][]byte { return [][]byte{b} }

// announcementHook refuses bodies "bad" and ignores bodies "later".
func announcementHook(a *BlockAnnouncement) error {
	switch string(a.Body) {
	case "bad":
		return errors.New("bad body")
	case "later":
		return ErrIgnore
	}
	return nil
}

func ruleCases() []ruleCase {
	unknown := types.Blake2_256([]byte("not a leaf"))
	return []ruleCase{
		// Bitfields.
		{"bitfield/undecodable", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			return one([]byte{1, 2, 3})
		}, Reject, ReasonDecode},
		{"bitfield/trailing_bytes", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			m := f.bitfield(rp, 0, "10000")
			return one(append(enc(&m), 0))
		}, Reject, ReasonTrailingBytes},
		{"bitfield/non_canonical_padding", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			m := f.bitfield(rp, 0, "10000")
			b := enc(&m)
			b[32+1] |= 0x80 // a bit past the 5-bit length
			return one(b)
		}, Reject, ReasonNonCanonical},
		{"bitfield/oversize", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			return one(make([]byte, 100<<10+1))
		}, Reject, ReasonOversize},
		{"bitfield/validator_index", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			bv, _ := types.BitVecFromString("10000")
			bf := types.SignBitfield(f.keys[0], bv, 10, types.SigningContext{SessionIndex: f.session, ParentHash: rp})
			return one(enc(&BitfieldMessage{RelayParent: rp, Bitfield: bf}))
		}, Reject, ReasonValidatorIndex},
		{"bitfield/wrong_length", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			m := f.bitfield(rp, 0, "1000")
			return one(enc(&m))
		}, Reject, ReasonBitfieldLength},
		{"bitfield/bad_signature", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			bv, _ := types.BitVecFromString("10000")
			bf := types.SignBitfield(f.keys[1], bv, 0, types.SigningContext{SessionIndex: f.session, ParentHash: rp})
			return one(enc(&BitfieldMessage{RelayParent: rp, Bitfield: bf}))
		}, Reject, ReasonBadSignature},
		{"bitfield/wrong_session", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			bv, _ := types.BitVecFromString("10000")
			bf := types.SignBitfield(f.keys[0], bv, 0, types.SigningContext{SessionIndex: f.session + 1, ParentHash: rp})
			return one(enc(&BitfieldMessage{RelayParent: rp, Bitfield: bf}))
		}, Reject, ReasonBadSignature},
		{"bitfield/not_active_leaf", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			m := f.bitfield(unknown, 0, "10000")
			return one(enc(&m))
		}, Ignore, ReasonNotActiveLeaf},
		{"bitfield/second_different", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			a, b := f.bitfield(rp, 3, "10000"), f.bitfield(rp, 3, "01000")
			return [][]byte{enc(&a), enc(&b)}
		}, Ignore, ReasonSecondBitfield},
		{"bitfield/same_resigned", KindBitfield, func(f *fixture, rp types.Hash) [][]byte {
			a, b := f.bitfield(rp, 3, "10100"), f.bitfield(rp, 3, "10100")
			return [][]byte{enc(&a), enc(&b)}
		}, Ignore, ReasonDuplicate},

		// Backed candidates.
		{"backed/undecodable", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 0, 2)
			b := enc(&m)
			return one(b[:len(b)-3])
		}, Reject, ReasonDecode},
		{"backed/bad_vote", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 1, 2)
			m.Candidate.ValidityVotes[1].Signature[5] ^= 1
			return one(enc(&m))
		}, Reject, ReasonBadSignature},
		{"backed/not_enough_votes", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 1, 1)
			return one(enc(&m))
		}, Reject, ReasonNotEnoughVotes},
		{"backed/votes_mismatch", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 1, 2)
			m.Candidate.ValidityVotes = m.Candidate.ValidityVotes[:1]
			return one(enc(&m))
		}, Reject, ReasonVotesMismatch},
		{"backed/core_mismatch", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 0, 2)
			m.Candidate.ValidatorIndices, _ = types.InjectCoreIndex(types.BitVecFromBools([]bool{true, true}), 1)
			return one(enc(&m))
		}, Reject, ReasonCoreIndex},
		{"backed/core_out_of_range", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(rp, 0, 2)
			m.Candidate.ValidatorIndices, _ = types.InjectCoreIndex(types.BitVecFromBools([]bool{true, true}), 9)
			return one(enc(&m))
		}, Reject, ReasonCoreIndex},
		{"backed/not_active_leaf", KindBackedCandidate, func(f *fixture, rp types.Hash) [][]byte {
			m := f.backed(unknown, 0, 2)
			return one(enc(&m))
		}, Ignore, ReasonNotActiveLeaf},

		// Disputes.
		{"dispute/bad_signature", KindDispute, func(f *fixture, rp types.Hash) [][]byte {
			s := f.dispute(types.Hash{9}, 0, 1)
			s.Statements[1].Signature[0] ^= 1
			return one(enc(&s))
		}, Reject, ReasonBadSignature},
		{"dispute/validator_index", KindDispute, func(f *fixture, rp types.Hash) [][]byte {
			s := f.dispute(types.Hash{9}, 0)
			s.Statements[0].ValidatorIndex = 10
			return one(enc(&s))
		}, Reject, ReasonValidatorIndex},
		{"dispute/empty", KindDispute, func(f *fixture, rp types.Hash) [][]byte {
			return one(enc(&types.DisputeStatementSet{CandidateHash: types.Hash{9}, Session: f.session}))
		}, Reject, ReasonEmpty},
		{"dispute/unknown_session", KindDispute, func(f *fixture, rp types.Hash) [][]byte {
			s := f.dispute(types.Hash{9}, 0)
			s.Session = f.session + 1
			return one(enc(&s))
		}, Ignore, ReasonUnknownSession},

		// Misbehaviour reports.
		{"misbehavior/not_contradictory", KindMisbehavior, func(f *fixture, rp types.Hash) [][]byte {
			r := f.misbehavior(types.Hash{9}, 2)
			r.Second = r.First
			return one(enc(&r))
		}, Reject, ReasonNotContradictory},
		{"misbehavior/bad_signature", KindMisbehavior, func(f *fixture, rp types.Hash) [][]byte {
			r := f.misbehavior(types.Hash{9}, 2)
			r.ValidatorIndex = 3
			return one(enc(&r))
		}, Reject, ReasonBadSignature},
		{"misbehavior/validator_index", KindMisbehavior, func(f *fixture, rp types.Hash) [][]byte {
			r := f.misbehavior(types.Hash{9}, 2)
			r.ValidatorIndex = 1000
			return one(enc(&r))
		}, Reject, ReasonValidatorIndex},

		// Announcements.
		{"announcement/refused_body", KindAnnouncement, func(f *fixture, rp types.Hash) [][]byte {
			return one(enc(&BlockAnnouncement{Header: types.Header{Number: 1}, Body: []byte("bad")}))
		}, Reject, ReasonAnnouncement},
		{"announcement/ignored_body", KindAnnouncement, func(f *fixture, rp types.Hash) [][]byte {
			return one(enc(&BlockAnnouncement{Header: types.Header{Number: 1}, Body: []byte("later")}))
		}, Ignore, ReasonAnnouncementIgnore},
		{"announcement/oversize_body", KindAnnouncement, func(f *fixture, rp types.Hash) [][]byte {
			return one(enc(&BlockAnnouncement{Header: types.Header{Number: 1}, Body: bytes.Repeat([]byte{1}, 1025)}))
		}, Reject, ReasonOversize},
	}
}

// TestValidatorRules: for each rule a peer sends the offending message over
// real gossip; the node's validator gives the expected outcome, a Reject
// costs the sender score and an Ignore does not.
func TestValidatorRules(t *testing.T) {
	f := testFixture(t)
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rp := leafHash(1)
			ev := newEvents()
			n := newTestNode(t, newFakeChain(f, rp), newRecSink(), func(c *Config) {
				c.ValidationHook = ev.hook
				c.AnnouncementValidator = announcementHook
				c.Limits = DefaultLimits()
				c.Limits.AnnouncementBody = 1024
			})
			bad := newRawPeer(t)
			bad.link(t, n)
			msgs := tc.msgs(f, rp)
			for i, m := range msgs {
				bad.send(t, tc.kind, m)
				got := ev.waitFrom(t, bad.h.ID(), i, netWait)
				want, reason := Accept, ""
				if i == len(msgs)-1 {
					want, reason = tc.want, tc.reason
				}
				if got.Kind != tc.kind || got.Result != want || got.Reason != reason {
					t.Fatalf("message %d: got %v/%d/%q, want %v/%d/%q", i, got.Kind, got.Result, got.Reason, tc.kind, want, reason)
				}
			}
			switch tc.want {
			case Reject:
				waitUntil(t, netWait, "score below zero", func() bool {
					s, ok := n.PeerScore(bad.h.ID())
					return ok && s < 0
				})
			case Ignore:
				// A sentinel that is rejected, then a score inspection that
				// has seen it: by then the ignored message has been scored
				// too, and the score must show the one rejection only (a
				// second on the same topic would cost four times as much,
				// one on another topic twice).
				bad.send(t, KindBitfield, []byte{0xde, 0xad})
				if got := ev.waitFrom(t, bad.h.ID(), len(msgs), netWait); got.Result != Reject || got.Reason != ReasonDecode {
					t.Fatalf("sentinel: got %v/%d/%q, want a decode rejection", got.Kind, got.Result, got.Reason)
				}
				var s float64
				waitUntil(t, netWait, "the sentinel's rejection in the score", func() bool {
					var ok bool
					s, ok = n.PeerScore(bad.h.ID())
					return ok && s < 0
				})
				if one := n.cfg.Gossip.InvalidMessageWeight; s < 1.5*one {
					t.Fatalf("score %.2f after an ignored message and one rejection costing %.0f: the ignored message cost score", s, one)
				}
			}
		})
	}
}

// TestGraylist: a peer that keeps sending bad messages is graylisted: its
// score falls below the graylist threshold and its next (valid) message is
// not even validated, while another peer's message still is.
func TestGraylist(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(1)
	chain := newFakeChain(f, rp)
	ev := newEvents()
	sink := newRecSink()
	n := newTestNode(t, chain, sink, func(c *Config) { c.ValidationHook = ev.hook })
	good := newTestNode(t, chain, nil)
	bad := newRawPeer(t)
	bad.link(t, n)
	connect(t, good.Host(), n.Host())
	waitUntil(t, netWait, "topic peers", func() bool { return contains(good.TopicPeers(KindBitfield), n.ID()) })

	// Bad messages until the score is under the graylist threshold; from
	// then on the peer's RPCs are dropped unread.
	// Gossipsub graylists on the live score, PeerScore reports the last
	// inspection: before each message wait until the inspection has seen
	// the previous rejection (nothing but a rejection lowers this peer's
	// score), or the next message could meet a graylist the snapshot does
	// not show yet and never be validated.
	gray := n.Thresholds().Graylist
	sent := 0
	prev, known := n.PeerScore(bad.h.ID())
	for ; sent < 10; sent++ {
		if known && prev < gray {
			break
		}
		bad.send(t, KindBitfield, []byte{byte(sent)})
		if got := ev.waitFrom(t, bad.h.ID(), sent, netWait); got.Result != Reject {
			t.Fatalf("bad message %d: %+v", sent, got)
		}
		waitUntil(t, netWait, fmt.Sprintf("a score inspection after rejection %d", sent+1), func() bool {
			s, ok := n.PeerScore(bad.h.ID())
			if ok && (!known || s < prev) {
				prev, known = s, true
				return true
			}
			return false
		})
	}
	if !known || prev >= gray {
		t.Fatalf("score %.1f (known %v) after %d rejected messages, graylist threshold %.1f", prev, known, sent, gray)
	}
	s := prev
	t.Logf("bad peer score %.1f after %d rejected messages, graylist threshold %.1f", s, sent, gray)

	valid := f.bitfield(rp, 4, "11111")
	bad.send(t, KindBitfield, enc(&valid))
	other := f.bitfield(rp, 5, "11111")
	if err := good.PublishBitfield(t.Context(), rp, other.Bitfield); err != nil {
		t.Fatal(err)
	}
	got := ev.waitFrom(t, good.ID(), 0, netWait)
	if got.Result != Accept {
		t.Fatalf("good peer's bitfield: %+v", got)
	}
	time.Sleep(300 * time.Millisecond)
	if c := ev.countFrom(bad.h.ID()); c != sent {
		t.Fatalf("graylisted peer's message was validated (%d events)", c)
	}
	select {
	case d := <-sink.ch:
		if d.Bitfield.ValidatorIndex != 5 {
			t.Fatalf("delivered bitfield of validator %d", d.Bitfield.ValidatorIndex)
		}
	case <-time.After(netWait):
		t.Fatal("good bitfield not delivered")
	}
}

// TestDedupePrunedOnDeactivation: the per-relay-parent dedupe state drops
// with the leaf, both by PruneRelayParent and by the sweep.
func TestDedupePrunedOnDeactivation(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(2)
	chain := newFakeChain(f, rp)
	n := newTestNode(t, chain, nil)
	ctx := t.Context()

	a, b := f.bitfield(rp, 1, "10000"), f.bitfield(rp, 1, "00001")
	if err := n.PublishBitfield(ctx, rp, a.Bitfield); err != nil {
		t.Fatal(err)
	}
	err := n.PublishBitfield(ctx, rp, b.Bitfield)
	if !errors.Is(err, ErrPublishIgnore) {
		t.Fatalf("second bitfield: %v, want ignored", err)
	}
	if got := n.vals.dedupe.size(rp); got != 1 {
		t.Fatalf("dedupe holds %d bitfields, want 1", got)
	}
	n.PruneRelayParent(rp)
	if got := n.vals.dedupe.size(rp); got != 0 {
		t.Fatalf("after prune dedupe holds %d", got)
	}
	// Pruned: the validator's other bitfield passes (the leaf is still
	// active in this view).
	if err := n.PublishBitfield(ctx, rp, b.Bitfield); err != nil {
		t.Fatalf("after prune: %v", err)
	}
	// Deactivation without PruneRelayParent: the sweep drops the state.
	chain.deactivate(rp)
	n.sweep()
	if got := len(n.vals.dedupe.relayParents()); got != 0 {
		t.Fatalf("after sweep dedupe tracks %d relay parents", got)
	}
	c := f.bitfield(rp, 2, "10000")
	if err := n.PublishBitfield(ctx, rp, c.Bitfield); !errors.Is(err, ErrPublishIgnore) {
		t.Fatalf("bitfield for a deactivated leaf: %v", err)
	}
}

// TestLocalPublishErrors: publishing something the node's own validators
// reject reports why.
func TestLocalPublishErrors(t *testing.T) {
	f := testFixture(t)
	rp := leafHash(3)
	reg := prometheus.NewRegistry()
	n := newTestNode(t, newFakeChain(f, rp), nil, func(c *Config) { c.Registerer = reg })
	bv, _ := types.BitVecFromString("10000")
	bf := types.SignBitfield(f.keys[1], bv, 0, types.SigningContext{SessionIndex: f.session, ParentHash: rp})
	err := n.PublishBitfield(t.Context(), rp, bf)
	if !errors.Is(err, ErrPublishReject) || !bytes.Contains([]byte(err.Error()), []byte(ReasonBadSignature)) {
		t.Fatalf("publish of a forged bitfield: %v", err)
	}
	if err := n.publishRaw(t.Context(), KindDispute, []byte{0}); !errors.Is(err, ErrPublishReject) {
		t.Fatalf("raw garbage: %v", err)
	}
	if got := counterValue(t, reg, "provisioner_p2p_gossip_rejected_total", map[string]string{"topic": "bitfield", "reason": ReasonBadSignature}); got != 1 {
		t.Fatalf("rejected{bitfield,bad_signature} = %v, want 1", got)
	}
	if got := counterValue(t, reg, "provisioner_p2p_gossip_rejected_total", map[string]string{"topic": "dispute", "reason": ReasonDecode}); got != 1 {
		t.Fatalf("rejected{dispute,decode} = %v, want 1", got)
	}
}

func counterValue(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// blockingSink blocks on its first bitfield until released.
type blockingSink struct {
	recSink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *blockingSink) Bitfield(rp types.Hash, bf *types.UncheckedSignedAvailabilityBitfield) {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
}

// TestSlowSinkDropsCounted: when the sink falls behind by more than the
// queue size, pubsub drops deliveries and the drops are counted.
func TestSlowSinkDropsCounted(t *testing.T) {
	f := testFixture(t)
	reg := prometheus.NewRegistry()
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	leaves := []types.Hash{leafHash(20), leafHash(21)}
	n := newTestNode(t, newFakeChain(f, leaves...), sink, func(c *Config) {
		c.Registerer = reg
		c.Gossip.QueueSize = 4
	})
	defer close(sink.release)
	published := 0
	for _, rp := range leaves {
		for v := 0; v < len(f.keys); v++ {
			m := f.bitfield(rp, types.ValidatorIndex(v), "10000")
			if err := n.PublishBitfield(t.Context(), rp, m.Bitfield); err != nil {
				t.Fatal(err)
			}
			published++
			if published == 1 {
				<-sink.entered
			}
		}
	}
	// 1 in the sink, at most 4 queued: the rest is dropped and counted.
	waitUntil(t, netWait, "drops counted", func() bool {
		return counterValue(t, reg, "provisioner_p2p_dropped_total", map[string]string{"queue": DropSubscriber}) >= float64(published-1-4)
	})
}

// TestDedupeBitfields: per relay parent and validator, the first bitfield
// added is kept; the same payload again is a duplicate, another one a
// second bitfield, whether the index has a slot or is past the slots the
// relay parent's table was made with.
func TestDedupeBitfields(t *testing.T) {
	bf := func(i types.ValidatorIndex, bits string) *types.UncheckedSignedAvailabilityBitfield {
		b := types.NewBitVec(len(bits))
		for j, c := range bits {
			b.Set(j, c == '1')
		}
		return &types.UncheckedSignedAvailabilityBitfield{Payload: b, ValidatorIndex: i}
	}
	rpA, rpB := leafHash(1), leafHash(2)
	var d dedupe
	steps := []struct {
		op   string // "seen" or "add"
		rp   types.Hash
		bf   *types.UncheckedSignedAvailabilityBitfield
		want string
	}{
		{"seen", rpA, bf(1, "10000"), ""},
		{"add", rpA, bf(1, "10000"), ""},
		{"seen", rpA, bf(1, "10000"), ReasonDuplicate},
		{"seen", rpA, bf(1, "01000"), ReasonSecondBitfield},
		{"add", rpA, bf(1, "10000"), ReasonDuplicate},
		{"add", rpA, bf(1, "01000"), ReasonSecondBitfield},
		{"seen", rpA, bf(0, "10000"), ""},
		{"seen", rpB, bf(1, "10000"), ""}, // another relay parent
		{"add", rpB, bf(1, "01000"), ""},
		// Past the 4 slots the tables are made with.
		{"add", rpA, bf(9, "00100"), ""},
		{"seen", rpA, bf(9, "00100"), ReasonDuplicate},
		{"add", rpA, bf(9, "00010"), ReasonSecondBitfield},
	}
	for i, s := range steps {
		var got string
		if s.op == "seen" {
			got = d.seenBitfield(s.rp, s.bf)
		} else {
			got = d.addBitfield(s.rp, 4, s.bf)
		}
		if got != s.want {
			t.Fatalf("step %d (%s validator %d %v): %q, want %q", i, s.op, s.bf.ValidatorIndex, s.bf.Payload.Bytes, got, s.want)
		}
	}
	if a, b := d.size(rpA), d.size(rpB); a != 2 || b != 1 {
		t.Fatalf("sizes %d and %d, want 2 and 1", a, b)
	}
	rps := d.relayParents()
	if len(rps) != 2 || !slices.Contains(rps, rpA) || !slices.Contains(rps, rpB) {
		t.Fatalf("relay parents %v", rps)
	}
	d.prune(rpA)
	if got := d.seenBitfield(rpA, bf(1, "10000")); got != "" || d.size(rpA) != 0 {
		t.Fatalf("after prune: %q, size %d", got, d.size(rpA))
	}
}

// TestDedupeBitfieldsConcurrent: of the different bitfields of one
// validator added at once (a batch answers a thousand validators
// together), exactly one is kept, and each of the others is told it is a
// second bitfield, or a duplicate if it is the kept one's copy.
func TestDedupeBitfieldsConcurrent(t *testing.T) {
	const n = 64
	var d dedupe
	rp := leafHash(1)
	results := make([]string, n)
	payloads := make([]*types.UncheckedSignedAvailabilityBitfield, n)
	for i := range payloads {
		b := types.NewBitVec(8)
		for j := range 8 {
			b.Set(j, i>>j&1 == 1)
		}
		payloads[i] = &types.UncheckedSignedAvailabilityBitfield{Payload: b, ValidatorIndex: 3}
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = d.addBitfield(rp, 10, payloads[i]) })
	}
	wg.Wait()
	kept := -1
	for i, r := range results {
		switch r {
		case "":
			if kept >= 0 {
				t.Fatalf("bitfields %d and %d both kept", kept, i)
			}
			kept = i
		case ReasonSecondBitfield:
		default:
			t.Fatalf("bitfield %d: %q", i, r)
		}
	}
	if kept < 0 {
		t.Fatal("no bitfield kept")
	}
	for i, p := range payloads {
		want := ReasonSecondBitfield
		if i == kept {
			want = ReasonDuplicate
		}
		if got := d.seenBitfield(rp, p); got != want {
			t.Fatalf("bitfield %d after: %q, want %q", i, got, want)
		}
	}
}

// TestKeyCache: a key is served from the cache once parsed (the same
// pointer, from any goroutine, even to lookups that raced to parse it
// first); keys parsed since the last
// snapshot are merged into it once a lookup finds one of them, so a
// session's keys end up read without a lock; a key that does not parse is
// cached as nil; and past maxCachedKeys the cache starts over.
func TestKeyCache(t *testing.T) {
	s := benchMessages(t)
	ids := s.chain.info.Validators[:300]
	var c keyCache
	first := make([]*types.PublicKey, len(ids))
	for i, id := range ids {
		first[i] = c.get(id)
		if first[i] == nil || first[i].Bytes() != [32]byte(id) {
			t.Fatalf("key %d: %v", i, first[i])
		}
	}
	all, recent := c.size()
	if all != len(ids) || recent == 0 || recent >= max(mergeMin, (all-recent)/4) {
		t.Fatalf("after %d keys: %d cached, %d recent", len(ids), all, recent)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, id := range ids {
				if k := c.get(id); k != first[i] {
					t.Errorf("key %d parsed again", i)
					return
				}
			}
		})
	}
	wg.Wait()
	if all, recent := c.size(); all != len(ids) || recent != 0 {
		t.Fatalf("after lookups: %d cached, %d recent; want %d and 0", all, recent, len(ids))
	}
	// Lookups racing for keys nobody has parsed yet agree on one parsed
	// key each: a validator that parsed a key another cached meanwhile
	// takes the cached one.
	var race keyCache
	got := make([][]*types.PublicKey, 4)
	for g := range got {
		wg.Go(func() {
			for _, id := range ids[:100] {
				got[g] = append(got[g], race.get(id))
			}
		})
	}
	wg.Wait()
	for i := range 100 {
		for g := range got {
			if got[g][i] != got[0][i] || got[g][i].Bytes() != [32]byte(ids[i]) {
				t.Fatalf("key %d: goroutine %d got another key than goroutine 0", i, g)
			}
		}
	}
	bad := types.ValidatorID{0xff, 0xff} // not a canonical encoding
	if c.get(bad) != nil || c.get(bad) != nil {
		t.Fatal("a key that does not parse is not nil")
	}
	if all, _ := c.size(); all != len(ids)+1 {
		t.Fatalf("%d cached with the bad key, want %d", all, len(ids)+1)
	}
	// Fill up to the bound with keys that do not parse (cheap), then one
	// more starts the cache over.
	var id types.ValidatorID
	for i := 0; ; i++ {
		if all, _ := c.size(); all >= maxCachedKeys {
			break
		}
		binary.LittleEndian.PutUint32(id[1:], uint32(i))
		id[0] = 0xff
		c.get(id)
	}
	if k := c.get(ids[0]); k != first[0] {
		t.Fatal("a cached key parsed again at the bound")
	}
	if k := c.get(ids[len(ids)-1]); k != first[len(ids)-1] {
		t.Fatal("a cached key parsed again at the bound")
	}
	fresh := s.chain.info.Validators[len(ids)]
	if k := c.get(fresh); k == nil || k.Bytes() != [32]byte(fresh) {
		t.Fatalf("a new key past the bound: %v", k)
	}
	if all, _ := c.size(); all != 1 {
		t.Fatalf("%d cached after a new key past the bound, want 1 (started over)", all)
	}
}
