package p2p

import (
	"testing"
	"time"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"

	"github.com/polkadot-provisioner/provisioner/types"
)

// sigVerifyModes are the verification strategies BenchmarkSignatureVerification
// compares, each over the same signed bitfield payloads of benchMessages.
type sigVerifyMode struct {
	name  string
	batch int // 0: one signature at a time
	// schnorrkel: go-schnorrkel, the implementation types used before
	// curve25519-voi; otherwise types.PublicKey and types.BatchVerifier
	// (the types package's own verification on voi's primitives).
	schnorrkel bool
}

var sigVerifyModes = []sigVerifyMode{
	{name: "schnorrkel", schnorrkel: true},
	{name: "voi"},
	{name: "batch64", batch: 64},
	{name: "batch256", batch: 256},
	{name: "batch1000", batch: 1000},
}

// BenchmarkSignatureVerification succeeds BenchmarkBitfieldValidationVsRaw
// for the verification alone: one op is a round in which every mode
// verifies the 1,000 signed bitfields of benchMessages (pre-parsed keys,
// pre-built signing payloads): go-schnorrkel one by one, types one by one
// ("voi", the name it had when types called voi's sr25519), and types'
// batch equation in batches of 64, 256 and 1,000, preparing the items in
// Add (a batch mode covers the largest multiple of its size, 960, 768 and
// 1,000 items). The modes run back to back in every round, in an order
// that rotates from round to round, so CPU frequency changes and noisy
// neighbours hit them alike; the metrics are ns per signature of each mode
// and its throughput relative to go-schnorrkel ("<mode>-x").
func BenchmarkSignatureVerification(b *testing.B) {
	s := benchMessages(b)
	n := len(s.sigs)
	// go-schnorrkel keys, parsed once like types.PublicKey; Encode fills
	// the key's cached compressed form, which Verify would otherwise write.
	skeys := make([]*schnorrkel.PublicKey, n)
	for i, id := range s.chain.info.Validators {
		k, err := schnorrkel.NewPublicKey(id)
		if err != nil {
			b.Fatal(err)
		}
		k.Encode()
		skeys[i] = k
	}
	bv := types.NewBatchVerifier(n)

	run := func(m sigVerifyMode) (items int) {
		switch {
		case m.schnorrkel:
			for i := range n {
				// Decoding the signature is part of a real verification.
				var sig schnorrkel.Signature
				if err := sig.Decode(s.sigs[i]); err != nil {
					b.Fatal(err)
				}
				ok, err := skeys[i].Verify(&sig, schnorrkel.NewSigningContext([]byte("substrate"), s.payloads[i]))
				if err != nil || !ok {
					b.Fatalf("schnorrkel: signature %d does not verify", i)
				}
			}
			return n
		case m.batch == 0:
			for i := range n {
				if !s.keys[i].Verify(s.payloads[i], s.sigs[i]) {
					b.Fatalf("voi: signature %d does not verify", i)
				}
			}
			return n
		}
		items = n / m.batch * m.batch
		for lo := 0; lo < items; lo += m.batch {
			bv.Reset()
			for i := lo; i < lo+m.batch; i++ {
				bv.Add(s.keys[i], s.payloads[i], s.sigs[i])
			}
			if _, err := bv.Verify(); err != nil {
				b.Fatalf("%s: batch at %d: %v", m.name, lo, err)
			}
		}
		return items
	}

	elapsed := make([]time.Duration, len(sigVerifyModes))
	count := make([]int, len(sigVerifyModes))
	round := 0
	for b.Loop() {
		for k := range sigVerifyModes {
			j := (round + k) % len(sigVerifyModes)
			t0 := time.Now()
			count[j] += run(sigVerifyModes[j])
			elapsed[j] += time.Since(t0)
		}
		round++
	}
	perSig := func(j int) float64 { return float64(elapsed[j].Nanoseconds()) / float64(count[j]) }
	for j, m := range sigVerifyModes {
		b.ReportMetric(perSig(j), m.name+"-ns/sig")
		if j > 0 {
			b.ReportMetric(perSig(0)/perSig(j), m.name+"-x")
		}
	}
	b.ReportMetric(float64(len(s.payloads[0])), "payload-bytes")
}

// TestSignatureVerificationModesAgree keeps the benchmark honest: every
// mode accepts the benchmark's signatures and rejects a corrupted one.
func TestSignatureVerificationModesAgree(t *testing.T) {
	s := benchMessages(t)
	bad := s.sigs[7]
	bad[3] ^= 1
	if s.keys[7].Verify(s.payloads[7], bad) {
		t.Fatal("voi accepts a corrupted signature")
	}
	k, err := schnorrkel.NewPublicKey([32]byte(s.chain.info.Validators[7]))
	if err != nil {
		t.Fatal(err)
	}
	var sig schnorrkel.Signature
	if err := sig.Decode(bad); err == nil {
		if ok, _ := k.Verify(&sig, schnorrkel.NewSigningContext([]byte("substrate"), s.payloads[7])); ok {
			t.Fatal("go-schnorrkel accepts a corrupted signature")
		}
	}
	bv := types.NewBatchVerifier(64)
	for i := range 64 {
		sig := s.sigs[i]
		if i == 7 {
			sig = bad
		}
		bv.Add(s.keys[i], s.payloads[i], sig)
	}
	valid, err := bv.Verify()
	if err == nil {
		t.Fatal("batch with a corrupted signature verifies")
	}
	for i, ok := range valid {
		if ok != (i != 7) {
			t.Errorf("batch item %d: valid=%v", i, ok)
		}
	}
	for i, p := range s.payloads {
		if len(p) != benchPayloadLen {
			t.Fatalf("payload %d is %d bytes, want %d", i, len(p), benchPayloadLen)
		}
	}
}

// benchPayloadLen is the size of a bitfield signing payload of
// benchMessages (200 cores): compact bit length (2), the bits (25) and
// SCALE(SigningContext) (36).
const benchPayloadLen = 2 + 25 + 36
