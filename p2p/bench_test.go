package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// benchSet: 1,000 validators, 200 cores, one signed bitfield each for one
// relay parent, as gossip bytes and as raw (key, payload, signature).
type benchSet struct {
	rp       types.Hash
	chain    *benchChain
	data     [][]byte
	keys     []*types.PublicKey
	payloads [][]byte
	sigs     [][64]byte
}

type benchChain struct{ info LeafInfo }

func (c *benchChain) Leaf(rp types.Hash) (LeafInfo, bool) { return c.info, true }
func (c *benchChain) BackingGroup(types.Hash, types.CoreIndex) ([]types.ValidatorIndex, int, error) {
	return nil, 0, nil
}
func (c *benchChain) SessionValidators(types.SessionIndex) ([]types.ValidatorID, bool) {
	return c.info.Validators, true
}

var (
	benchOnce sync.Once
	bench     *benchSet
)

func benchMessages(testing.TB) *benchSet {
	benchOnce.Do(func() {
		const validators, cores = 1000, 200
		s := &benchSet{rp: types.Blake2_256([]byte("bench leaf")), chain: &benchChain{}}
		s.chain.info = LeafInfo{Session: 3, NumCores: cores}
		ctx := types.SigningContext{SessionIndex: 3, ParentHash: s.rp}
		for i := 0; i < validators; i++ {
			var seed [32]byte
			binary.LittleEndian.PutUint32(seed[:], uint32(i)+1)
			kp, err := types.KeypairFromSeed(seed)
			if err != nil {
				panic(err)
			}
			s.chain.info.Validators = append(s.chain.info.Validators, types.ValidatorID(kp.Public()))
			bits := types.NewBitVec(cores)
			for c := 0; c < cores; c++ {
				bits.Set(c, (c+i)%3 != 0)
			}
			bf := types.SignBitfield(kp, bits, types.ValidatorIndex(i), ctx)
			s.data = append(s.data, types.Encode(&BitfieldMessage{RelayParent: s.rp, Bitfield: bf}))
			pk, err := types.ParsePublicKey(kp.Public())
			if err != nil {
				panic(err)
			}
			s.keys = append(s.keys, pk)
			s.payloads = append(s.payloads, types.BitfieldSigningPayload(bits, ctx))
			s.sigs = append(s.sigs, bf.Signature)
		}
		bench = s
	})
	return bench
}

// benchValidator is the bitfield topic validator exactly as pubsub calls
// it (decode, chain view, dedupe, cached key, verify, metrics, hand-off).
func benchValidator(s *benchSet) (*validators, pubsub.ValidatorEx) {
	v := &validators{chain: s.chain, lim: DefaultLimits(), m: newMetrics(nil), self: peer.ID("self")}
	// Steady state: a session's keys are parsed once and verify thousands
	// of bitfields.
	for _, id := range s.chain.info.Validators {
		v.keys.get(id)
	}
	return v, v.topicValidator(KindBitfield, v.validateBitfield)
}

var topicBitfield = TopicName(testGenesis, KindBitfield)

func newMsg(data []byte) *pubsub.Message {
	return &pubsub.Message{Message: &pb.Message{Data: data, Topic: &topicBitfield}, ReceivedFrom: "peer"}
}

// validateOne validates message i; every full round the relay parent is
// pruned so the same bitfields are new again (dedupe cost included).
func validateOne(b testing.TB, v *validators, val pubsub.ValidatorEx, s *benchSet, i int) {
	j := i % len(s.data)
	if j == 0 && i > 0 {
		v.dedupe.prune(s.rp)
	}
	if r := val(context.Background(), "peer", newMsg(s.data[j])); r != Accept {
		panic(fmt.Sprintf("message %d: result %d", j, r))
	}
}

func rawOne(b testing.TB, s *benchSet, i int) {
	j := i % len(s.data)
	if !s.keys[j].Verify(s.payloads[j], s.sigs[j]) {
		panic(fmt.Sprintf("message %d does not verify", j))
	}
}

// BenchmarkBitfieldValidation: topic validation of signed bitfields from
// 1,000 validators (200 cores).
func BenchmarkBitfieldValidation(b *testing.B) {
	s := benchMessages(b)
	v, val := benchValidator(s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		validateOne(b, v, val, s, i)
	}
}

// BenchmarkRawVerify: the same messages, only the sr25519 verification
// (pre-parsed keys, pre-built signing payloads).
func BenchmarkRawVerify(b *testing.B) {
	s := benchMessages(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rawOne(b, s, i)
	}
}

// BenchmarkBitfieldValidationVsRaw alternates blocks of validations and
// raw verifications of the same messages (so CPU frequency and noise hit
// both alike) and reports validation throughput as a fraction of raw
// verification throughput ("ratio", target >= 0.9).
func BenchmarkBitfieldValidationVsRaw(b *testing.B) {
	s := benchMessages(b)
	v, val := benchValidator(s)
	const block = 100
	var tv, tr time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i += block {
		n := min(block, b.N-i)
		t0 := time.Now()
		for k := 0; k < n; k++ {
			validateOne(b, v, val, s, i+k)
		}
		t1 := time.Now()
		for k := 0; k < n; k++ {
			rawOne(b, s, i+k)
		}
		tr += time.Since(t1)
		tv += t1.Sub(t0)
	}
	b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "validate-ns/op")
	b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(tr)/float64(tv), "ratio")
}
