package p2p

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Batched signature verification of gossip.
//
// Under a burst (a thousand validators' bitfields at every relay-chain
// block, Kusama scale) gossipsub runs one validator goroutine per message,
// and each spends nearly all its time in one sr25519 verification.
// curve25519-voi's batch equation checks 256 signatures in about half the
// time of 256 single checks, so the bitfield and backed-candidate
// validators do every cheap check themselves and hand only the signatures
// to a sigBatcher, whose workers verify whatever is queued together and
// answer each validator with exact per-signature results
// (types.BatchVerifier). Verdicts are therefore the same as with inline
// verification; only who does the arithmetic changes.
//
// What batching may not do is make a validator wait without bound or let a
// bad peer slow everybody: a lone request outside a burst is verified at
// once; a batch waits for more at most BatchWait after its first request
// (and only during a burst, or when it found others queued); a full queue,
// a stopped batcher or a sender that recently sent a bad signature means
// the validator verifies on its own goroutine; and a validator waits for
// its answer no longer than the validation context allows (then the
// message is ignored, never rejected: nothing was proven against it).

// sigItem is one signature to check: what types.PublicKey.Verify takes.
type sigItem struct {
	key     *types.PublicKey // nil: a key that does not parse, so invalid
	payload []byte
	sig     [64]byte
}

// sigRequest is one message's signatures (one for a bitfield, every vote
// of a backed candidate), answered as one.
type sigRequest struct {
	from  peer.ID
	items []sigItem
	// res receives one result per item. Its buffer of one lets the worker
	// answer without waiting, even for a validator that gave up.
	res chan []bool
	at  time.Time // when queued
	// burst says the request before it came less than the batch wait
	// earlier: more are probably on their way.
	burst bool
}

// Suspects: a peer whose request held a bad signature has its requests
// verified inline for suspectWindow, so that it spoils at most one batch
// (which then costs about 1.1x the single checks) per window. At most
// maxSuspects are remembered: past that the oldest entry goes, so a sybil
// swarm costs memory no more than one peer does.
const (
	suspectWindow = time.Minute
	maxSuspects   = 1024
)

// sigBatcher owns the batch workers of a node's validators: created with
// the node, started once the node is up and stopped by Close (stop), which
// waits for every worker.
type sigBatcher struct {
	reqs    chan *sigRequest
	max     int           // signatures per batch
	wait    time.Duration // how long a batch may collect after its first request
	workers int
	m       *metrics
	now     func() time.Time // the suspects' clock (tests move it)

	ctx    context.Context // ends the workers
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// lastAt is when the last request was queued (unix ns).
	lastAt atomic.Int64
	// collecting is the collect token (capacity 1): its holder alone
	// receives requests and uses carry, a request taken but too large for
	// the batch it was collecting, the next batch's first.
	collecting chan struct{}
	carry      *sigRequest

	smu      sync.Mutex
	suspects map[peer.ID]time.Time // peer -> end of its suspicion
}

// newSigBatcher makes a batcher with workers goroutines (<= 0:
// GOMAXPROCS), batches of up to maxSigs signatures collected for at most
// wait; it runs once started, until stop or the end of parent.
func newSigBatcher(parent context.Context, workers, maxSigs int, wait time.Duration, m *metrics) *sigBatcher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxSigs = max(1, maxSigs)
	ctx, cancel := context.WithCancel(parent)
	return &sigBatcher{
		// Room for two full batches per worker: a burst queues instead of
		// spilling into inline checks, and the queue drains in two rounds.
		reqs:    make(chan *sigRequest, 2*maxSigs*workers),
		max:     maxSigs,
		wait:    wait,
		workers: workers,
		m:       m,
		now:     time.Now,
		ctx:     ctx,
		cancel:  cancel,

		collecting: make(chan struct{}, 1),
	}
}

// start launches the workers. Call it once.
func (b *sigBatcher) start() {
	b.wg.Add(b.workers)
	for range b.workers {
		go b.worker()
	}
}

// stop ends the workers and waits for them. Requests still queued are not
// answered: their validators see the batcher stopped and verify inline.
func (b *sigBatcher) stop() {
	b.cancel()
	b.wg.Wait()
}

// verify returns one result per item, checked in a batch when one can be
// had, inline otherwise. ok is false when ctx ended before the answer.
// It never blocks beyond ctx.
func (b *sigBatcher) verify(ctx context.Context, from peer.ID, items []sigItem) (valid []bool, ok bool) {
	if len(items) == 0 {
		return nil, true // a worker assumes every request has an item
	}
	if b.ctx.Err() != nil {
		b.m.sigInline[inlineStopped].Inc()
		return verifyInline(items), true
	}
	if b.suspect(from) {
		b.m.sigInline[inlineSuspect].Inc()
		return verifyInline(items), true
	}
	now := time.Now()
	req := &sigRequest{from: from, items: items, res: make(chan []bool, 1), at: now}
	req.burst = now.UnixNano()-b.lastAt.Swap(now.UnixNano()) < int64(b.wait)
	select {
	case b.reqs <- req:
	default:
		b.m.sigInline[inlineFull].Inc()
		return verifyInline(items), true
	}
	select {
	case valid = <-req.res:
		return valid, true
	case <-ctx.Done():
		b.m.sigTimeouts.Inc()
		return nil, false
	case <-b.ctx.Done():
		// Stopped with the request queued: no worker may ever take it.
		b.m.sigInline[inlineStopped].Inc()
		return verifyInline(items), true
	}
}

// verifyInline checks items one by one on the caller's goroutine. It stops
// at the first bad signature: every caller only needs to know whether, and
// where first, one fails (later items read false, unchecked), and a forged
// message should cost as little as possible.
func verifyInline(items []sigItem) []bool {
	valid := make([]bool, len(items))
	for i, it := range items {
		if it.key == nil || !it.key.Verify(it.payload, it.sig) {
			break
		}
		valid[i] = true
	}
	return valid
}

func (b *sigBatcher) suspect(p peer.ID) bool {
	b.smu.Lock()
	defer b.smu.Unlock()
	until, ok := b.suspects[p]
	if ok && !b.now().Before(until) {
		delete(b.suspects, p)
		return false
	}
	return ok
}

func (b *sigBatcher) markSuspect(p peer.ID) {
	now := b.now()
	b.smu.Lock()
	defer b.smu.Unlock()
	if b.suspects == nil {
		b.suspects = make(map[peer.ID]time.Time)
	}
	if _, ok := b.suspects[p]; !ok && len(b.suspects) >= maxSuspects {
		// Drop the expired, or else the entry that expires first.
		var oldest peer.ID
		var first time.Time
		for q, until := range b.suspects {
			if !now.Before(until) {
				delete(b.suspects, q)
			} else if oldest == "" || until.Before(first) {
				oldest, first = q, until
			}
		}
		if len(b.suspects) >= maxSuspects {
			delete(b.suspects, oldest)
		}
	}
	b.suspects[p] = now.Add(suspectWindow)
}

// worker verifies batches until the batcher stops. Workers take turns
// to collect a batch (the collect token): one collects while the others
// verify theirs, so that a burst fills one batch at a time instead of
// being shared out among workers that all wait.
func (b *sigBatcher) worker() {
	defer b.wg.Done()
	bv := types.NewBatchVerifier(b.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []*sigRequest
	for {
		select {
		case b.collecting <- struct{}{}:
		case <-b.ctx.Done():
			return
		}
		var n int
		batch, n = b.collect(batch[:0], timer)
		<-b.collecting
		if n == 0 {
			return // stopped
		}
		b.run(bv, batch, n)
		clear(batch) // keep no payloads alive until the next burst
	}
}

// collect gathers the next batch, holding the collect token: it blocks
// for a first request, takes whatever else is queued, and, when a burst
// is under way, collects more until max signatures or wait after the
// first request was queued. A lone request is verified at once, so a
// quiet network sees no added latency. n is 0 once the batcher stops.
func (b *sigBatcher) collect(batch []*sigRequest, timer *time.Timer) (_ []*sigRequest, n int) {
	first := b.carry
	b.carry = nil
	if first == nil {
		select {
		case first = <-b.reqs:
		case <-b.ctx.Done():
			return batch, 0
		}
	}
	batch = append(batch, first)
	n = len(first.items)
	// add takes r into the batch unless it would overflow it; a request
	// larger than max (a candidate with many votes) is a batch of its
	// own, never split. The one that did not fit starts the next batch.
	add := func(r *sigRequest) bool {
		if n+len(r.items) > b.max {
			b.carry = r
			return false
		}
		batch = append(batch, r)
		n += len(r.items)
		return true
	}
queued:
	for n < b.max {
		select {
		case r := <-b.reqs:
			if !add(r) {
				return batch, n
			}
		default:
			break queued
		}
	}
	// A worker that waits for requests is handed the first one as it is
	// sent, and runs before its sender's fellows get to send theirs:
	// finding it alone says little. That it came right after another
	// says that a burst is under way, which is worth a wait.
	if len(batch) == 1 && !first.burst {
		return batch, n
	}
	d := b.wait - time.Since(first.at)
	if d <= 0 {
		return batch, n
	}
	timer.Reset(d)
	defer timer.Stop()
	for n < b.max {
		select {
		case r := <-b.reqs:
			if !add(r) {
				return batch, n
			}
		case <-timer.C:
			return batch, n
		case <-b.ctx.Done():
			return batch, n
		}
	}
	return batch, n
}

// run verifies a batch of n signatures and answers every request.
func (b *sigBatcher) run(bv *types.BatchVerifier, batch []*sigRequest, n int) {
	now := time.Now()
	for _, r := range batch {
		b.m.queueWait.Observe(now.Sub(r.at).Seconds())
	}
	b.m.batchSize.Observe(float64(n))
	var valid []bool
	if n == 1 {
		// The batch equation costs more than a single check for one item.
		it := batch[0].items[0]
		valid = []bool{it.key != nil && it.key.Verify(it.payload, it.sig)}
	} else {
		bv.Reset()
		for _, r := range batch {
			for _, it := range r.items {
				bv.Add(it.key, it.payload, it.sig)
			}
		}
		var err error
		if valid, err = bv.Verify(); err != nil {
			// Verify has already checked each item alone: valid is exact.
			b.m.batchFailed.Inc()
		}
	}
	lo := 0
	for _, r := range batch {
		hi := lo + len(r.items)
		res := valid[lo:hi:hi]
		if slices.Contains(res, false) {
			b.markSuspect(r.from)
		}
		r.res <- res
		lo = hi
	}
}
