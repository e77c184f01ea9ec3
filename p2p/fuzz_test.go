package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// FuzzTopicValidators feeds bytes from a peer to a topic's validator, as
// gossipsub calls it, on a chain whose leaf is active (seeds: a valid
// message of each kind). Whatever the bytes, the validator answers
// Accept, Reject or Ignore without panicking, gives a reason for the last
// two, and accepts only bytes that are exactly the encoding of the value
// it hands on.
func FuzzTopicValidators(f *testing.F) {
	fx := testFixture(f)
	rp := leafHash(1)
	cand := types.Blake2_256([]byte("candidate"))
	f.Add(byte(KindBitfield), enc(ptr(fx.bitfield(rp, 3, "10101"))))
	f.Add(byte(KindBackedCandidate), enc(ptr(fx.backed(rp, 2, 2))))
	f.Add(byte(KindDispute), enc(ptr(fx.dispute(cand, 1, 4))))
	f.Add(byte(KindMisbehavior), enc(ptr(fx.misbehavior(cand, 6))))
	f.Add(byte(KindAnnouncement), []byte{})
	f.Add(byte(KindBitfield), []byte{0xde, 0xad})
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := Kinds[int(kind)%len(Kinds)]
		v := &validators{chain: newFakeChain(fx, rp), lim: DefaultLimits(), m: newMetrics(nil), self: "self"}
		for _, k := range Kinds {
			v.maxSize[k] = v.lim.forKind(k).MaxMessageSize
		}
		var reason string
		v.hook = func(e ValidationEvent) { reason = e.Reason }
		topic := TopicName(testGenesis, k)
		msg := &pubsub.Message{Message: &pb.Message{Data: data, Topic: &topic}, ReceivedFrom: "peer"}
		res := v.topicValidatorFor(k, v.forKind(k))(context.Background(), peer.ID("peer"), msg)
		switch res {
		case Accept:
			e, ok := msg.ValidatorData.(types.Encoder)
			if !ok {
				t.Fatalf("%s accepted, handing on %T", k, msg.ValidatorData)
			}
			if got := types.Encode(e); !bytes.Equal(got, data) {
				t.Fatalf("%s accepted %x, which re-encodes as %x", k, data, got)
			}
		case Reject, Ignore:
			if reason == "" {
				t.Fatalf("%s: result %v without a reason", k, res)
			}
		default:
			t.Fatalf("%s: result %v", k, res)
		}
	})
}

// FuzzValidatorRecords: a validator record (and a record set) that
// decodes re-encodes to exactly its bytes; anything else is refused with
// ErrRecordMalformed.
func FuzzValidatorRecords(f *testing.F) {
	fx := testFixture(f)
	key := &SessionKey{Session: fx.session, Index: 2, Signer: fx.keys[2]}
	rec := SignValidatorRecord(testGenesis, peer.ID("peer"), nil, key)
	f.Add(enc(rec))
	set, err := SignValidatorRecordSet(testGenesis, peer.ID("peer"), nil, []*SessionKey{key})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc(set))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeValidatorRecord(data); err == nil {
			if got := enc(r); !bytes.Equal(got, data) {
				t.Fatalf("record %x re-encodes as %x", data, got)
			}
		} else if !errors.Is(err, ErrRecordMalformed) {
			t.Fatalf("record: %v", err)
		}
		if s, err := DecodeValidatorRecordSet(data); err == nil {
			if got := enc(s); !bytes.Equal(got, data) {
				t.Fatalf("record set %x re-encodes as %x", data, got)
			}
		} else if !errors.Is(err, ErrRecordMalformed) {
			t.Fatalf("record set: %v", err)
		}
	})
}

// FuzzReadFrame: ReadFrame returns exactly the body its length prefix
// announces, never one above the limit, and an error otherwise.
func FuzzReadFrame(f *testing.F) {
	f.Add(uint16(16), []byte{3, 'a', 'b', 'c'})
	f.Add(uint16(2), []byte{3, 'a', 'b', 'c'})
	f.Add(uint16(100), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(uint16(100), []byte{5, 'a'})
	f.Fuzz(func(t *testing.T, limit uint16, data []byte) {
		max := int(limit)
		frame, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)), max)
		n, pl := binary.Uvarint(data)
		switch {
		case pl <= 0:
			if err == nil {
				t.Fatalf("frame %x read from a bad prefix", frame)
			}
		case n > uint64(max):
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("length %d over limit %d: err %v", n, max, err)
			}
		case uint64(len(data)-pl) < n:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("short body: err %v", err)
			}
		default:
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(frame, data[pl:pl+int(n)]) {
				t.Fatalf("frame %x, want %x", frame, data[pl:pl+int(n)])
			}
		}
	})
}

// FuzzFrameFollow: a gossip stream's framing (frameStream.follow) over
// bytes a peer sends, in whatever pieces they arrive, agrees with a plain
// reading of the whole stream: length prefixes of at most 9 bytes, empty
// frames skipped, a frame above the limit refused (ErrFrameTooLarge) and
// nothing read after it; and the bytes it reserved are back in the budget
// once the stream ends at a frame boundary or fails.
func FuzzFrameFollow(f *testing.F) {
	f.Add(uint16(8), []byte{3}, []byte{3, 'a', 'b', 'c', 0, 2, 'd', 'e'})
	f.Add(uint16(8), []byte{1, 1, 1}, []byte{9, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint16(1000), []byte{}, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add(uint16(200), []byte{2}, []byte{0x81, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, limit uint16, cuts []byte, data []byte) {
		budget := newFrameBudget(1<<30, 1<<30)
		g := &frameGuard{
			cfg:      &FrameConfig{Timeout: time.Second, MinRate: 1 << 20, StrangerMax: 1 << 16},
			maxFrame: int(limit),
			budget:   budget,
			admitted: func(peer.ID) bool { return true },
		}
		fs := &frameStream{g: g, peer: "peer"}
		var err error
		rest := data
		for i := 0; len(rest) > 0 && err == nil; i++ {
			k := len(rest)
			if i < len(cuts) {
				k = min(k, int(cuts[i])+1)
			}
			err = fs.follow(rest[:k])
			rest = rest[k:]
		}
		wantErr, boundary := plainFraming(data, int(limit))
		if (err != nil) != wantErr {
			t.Fatalf("follow: err %v, a plain reading fails: %v", err, wantErr)
		}
		if err != nil && !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("follow: %v", err)
		}
		if err != nil || boundary {
			fs.releaseAll()
			if n := budget.inUse(); n != 0 {
				t.Fatalf("%d bytes left reserved", n)
			}
		}
	})
}

// plainFraming reads data as uvarint-prefixed frames of at most limit
// bytes: fails says a prefix is over 9 bytes or a length over limit;
// boundary says data ends between frames.
func plainFraming(data []byte, limit int) (fails, boundary bool) {
	for len(data) > 0 {
		var n uint64
		i := 0
		for {
			if i == len(data) {
				return false, false // inside a prefix
			}
			if i == 9 {
				return true, false
			}
			c := data[i]
			n |= uint64(c&0x7f) << (7 * i)
			i++
			if c&0x80 == 0 {
				break
			}
		}
		data = data[i:]
		if n > uint64(limit) {
			return true, false
		}
		if uint64(len(data)) < n {
			return false, false // inside a body
		}
		data = data[n:]
	}
	return false, true
}
