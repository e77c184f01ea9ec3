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
// and each spends nearly all its time in one sr25519 verification. The
// batch equation (types.BatchVerifier) checks 512 signatures for well
// under half the multiplication work of 512 single checks, so the
// bitfield and backed-candidate validators do every cheap check
// themselves and hand the signatures to a sigBatcher, whose workers
// prepare them (decode s, decompress R, hash the challenge: the
// per-signature part, a fifth of a single check), run the equation over
// whatever is queued and answer each validator with exact per-signature
// results. Verdicts are therefore the same as with inline verification;
// only who does the arithmetic changes. The arithmetic stays on the
// workers, whose stacks have grown once for it: a validator runs on a
// fresh goroutine with a small stack, which the field arithmetic would
// have to grow (copying it twice or three times) for every message.
//
// What batching may not do is make a validator wait without bound or let a
// bad peer slow everybody: a lone request outside a burst is verified at
// once; a batch waits for more at most BatchWait after its first request
// (and only during a burst, or when it found others queued, and only
// while requests keep coming or are being prepared); a signature whose
// form cannot be valid (no marker bit, non-canonical s) is answered by its
// own validator without queuing, and one whose R is no canonical encoding
// by the worker that prepares it, without the equation; a full queue, a stopped batcher or a
// sender that recently sent a bad signature means the validator verifies
// on its own goroutine; and a validator waits for its answer no longer
// than the validation context allows (then the message is ignored, never
// rejected: nothing was proven against it).

// sigItem is one signature to check: what types.PublicKey.Verify takes,
// and, once a worker's prepare succeeded, its types.PreparedSignature.
type sigItem struct {
	key     *types.PublicKey // nil: a key that does not parse, so invalid
	payload []byte
	sig     [64]byte
	ps      types.PreparedSignature
}

// prepare fills it.ps; false means the signature cannot be valid (or the
// key is nil).
func (it *sigItem) prepare() bool {
	return it.ps.Prepare(it.key, it.payload, &it.sig) == nil
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
	// prepared is how many items, from the first, a worker prepared: up
	// to the first that cannot be valid.
	prepared int
	// burst says the request before it came less than the batch wait
	// earlier: more are probably on their way.
	burst bool
	// one and buf are room for a message with one signature (a
	// bitfield): its item and its signing payload, kept through the
	// pool's reuses, so that such a message allocates neither. At a
	// thousand bitfields a block they were 60% of a validator's garbage.
	one [1]sigItem
	buf []byte
}

// reqPool recycles requests with their result channels and payload room:
// a request goes back once its validator has its answer (or verified
// without queuing it), the only moment at which it is known that nobody
// will use it again.
var reqPool = sync.Pool{New: func() any { return &sigRequest{res: make(chan []bool, 1)} }}

// newRequest returns a request from the pool; its validator fills items
// (with one and buf for a bitfield) and hands it to verifySigs.
func newRequest() *sigRequest { return reqPool.Get().(*sigRequest) }

// release empties r, keeping its result channel and payload room, and
// returns it to the pool.
func (r *sigRequest) release() {
	res, buf := r.res, r.buf[:0]
	*r = sigRequest{res: res, buf: buf}
	reqPool.Put(r)
}

// setOne makes r's items its own one item: key's signature sig of
// payload (r.buf, for a bitfield). It sets the fields one by one: a
// composite literal would put a whole sigItem (330 bytes, mostly its
// prepared signature, which release left zero) on the validator's stack.
func (r *sigRequest) setOne(key *types.PublicKey, payload []byte, sig *[64]byte) {
	it := &r.one[0]
	it.key, it.payload, it.sig = key, payload, *sig
	r.items = r.one[:]
}

// Suspects: a peer whose request held a bad signature has its requests
// verified inline for suspectWindow, so that it spoils at most one batch
// (whose worker then checks every item alone: about 1.4x the work of
// single checks) per window. At most maxSuspects are remembered: past that
// the oldest entry goes, so a sybil swarm costs memory no more than one
// peer does. A signature that cannot be valid whatever the arithmetic
// never reaches a batch, but makes its sender a suspect all the same.
const (
	suspectWindow = time.Minute
	maxSuspects   = 1024
)

// sigBatcher owns the batch goroutines of a node's validators: created
// with the node, started once the node is up and stopped by Close (stop),
// which waits for every one of them.
//
// One collector goroutine takes requests off the queue and forms batches;
// workers (one per core) run them. A batch is offered to the workers
// once it is full, its wait is over, or the burst is over; until a worker
// is free to take it, it keeps growing (up to max). So the next batch of
// a burst forms while the workers run the equation, and the last one is
// shared out among them so that they finish together (shares). (Workers
// that took turns to collect between their batches left the queue
// unwatched for the length of an equation, and the Go scheduler could
// keep the one whose turn it was off the CPU behind its waker's next
// equation.)
type sigBatcher struct {
	reqs    chan *sigRequest
	batches chan []*sigRequest // collector to workers, unbuffered
	max     int                // signatures per batch
	wait    time.Duration      // how long a batch may collect after its first request
	workers int
	m       *metrics
	now     func() time.Time // the suspects' and the queue's clock (tests move it)
	// stale: a request that waited in the queue longer than this is
	// answered unchecked as timed out (0: never). It is the validators'
	// deadline, kept here rather than as a timer per message: a check
	// nobody waits for any more is not worth its CPU.
	stale time.Duration

	ctx    context.Context // ends the goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// lastAt is when the last request was queued (unix ns).
	lastAt atomic.Int64
	// busyUntil[i] is when worker i expects to be done with the batch it
	// runs (unix ns), 0 while it waits for one; sigCost is the workers'
	// running estimate of a batch's wall time per signature (ns, 0 until
	// a batch of splitMin or more ran). They tell the collector how to
	// split a burst's last batch (shares).
	busyUntil []atomic.Int64
	sigCost   atomic.Int64
	// preparing counts the validators preparing requests to queue.
	preparing atomic.Int64

	smu      sync.Mutex
	suspects map[peer.ID]time.Time // peer -> end of its suspicion
	// nSuspects is len(suspects), written under smu, read without it.
	nSuspects atomic.Int32
}

// splitMin is the smallest part a batch is split into to keep the workers
// busy at the end of a burst: below it the equation's gain over single
// checks shrinks fast.
const splitMin = 32

// newSigBatcher makes a batcher with workers workers (<= 0: GOMAXPROCS)
// and a collector, batches of up to maxSigs signatures collected for at
// most wait; it runs once started, until stop or the end of parent.
func newSigBatcher(parent context.Context, workers, maxSigs int, wait time.Duration, m *metrics) *sigBatcher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxSigs = max(1, maxSigs)
	ctx, cancel := context.WithCancel(parent)
	return &sigBatcher{
		// Room for two full batches per worker: a burst queues instead of
		// spilling into inline checks, and the queue drains in two rounds.
		reqs:      make(chan *sigRequest, 2*maxSigs*workers),
		batches:   make(chan []*sigRequest),
		max:       maxSigs,
		wait:      wait,
		workers:   workers,
		busyUntil: make([]atomic.Int64, workers),
		m:         m,
		now:       time.Now,
		ctx:       ctx,
		cancel:    cancel,
	}
}

// start launches the collector and the workers. Call it once. With
// batches of one signature there is nothing to collect: the workers take
// the requests off the queue themselves.
func (b *sigBatcher) start() {
	if b.max == 1 {
		b.wg.Add(b.workers)
		for range b.workers {
			go b.single()
		}
		return
	}
	b.wg.Add(1 + b.workers)
	go b.collector()
	for i := range b.workers {
		go b.worker(i)
	}
}

// single is a worker of a batcher without batches (max 1): it checks
// each request's signature as it comes, until the batcher stops.
func (b *sigBatcher) single() {
	defer b.wg.Done()
	bv := types.NewBatchVerifier(1)
	batch := make([]*sigRequest, 1)
	for {
		select {
		case r := <-b.reqs:
			batch[0] = r
			b.run(bv, batch)
			batch[0] = nil
		case <-b.ctx.Done():
			return
		}
	}
}

// stop ends the goroutines and waits for them. Requests still queued or
// collected are not answered: their validators see the batcher stopped
// and verify inline.
func (b *sigBatcher) stop() {
	b.cancel()
	b.wg.Wait()
}

// verify returns one result per item of req, checked in a batch when one
// can be had, inline otherwise. ok is false when ctx ended before the
// answer. It never blocks beyond ctx. req is verify's: it goes back to
// the pool once nobody can use it any more.
func (b *sigBatcher) verify(ctx context.Context, from peer.ID, req *sigRequest) (valid []bool, ok bool) {
	items := req.items
	switch {
	case len(items) == 0:
		req.release()
		return nil, true // a worker assumes every request has an item
	case b.ctx.Err() != nil:
		b.m.sigInline[inlineStopped].Inc()
		return req.verifyInline(), true
	case b.suspect(from):
		b.m.sigInline[inlineSuspect].Inc()
		return req.verifyInline(), true
	}
	// preparing tells the collector that more are on their way.
	b.preparing.Add(1)
	if bad := malformedItem(items); bad < len(items) {
		// It can never verify: no batch needs to hear of it.
		b.preparing.Add(-1)
		b.markSuspect(from)
		valid := make([]bool, len(items))
		copy(valid, verifyInline(items[:bad]))
		req.release()
		return valid, true
	}
	return b.enqueue(ctx, from, req)
}

// malformedItem returns the index of the first item that fails the checks
// that cost no arithmetic (a key that did not parse, a signature's form),
// len(items) when none does.
func malformedItem(items []sigItem) int {
	for i := range items {
		if items[i].key == nil || types.CheckSignatureForm(&items[i].sig) != nil {
			return i
		}
	}
	return len(items)
}

// prepareItems prepares items in order up to the first that cannot be
// valid, and returns its index (len(items) when all are prepared).
func prepareItems(items []sigItem) int {
	for i := range items {
		if !items[i].prepare() {
			return i
		}
	}
	return len(items)
}

// enqueue queues req (its validator counted in preparing) and waits for
// its results, as verify.
func (b *sigBatcher) enqueue(ctx context.Context, from peer.ID, req *sigRequest) (valid []bool, ok bool) {
	now := b.now()
	req.from, req.at = from, now
	req.burst = now.UnixNano()-b.lastAt.Swap(now.UnixNano()) < int64(b.wait)
	// Leave preparing only once queued, so that at no moment is the
	// request neither queued nor being prepared: a collector seeing
	// neither takes the burst for over.
	select {
	case b.reqs <- req:
		b.preparing.Add(-1)
	default:
		b.preparing.Add(-1)
		b.m.sigInline[inlineFull].Inc()
		return req.verifyInline(), true // never sent: nobody else has it
	}
	select {
	case valid = <-req.res:
		// The worker that answered is done with req, and nobody else
		// holds it (a collector or worker that still has it in a slice
		// never looks at it again).
		req.release()
		if valid == nil {
			// Queued past b.stale: answered unchecked.
			b.m.sigTimeouts.Inc()
			return nil, false
		}
		return valid, true
	case <-ctx.Done():
		b.m.sigTimeouts.Inc()
		return nil, false
	case <-b.ctx.Done():
		// Stopped with the request queued: no worker may ever take it,
		// but one may have it, so req is left to the garbage collector.
		b.m.sigInline[inlineStopped].Inc()
		return verifyInline(req.items), true
	}
}

// verifyInline is verifyInline of r's items, for a request nobody else
// has, which it then releases.
func (r *sigRequest) verifyInline() []bool {
	valid := verifyInline(r.items)
	r.release()
	return valid
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
	if b.nSuspects.Load() == 0 {
		// The common case, without the lock every validator of a burst
		// would otherwise take.
		return false
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	until, ok := b.suspects[p]
	if ok && !b.now().Before(until) {
		delete(b.suspects, p)
		b.nSuspects.Store(int32(len(b.suspects)))
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
	b.nSuspects.Store(int32(len(b.suspects)))
}

// worker runs the batches the collector hands it until the batcher stops;
// it is worker i of busyUntil.
func (b *sigBatcher) worker(i int) {
	defer b.wg.Done()
	bv := types.NewBatchVerifier(b.max)
	for {
		select {
		case batch := <-b.batches:
			n := 0
			for _, r := range batch {
				n += len(r.items)
			}
			start := time.Now()
			if cost := b.sigCost.Load(); cost > 0 {
				b.busyUntil[i].Store(start.UnixNano() + int64(n)*cost)
			}
			b.run(bv, batch)
			b.busyUntil[i].Store(0)
			if n >= splitMin {
				b.noteCost(time.Since(start), n)
			}
		case <-b.ctx.Done():
			return
		}
	}
}

// noteCost folds a batch of n signatures that took d into sigCost, a
// quarter at a time: smooth enough that one batch slowed by a neighbour
// does not throw the estimate, quick enough to follow a change of load.
func (b *sigBatcher) noteCost(d time.Duration, n int) {
	c := int64(d) / int64(n)
	if old := b.sigCost.Load(); old > 0 {
		c = old + (c-old)/4
	}
	b.sigCost.Store(max(c, 1))
}

// shares plans the split of a burst's last batch of n signatures: the
// sizes of its parts, largest first, each at least splitMin, so that
// every worker that gets one is done at about the same time, counting
// what each still has to do of the batch it runs (busyUntil, in
// signatures at sigCost). The largest part goes to whichever worker is
// free first, which is the least busy one. Halving the batch between two
// workers, one of them idle and the other half-way through a full batch,
// leaves the idle one waiting for the other's second half at the end.
func (b *sigBatcher) shares(n int, now time.Time) []int {
	rem := make([]int, b.workers)
	if cost := b.sigCost.Load(); cost > 0 {
		for i := range b.busyUntil {
			if u := b.busyUntil[i].Load(); u > now.UnixNano() {
				rem[i] = int((u - now.UnixNano()) / cost)
			}
		}
	}
	slices.Sort(rem)
	return waterFill(n, rem)
}

// waterFill splits n signatures among workers that still have rem
// (ascending) to do, so that the k least busy end level: part j is
// level - rem[j]. k is the most workers for which every part is at least
// splitMin and the level is above the kth's remaining work; one part of
// n when no split qualifies.
func waterFill(n int, rem []int) []int {
	for k := len(rem); k > 1; k-- {
		total := n
		for _, r := range rem[:k] {
			total += r
		}
		level := total / k
		if level-rem[k-1] < splitMin {
			continue // the kth would get too little or nothing: leave it out
		}
		parts := make([]int, k)
		given := 0
		for j := range parts {
			parts[j] = level - rem[j]
			given += parts[j]
		}
		parts[0] += n - given // the rounding, to the least busy
		return parts
	}
	return []int{n}
}

// collection is the collector's state: the batch being formed (n
// signatures) and carry, a request taken but too large for it, the next
// batch's first.
type collection struct {
	b     *sigBatcher
	timer *time.Timer
	batch []*sigRequest
	n     int
	carry *sigRequest
}

// collector forms batches and hands them to the workers until the batcher
// stops.
func (b *sigBatcher) collector() {
	defer b.wg.Done()
	c := collection{b: b, timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	for {
		if c.n == 0 && !c.first() {
			return
		}
		if !c.offer(c.gather()) {
			return
		}
	}
}

// first starts a batch: with the carried request, or the next one to be
// queued. false: the batcher stopped.
func (c *collection) first() bool {
	r := c.carry
	c.carry = nil
	if r == nil {
		select {
		case r = <-c.b.reqs:
		case <-c.b.ctx.Done():
			return false
		}
	}
	c.batch = append(make([]*sigRequest, 0, 16), r)
	c.n = len(r.items)
	return true
}

// add takes r into the batch unless it would overflow it; a request
// larger than max (a candidate with many votes) is a batch of its own,
// never split. The one that did not fit starts the next batch.
func (c *collection) add(r *sigRequest) bool {
	if c.n > 0 && c.n+len(r.items) > c.b.max {
		c.carry = r
		return false
	}
	c.batch = append(c.batch, r)
	c.n += len(r.items)
	return true
}

// quietGap is how long a burst's batch waits for the next request before
// taking the burst for over (if no validator is preparing one), and how
// often a collector that waits looks at the queue. A burst that keeps the
// cores busy queues a request every few microseconds, and a validator
// prepares its own (decoding the message, building the signing payload)
// in a few.
const quietGap = 100 * time.Microsecond

// drain adds what is queued to the batch, until it is full; it returns
// how many requests it took.
func (c *collection) drain() (took int) {
	for c.n < c.b.max && c.carry == nil {
		select {
		case r := <-c.b.reqs:
			took++
			if !c.add(r) {
				return took
			}
		default:
			return took
		}
	}
	return took
}

// full says the batch takes no more requests.
func (c *collection) full() bool { return c.n >= c.b.max || c.carry != nil }

// sleep waits d (or until the batcher stops: false).
func (c *collection) sleep(d time.Duration) bool {
	c.timer.Reset(d)
	select {
	case <-c.timer.C:
		return true
	case <-c.b.ctx.Done():
		c.timer.Stop()
		return false
	}
}

// gather adds to the batch whatever is queued, and, when a burst is under
// way, more, until max signatures, wait after the first request was
// queued, or the burst is over: nothing queued for quietGap and no
// validator preparing a request (waiting then only delays the batch). A
// lone request goes at once, so a quiet network sees no added latency.
// It reports whether the burst is over.
//
// While it waits, the collector looks at the queue every quietGap instead
// of taking each request as it comes: a burst's validators then queue
// without waking it, which would otherwise cost a tenth of a core.
func (c *collection) gather() (over bool) {
	b := c.b
	c.drain()
	// The collector is handed the first request as it is sent, and runs
	// before its sender's fellows get to send theirs: finding it alone
	// says little. That it came right after another says that a burst
	// is under way, which is worth a wait.
	if len(c.batch) == 1 && !c.batch[0].burst {
		return false
	}
	deadline := c.batch[0].at.Add(b.wait)
	last := c.batch[len(c.batch)-1].at
	for !c.full() {
		now := time.Now()
		// Quiet first: a burst that ended as the wait did is over, and
		// its batch is split.
		if now.Sub(last) >= quietGap && b.preparing.Load() == 0 && len(b.reqs) == 0 {
			return true
		}
		if !now.Before(deadline) {
			return false
		}
		if !c.sleep(min(quietGap, deadline.Sub(now))) {
			return false
		}
		if c.drain() > 0 {
			last = c.batch[len(c.batch)-1].at
		}
	}
	return false
}

// offer hands the batch to a worker, taking in more requests (up to max)
// while none is free. At the end of a burst (over) the batch goes in the
// parts shares plans (each at least splitMin signatures), largest first,
// each to the first worker free to take it, so that the last of the work
// keeps every core busy to the end: a worker still busy with an earlier
// batch takes its smaller part when it is done, unless one that was
// quicker took it first. false: the batcher stopped.
func (c *collection) offer(over bool) bool {
	b := c.b
	var plan []int // the parts still to hand out (shares); nil: one
	if over {
		plan = b.shares(c.n, time.Now())
	}
	for {
		out, rest, restN := c.batch, []*sigRequest(nil), 0
		if len(plan) > 1 {
			if k, kn := splitPoint(c.batch, c.n, plan[0]); k > 0 {
				out, rest, restN = c.batch[:k:k], c.batch[k:], c.n-kn
			}
		}
		var tick <-chan time.Time
		if !c.full() {
			c.timer.Reset(quietGap)
			tick = c.timer.C
		}
		select {
		case b.batches <- out:
			c.timer.Stop()
			if rest == nil {
				c.batch, c.n = nil, 0
				return true
			}
			c.batch, c.n = rest, restN
			plan = plan[1:]
		case <-tick:
			if c.drain() > 0 {
				plan = nil // more came: not over after all
			}
		case <-b.ctx.Done():
			c.timer.Stop()
			return false
		}
	}
}

// splitPoint returns the number k of batch's requests that make a first
// part of at least want of its n signatures (kn), splitting only between
// requests; k = 0 when no split leaves at least splitMin signatures on
// each side.
func splitPoint(batch []*sigRequest, n, want int) (k, kn int) {
	for i, r := range batch {
		if kn >= want {
			if kn >= splitMin && n-kn >= splitMin {
				return i, kn
			}
			return 0, 0
		}
		kn += len(r.items)
	}
	return 0, 0
}

// run prepares and verifies a batch of signatures and answers every
// request; one queued longer than b.stale is answered nil, unchecked. An
// item that cannot be valid (R not a canonical encoding) and
// the request's items after it are false without arithmetic, as
// verifyInline would have them.
func (b *sigBatcher) run(bv *types.BatchVerifier, batch []*sigRequest) {
	now := b.now()
	n, kept := 0, 0
	for _, r := range batch {
		waited := now.Sub(r.at)
		b.m.queueWait.Observe(waited.Seconds())
		if b.stale > 0 && waited > b.stale {
			r.res <- nil // timed out; r is its validator's again
			continue
		}
		batch[kept] = r
		kept++
		r.prepared = prepareItems(r.items)
		n += r.prepared
	}
	if kept == 0 {
		return
	}
	batch = batch[:kept]
	b.m.batchSize.Observe(float64(n))
	var valid []bool
	switch n {
	case 0:
	case 1:
		// The batch equation costs more than a single check for one item.
		for _, r := range batch {
			if r.prepared == 1 {
				valid = []bool{r.items[0].ps.Verify()}
			}
		}
	default:
		bv.Reset()
		for _, r := range batch {
			for i := range r.items[:r.prepared] {
				bv.AddPrepared(&r.items[i].ps)
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
		hi := lo + r.prepared
		res := valid[lo:hi:hi]
		if r.prepared < len(r.items) {
			res = make([]bool, len(r.items))
			copy(res, valid[lo:hi])
		}
		if slices.Contains(res, false) {
			b.markSuspect(r.from)
		}
		r.res <- res
		lo = hi
	}
}
