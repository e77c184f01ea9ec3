package p2p

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"
)

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burstMode is one way of getting through the burst of
// BenchmarkBitfieldBurstVsRaw.
type burstMode struct {
	name string
	run  func(b *testing.B)
}

// BenchmarkBitfieldBurstVsRaw succeeds BenchmarkBitfieldValidationVsRaw
// for the targets: a burst of the 1,000 signed bitfields of
// benchMessages (what a Kusama-sized validator set sends every block),
// validated concurrently as gossipsub does it, one goroutine per message
// calling the topic validator (registered without a timeout); against
// go-schnorrkel's single verification of the same signatures (pre-parsed
// keys and pre-built payloads, so raw verification and nothing else) on
// GOMAXPROCS goroutines, which is all the parallelism the machine has.
//
// One op is a round in which every mode goes through the whole burst, in
// an order that rotates from round to round, so that CPU frequency and
// noisy neighbours hit the modes alike; an untimed round comes first.
// Modes:
//   - "schnorrkel", "voi": raw single verification with go-schnorrkel and
//     with types.PublicKey (the types package's own verification on
//     curve25519-voi's primitives, with the key's precomputed table);
//   - "validate-spread": the topic validator, BatchVerify off, on
//     GOMAXPROCS long-lived goroutines like the raw modes;
//   - "validate": the same with a goroutine per message, as gossipsub
//     runs it (the difference is what fresh goroutines cost: their stacks
//     have to grow for the arithmetic, see reserveStack);
//   - "pool": the batcher's GOMAXPROCS workers verifying one signature at
//     a time (BatchMax 1);
//   - "batch": the node's defaults (defaultBatchMax, defaultBatchWait):
//     validators check what costs no arithmetic and queue the signatures,
//     a collector forms batches of up to 512 for up to 3 ms while the
//     burst goes on, and the GOMAXPROCS workers prepare them (s, R,
//     challenge) and run the batch equation, the burst's last batch shared
//     out among them.
//
// Metrics: ns per message of each mode and its throughput relative to
// go-schnorrkel over all rounds ("<mode>-x"; the targets are
// validate-spread-x >= 2.0 without batches, the validator on the same
// goroutines as the baseline, and batch-x >= 3.0 with; "validate-x" adds
// gossipsub's goroutine per message, whose stack a verification grows to
// 16 KiB, to the no-batch figure) and in each mode's fastest round
// ("<mode>-best-x"), the process's CPU time per message in each mode
// ("<mode>-cpu-ns/msg": against "<mode>-ns/msg" on GOMAXPROCS cores it
// shows how busy the mode kept them), and the mean batch size of "batch"
// (the first request of each burst comes alone and is checked alone).
//
// BURST_ONLY=batch,voi (say) runs only the modes named, besides the
// go-schnorrkel baseline: a CPU profile then shows them alone.
func BenchmarkBitfieldBurstVsRaw(b *testing.B) {
	s := benchMessages(b)
	n := len(s.data)
	workers := runtime.GOMAXPROCS(0)

	skeys := make([]*schnorrkel.PublicKey, n)
	for i, id := range s.chain.info.Validators {
		k, err := schnorrkel.NewPublicKey(id)
		if err != nil {
			b.Fatal(err)
		}
		k.Encode() // fills the cached encoding Verify would otherwise write
		skeys[i] = k
	}
	// spread runs f over the burst on workers goroutines.
	spread := func(f func(i int)) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					f(i)
				}
			})
		}
		wg.Wait()
	}

	// The validators as a node registers them (topicValidatorFor, which
	// knows the sender), one without and one with a batcher.
	plain, _ := benchValidator(s)
	plainVal := plain.topicValidatorFor(KindBitfield, plain.forKind(KindBitfield))
	batched, _ := benchValidator(s)
	batched.batch = newSigBatcher(context.Background(), workers, defaultBatchMax, defaultBatchWait, batched.m)
	batched.batch.start()
	defer batched.batch.stop()
	batchedVal := batched.topicValidatorFor(KindBitfield, batched.forKind(KindBitfield))
	// pool: the workers without batches (GossipConfig.BatchMax 1).
	pool, _ := benchValidator(s)
	pool.batch = newSigBatcher(context.Background(), workers, 1, defaultBatchWait, pool.m)
	pool.batch.start()
	defer pool.batch.stop()
	poolVal := pool.topicValidatorFor(KindBitfield, pool.forKind(KindBitfield))
	// burst validates every message on its own goroutine, as gossipsub's
	// asynchronous validation does. The node registers its validators
	// without a timeout (the batcher's queue keeps the deadline), so
	// gossipsub hands each the same long-lived context.
	ctx := context.Background()
	burst := func(v *validators, val pubsub.ValidatorEx) {
		v.dedupe.prune(s.rp)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if r := val(ctx, peer.ID("peer"), newMsg(s.data[i])); r != Accept {
					b.Errorf("message %d: result %v", i, r)
				}
			})
		}
		wg.Wait()
	}
	modes := []burstMode{
		{"schnorrkel", func(b *testing.B) {
			spread(func(i int) {
				var sig schnorrkel.Signature
				if err := sig.Decode(s.sigs[i]); err != nil {
					b.Error(err)
					return
				}
				ok, err := skeys[i].Verify(&sig, schnorrkel.NewSigningContext([]byte("substrate"), s.payloads[i]))
				if err != nil || !ok {
					b.Errorf("schnorrkel: signature %d does not verify", i)
				}
			})
		}},
		{"voi", func(b *testing.B) {
			spread(func(i int) {
				if !s.keys[i].Verify(s.payloads[i], s.sigs[i]) {
					b.Errorf("types: signature %d does not verify", i)
				}
			})
		}},
		{"validate-spread", func(b *testing.B) {
			plain.dedupe.prune(s.rp)
			spread(func(i int) {
				if r := plainVal(ctx, peer.ID("peer"), newMsg(s.data[i])); r != Accept {
					b.Errorf("message %d: result %v", i, r)
				}
			})
		}},
		{"validate", func(*testing.B) { burst(plain, plainVal) }},
		{"pool", func(*testing.B) { burst(pool, poolVal) }},
		{"batch", func(*testing.B) { burst(batched, batchedVal) }},
	}

	if only := os.Getenv("BURST_ONLY"); only != "" {
		keep := modes[:1]
		for _, m := range modes[1:] {
			if strings.Contains(","+only+",", ","+m.name+",") {
				keep = append(keep, m)
			}
		}
		modes = keep
	}
	// One untimed burst of each mode first: the first use of a mode
	// grows its workers' stacks, fills its pools and key tables and
	// faults in fresh memory, which a run of a few rounds (the default
	// -benchtime of one second gives about ten) would otherwise count.
	for _, m := range modes {
		m.run(b)
	}
	elapsed := make([]time.Duration, len(modes))
	cpu := make([]time.Duration, len(modes))
	best := make([]time.Duration, len(modes))
	round := 0
	for b.Loop() {
		for k := range modes {
			j := (round + k) % len(modes)
			c0 := processCPU()
			t0 := time.Now()
			modes[j].run(b)
			d := time.Since(t0)
			cpu[j] += processCPU() - c0
			elapsed[j] += d
			if round == 0 || d < best[j] {
				best[j] = d
			}
		}
		round++
	}
	perMsg := func(j int) float64 { return float64(elapsed[j].Nanoseconds()) / float64(round*n) }
	for j, m := range modes {
		b.ReportMetric(perMsg(j), m.name+"-ns/msg")
		b.ReportMetric(float64(cpu[j].Nanoseconds())/float64(round*n), m.name+"-cpu-ns/msg")
		if j > 0 {
			b.ReportMetric(perMsg(0)/perMsg(j), m.name+"-x")
			// The fastest round of each mode: what is left when the
			// neighbours are quiet, on a shared machine the steadier
			// figure.
			b.ReportMetric(float64(best[0])/float64(best[j]), m.name+"-best-x")
		}
	}
	var hist dto.Metric
	if err := batched.m.batchSize.Write(&hist); err == nil && hist.GetHistogram().GetSampleCount() > 0 {
		h := hist.GetHistogram()
		b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "sigs/batch")
	}
	b.ReportMetric(float64(workers), "workers")
}
