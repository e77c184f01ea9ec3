package testnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/types"
)

// adversary is a misbehaving validator's second network face: a raw
// gossipsub peer without validators, so it can publish what an honest node
// refuses to send. It speaks the same topics with the same message-id rule,
// and it answers the validator-record protocol with a record signed by
// its validator's key: a hostile validator can admit a second identity of
// its own, which is what the admission rules must survive (its junk then
// gets it graylisted and banned).
type adversary struct {
	h      host.Host
	ps     *pubsub.PubSub
	topics map[p2p.Kind]*pubsub.Topic
	rng    *rand.Rand
	sent   map[string]int
}

func newAdversary(ctx context.Context, g *Genesis, validator int, kp *types.Keypair) (*adversary, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		return nil, err
	}
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(p2p.MessageID))
	if err != nil {
		h.Close()
		return nil, err
	}
	key := &p2p.SessionKey{Session: g.Session, Index: types.ValidatorIndex(validator), Signer: kp}
	rec := p2p.SignValidatorRecord(g.Hash(), h.ID(), h.Addrs(), key)
	h.SetStreamHandler(p2p.ValidatorRecordProtocol(g.Hash()), func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := p2p.ReadFrame(bufio.NewReader(s), 64); err != nil {
			_ = s.Reset()
			return
		}
		_ = p2p.WriteFrame(s, someRecord{rec})
	})
	a := &adversary{h: h, ps: ps, topics: map[p2p.Kind]*pubsub.Topic{}, rng: rand.New(rand.NewPCG(g.Seed, uint64(validator))), sent: map[string]int{}}
	for _, k := range []p2p.Kind{p2p.KindBitfield, p2p.KindBackedCandidate, p2p.KindDispute, p2p.KindMisbehavior} {
		t, err := ps.Join(p2p.TopicName(g.Hash(), k))
		if err != nil {
			h.Close()
			return nil, err
		}
		a.topics[k] = t
	}
	return a, nil
}

// someRecord is the record response: SCALE Option::Some(record).
type someRecord struct{ rec *p2p.ValidatorRecord }

func (r someRecord) Encode(w *codec.Writer) {
	w.U8(1)
	r.rec.Encode(w)
}

func (a *adversary) connect(ctx context.Context, ai peer.AddrInfo) {
	if len(a.h.Network().ConnsToPeer(ai.ID)) == 0 {
		_ = a.h.Connect(ctx, ai)
	}
}

func (a *adversary) publish(ctx context.Context, k p2p.Kind, what string, data []byte) {
	if err := a.topics[k].Publish(ctx, data); err == nil {
		a.sent[what]++
	}
}

func (a *adversary) close() { a.h.Close() }

// misbehave sends, for the new leaf, one of each kind of bad message a
// hostile validator might: a bitfield with a forged signature, one of the
// wrong length, one for a validator index out of range, an equivocating
// second bitfield, garbage and oversize bytes, a backed candidate with a
// forged vote, and a burst of junk (a flood).
func (n *Node) misbehave(ctx context.Context, leaf types.Hash, st *State) {
	if n.adv == nil {
		adv, err := newAdversary(ctx, n.g, n.cfg.Validator, n.kp)
		if err != nil {
			log.Warnw("adversary", "err", err)
			return
		}
		n.adv = adv
	}
	a := n.adv
	a.connect(ctx, n.net.AddrInfo())
	for _, p := range n.net.Host().Network().Peers() {
		if len(n.net.Host().Peerstore().Addrs(p)) > 0 {
			a.connect(ctx, peer.AddrInfo{ID: p, Addrs: n.net.Host().Peerstore().Addrs(p)})
		}
	}
	me := types.ValidatorIndex(n.cfg.Validator)
	sctx := types.SigningContext{SessionIndex: n.chain.sessionForChild(leaf), ParentHash: leaf}
	msg := func(bf types.UncheckedSignedAvailabilityBitfield) []byte {
		return types.Encode(&p2p.BitfieldMessage{RelayParent: leaf, Bitfield: bf})
	}
	// Forged signature.
	forged := types.SignBitfield(n.kp, AvailabilityBitfield(n.g, st), me, sctx)
	forged.Signature[5] ^= 0xff
	a.publish(ctx, p2p.KindBitfield, "bad_signature", msg(forged))
	// Wrong length, correctly signed.
	wrong := types.SignBitfield(n.kp, types.NewBitVec(n.g.Cores+3), me, sctx)
	a.publish(ctx, p2p.KindBitfield, "bitfield_length", msg(wrong))
	// Validator index out of range.
	oob := types.SignBitfield(n.kp, AvailabilityBitfield(n.g, st), types.ValidatorIndex(len(n.g.Validators)+7), sctx)
	a.publish(ctx, p2p.KindBitfield, "validator_index", msg(oob))
	// Equivocation: a second, different, validly signed bitfield.
	eq := types.SignBitfield(n.kp, types.NewBitVec(n.g.Cores), me, sctx)
	a.publish(ctx, p2p.KindBitfield, "equivocation", msg(eq))
	// Garbage and oversize.
	junk := make([]byte, 64+a.rng.IntN(64))
	for i := range junk {
		junk[i] = byte(a.rng.Uint32())
	}
	a.publish(ctx, p2p.KindBitfield, "garbage", junk)
	a.publish(ctx, p2p.KindDispute, "garbage", junk)
	a.publish(ctx, p2p.KindBitfield, "oversize", make([]byte, 200<<10))
	// A backed candidate whose vote is forged.
	h, _, err := n.chain.HeaderAndState(leaf)
	if err == nil {
		core := types.CoreIndex(int(me) % n.g.Cores)
		if cand, err := BuildCandidate(n.g, &h, st, core); err == nil {
			vote := BackingVote(n.kp, cand, true)
			vote.Signature[0] ^= 1
			if bc, err := Backed(cand, len(cand.Group), map[int]types.ValidityAttestation{0: vote}); err == nil {
				a.publish(ctx, p2p.KindBackedCandidate, "bad_vote", types.Encode(&p2p.BackedCandidateMessage{RelayParent: leaf, Candidate: bc}))
			}
		}
	}
	// Flood: a burst of distinct junk messages.
	for i := 0; i < 50; i++ {
		b := binary.LittleEndian.AppendUint64(nil, a.rng.Uint64())
		a.publish(ctx, p2p.KindBitfield, "flood", append(b, []byte(fmt.Sprintf("flood %d", i))...))
	}
}
