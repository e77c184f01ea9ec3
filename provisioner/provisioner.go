package provisioner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

var log = logging.Logger("provisioner")

// Provisioner is the provisioner as a deterministic state machine: it is
// driven by signals, messages and Tick, reads time from the injected Clock
// and the chain from the injected ChainView, and never starts work of its
// own besides bounded chain-view calls. It is not safe for concurrent use:
// one goroutine (usually Subsystem.Run) owns it. Tests drive it directly.
type Provisioner struct {
	cfg   Config
	m     *metrics
	jobs  map[types.Hash]*job
	cache map[types.SessionIndex]*session
	calls sync.WaitGroup // outstanding chain-view calls

	// Dispute votes are not tied to a leaf: a dispute lasts many blocks and
	// its votes go into whichever block comes next (Polkadot keeps them in
	// the dispute coordinator). At most one valid and one invalid vote per
	// (session, candidate, validator), at most MaxDisputes disputes, none
	// older than DisputeWindow sessions.
	disputes      map[DisputeKey]*disputeRecord
	newestSession types.SessionIndex

	// backable remembers, for the last few deactivated leaves, how many
	// candidates this node could have backed into a block on them, until
	// the block that was built on them arrives (backable_vs_in_block).
	backable      map[types.Hash]int
	backableOrder []types.Hash
	// carried are the candidates of the leaves an ActiveLeavesUpdate ends,
	// offered to the leaves it starts.
	carried []*BackedCandidate

	concluded bool
}

// New builds a Provisioner. Metrics are registered on cfg.Registerer.
func New(cfg Config) (*Provisioner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Provisioner{
		cfg:      cfg,
		m:        m,
		jobs:     make(map[types.Hash]*job),
		cache:    make(map[types.SessionIndex]*session),
		disputes: make(map[DisputeKey]*disputeRecord),
		backable: make(map[types.Hash]int),
	}, nil
}

// HandleSignal applies an overseer signal.
func (p *Provisioner) HandleSignal(ctx context.Context, sig Signal) {
	switch s := sig.(type) {
	case ActiveLeavesUpdate:
		p.activeLeaves(ctx, s)
	case *ActiveLeavesUpdate:
		if s != nil {
			p.activeLeaves(ctx, *s)
		}
	case Conclude, *Conclude:
		p.conclude()
	}
}

// HandleMessage applies a ProvisionerMessage. For ProvisionableData it
// returns why the data was not kept, if it was not (nil otherwise); a
// request is always answered on its Reply channel and returns nil.
func (p *Provisioner) HandleMessage(ctx context.Context, msg Message) error {
	switch m := msg.(type) {
	case RequestInherentData:
		p.Request(ctx, m.RelayParent, m.Reply)
	case *RequestInherentData:
		if m != nil {
			p.Request(ctx, m.RelayParent, m.Reply)
		}
	case ProvisionableData:
		return p.Provide(ctx, m.RelayParent, m.Data)
	case *ProvisionableData:
		if m != nil {
			return p.Provide(ctx, m.RelayParent, m.Data)
		}
	}
	return nil
}

// Concluded reports whether Conclude has been handled.
func (p *Provisioner) Concluded() bool { return p.concluded }

// ActiveLeaves lists the relay parents that have a job, in no order.
func (p *Provisioner) ActiveLeaves() []types.Hash {
	out := make([]types.Hash, 0, len(p.jobs))
	for h := range p.jobs {
		out = append(out, h)
	}
	return out
}

func (p *Provisioner) activeLeaves(ctx context.Context, u ActiveLeavesUpdate) {
	if p.concluded {
		return
	}
	// Candidates of the leaves that end may still go into blocks on the
	// new ones (async backing: the new leaf's window holds their relay
	// parents), so they are offered to the new jobs as they load.
	p.carried = p.carried[:0]
	for _, h := range u.Deactivated {
		if j, ok := p.jobs[h]; ok {
			if j.loaded {
				for _, c := range j.candidates {
					p.carried = append(p.carried, c.in)
				}
			}
			p.endJob(j, ErrLeafDeactivated)
		}
	}
	defer func() { clear(p.carried); p.carried = p.carried[:0] }()
	for _, leaf := range u.Activated {
		if _, ok := p.jobs[leaf.Hash]; ok {
			continue
		}
		now := p.cfg.Clock.Now()
		j := &job{leaf: leaf, readyAt: now.Add(p.cfg.PrePropose)}
		p.jobs[leaf.Hash] = j
		p.m.activeJobs.Inc()
		// Load the leaf's chain state now: feeding needs the cores and the
		// validator set to check and bound what it keeps. A failure is
		// retried on a later use of the job.
		if err := p.ensureLoaded(ctx, j); err != nil {
			log.Warnw("loading leaf state failed; will retry", "leaf", leaf.Hash, "err", err)
		}
	}
}

// endJob answers the job's held requests and closes its subscriptions
// with reason, and frees it.
func (p *Provisioner) endJob(j *job, reason error) {
	if j.loaded && errors.Is(reason, ErrLeafDeactivated) {
		p.recordBackable(j)
	}
	for _, r := range j.waiters {
		p.reply(r, InherentResponse{RelayParent: j.leaf.Hash, Err: fmt.Errorf("request for %s: %w", j.leaf.Hash, reason)})
	}
	for _, s := range j.subs {
		s.close(reason)
		p.m.subscriptionClosed(reason)
	}
	delete(p.jobs, j.leaf.Hash)
	p.m.activeJobs.Dec()
}

func (p *Provisioner) conclude() {
	if p.concluded {
		return
	}
	for _, h := range sortedJobHashes(p.jobs) {
		p.endJob(p.jobs[h], ErrShuttingDown)
	}
	p.concluded = true
}

// Wait waits, at most grace on the injected clock, for abandoned chain-view
// calls to return, and reports whether they all did.
func (p *Provisioner) Wait(grace time.Duration) bool {
	done := make(chan struct{})
	go func() {
		p.calls.Wait()
		close(done)
	}()
	expired := make(chan struct{})
	t := p.cfg.Clock.AfterFunc(grace, func() { close(expired) })
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-expired:
		// The helper goroutine ends when the last straggler returns.
		return false
	}
}

// Subscribe opens a block-author subscription to the leaf relayParent.
// buffer <= 0 takes the configured default.
func (p *Provisioner) Subscribe(relayParent types.Hash, buffer int) (*Subscription, error) {
	if p.concluded {
		return nil, ErrShuttingDown
	}
	j, ok := p.jobs[relayParent]
	if !ok {
		return nil, fmt.Errorf("subscribe to %s: %w", relayParent, ErrUnknownLeaf)
	}
	if buffer <= 0 {
		buffer = p.cfg.SubscriberBuffer
	}
	s := newSubscription(relayParent, buffer)
	j.subs = append(j.subs, s)
	return s, nil
}

// Request asks for the inherent of a block on relayParent. The answer goes
// to reply: at once for an unknown leaf or once PRE_PROPOSE has passed,
// otherwise when Tick finds the leaf ready.
func (p *Provisioner) Request(ctx context.Context, relayParent types.Hash, reply chan<- InherentResponse) {
	if p.concluded {
		p.reply(reply, InherentResponse{RelayParent: relayParent, Err: fmt.Errorf("request for %s: %w", relayParent, ErrShuttingDown)})
		return
	}
	j, ok := p.jobs[relayParent]
	if !ok {
		p.reply(reply, InherentResponse{RelayParent: relayParent, Err: fmt.Errorf("request for %s: %w", relayParent, ErrUnknownLeaf)})
		return
	}
	if !p.cfg.Clock.Now().Before(j.readyAt) {
		p.reply(reply, p.assemble(ctx, j))
		return
	}
	if len(j.waiters) >= p.cfg.MaxHeldRequests {
		p.reply(reply, InherentResponse{RelayParent: relayParent, Err: fmt.Errorf("request for %s: %w", relayParent, ErrTooManyRequests)})
		return
	}
	j.waiters = append(j.waiters, reply)
}

// NextDeadline is when Tick next has work: the earliest PRE_PROPOSE of a
// leaf with held requests.
func (p *Provisioner) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, j := range p.jobs {
		if len(j.waiters) > 0 && (!found || j.readyAt.Before(next)) {
			next, found = j.readyAt, true
		}
	}
	return next, found
}

// Tick answers the held requests of every leaf whose PRE_PROPOSE has
// passed. All requests held for one leaf share one assembly.
func (p *Provisioner) Tick(ctx context.Context) {
	now := p.cfg.Clock.Now()
	for _, h := range sortedJobHashes(p.jobs) {
		j := p.jobs[h]
		if len(j.waiters) == 0 || now.Before(j.readyAt) {
			continue
		}
		resp := p.assemble(ctx, j)
		for _, r := range j.waiters {
			p.reply(r, resp)
		}
		j.waiters = nil
	}
}

func (p *Provisioner) reply(r chan<- InherentResponse, resp InherentResponse) {
	ok := resp.Err == nil
	if ok {
		p.m.requests.WithLabelValues("succeeded").Inc()
	} else {
		p.m.requests.WithLabelValues("failed").Inc()
	}
	if r == nil {
		return
	}
	select {
	case r <- resp:
	default:
		log.Warnw("inherent reply dropped: reply channel full", "relay_parent", resp.RelayParent)
	}
}

// Provide hands one piece of provisionable data to the job of relayParent.
// Accepted data is kept (within the job's bounds) and sent to the leaf's
// subscribers; the returned error says why data was not kept.
func (p *Provisioner) Provide(ctx context.Context, relayParent types.Hash, d Data) error {
	start := time.Now()
	defer func() { p.m.provisionableTime.Observe(time.Since(start).Seconds()) }()
	if d == nil || isNilData(d) {
		p.m.discard("nil", "nil")
		return fmt.Errorf("%w: nil data", ErrInvalidData)
	}
	if p.concluded {
		p.m.discard(d.kind(), "shutdown")
		return ErrShuttingDown
	}
	j, ok := p.jobs[relayParent]
	if c, isCand := d.(*BackedCandidate); isCand && (ok || relayParent == c.Candidate.Candidate.Descriptor.RelayParent) {
		// A candidate may be fed for an active leaf or for its own relay
		// parent, which need not be a leaf: it goes to every leaf that
		// allows its relay parent.
		if ok {
			if err := p.ensureLoaded(ctx, j); err != nil {
				p.m.discard(d.kind(), "chain_unavailable")
				return err
			}
		}
		return p.provideCandidate(ctx, relayParent, j, c)
	}
	if !ok {
		p.m.discard(d.kind(), "unknown_relay_parent")
		return fmt.Errorf("%s for %s: %w", d.kind(), relayParent, ErrUnknownLeaf)
	}
	if err := p.ensureLoaded(ctx, j); err != nil {
		p.m.discard(d.kind(), "chain_unavailable")
		return err
	}
	var reason string
	switch v := d.(type) {
	case *SignedBitfield:
		reason = j.addBitfield(&v.Bitfield)
	case *DisputeStatements:
		reason = p.addDisputes(ctx, &v.Set)
	case *MisbehaviorReport:
		reason = p.addMisbehavior(ctx, &v.Report)
	}
	if reason != "" {
		p.m.discard(d.kind(), reason)
		return fmt.Errorf("%w: %s for %s: %s", ErrInvalidData, d.kind(), relayParent, reason)
	}
	p.fanOut(j, d)
	return nil
}

// provideCandidate hands a backed candidate to every active leaf whose
// allowed relay parents hold its relay parent (async backing: a candidate
// anchored to the leaf's parent may go into a block on the leaf, and on
// its sibling), not only to the leaf it was fed for. Each job keeps it at
// most once (by candidate hash). The discard reason counted is the named
// leaf's when no job keeps it.
func (p *Provisioner) provideCandidate(ctx context.Context, relayParent types.Hash, named *job, c *BackedCandidate) error {
	rp := c.Candidate.Candidate.Descriptor.RelayParent
	accepted := false
	reason := ""
	for _, h := range sortedJobHashes(p.jobs) {
		j := p.jobs[h]
		if j != named && p.ensureLoaded(ctx, j) != nil {
			continue
		}
		if _, ok := j.allowed[rp]; !ok && j != named {
			continue
		}
		r := j.addCandidate(c, p.cfg.MaxCandidatesPerDepth)
		if r == "" {
			accepted = true
			p.fanOut(j, c)
		} else if j == named || reason == "" {
			reason = r
		}
	}
	if accepted {
		return nil
	}
	if named == nil && reason == "" {
		p.m.discard(c.kind(), "unknown_relay_parent")
		return fmt.Errorf("%s for %s: %w", c.kind(), relayParent, ErrUnknownLeaf)
	}
	p.m.discard(c.kind(), reason)
	return fmt.Errorf("%w: %s for %s: %s", ErrInvalidData, c.kind(), relayParent, reason)
}

// inherit gives a newly loaded job the candidates other jobs hold whose
// relay parent it allows: a candidate backed for the previous leaf may
// still go into a block on the new one.
func (p *Provisioner) inherit(j *job) {
	for _, h := range sortedJobHashes(p.jobs) {
		o := p.jobs[h]
		if o == j || !o.loaded {
			continue
		}
		for _, c := range slices.Clone(o.candidates) {
			if _, ok := j.allowed[c.relayParent]; ok {
				_ = j.addCandidate(c.in, p.cfg.MaxCandidatesPerDepth)
			}
		}
	}
	for _, in := range p.carried {
		if _, ok := j.allowed[in.Candidate.Candidate.Descriptor.RelayParent]; ok {
			_ = j.addCandidate(in, p.cfg.MaxCandidatesPerDepth)
		}
	}
}

func isNilData(d Data) bool {
	switch v := d.(type) {
	case *SignedBitfield:
		return v == nil
	case *BackedCandidate:
		return v == nil
	case *DisputeStatements:
		return v == nil
	case *MisbehaviorReport:
		return v == nil
	}
	return true
}

// fanOut delivers d to the job's subscribers, dropping the slow and the
// cancelled without ever blocking.
func (p *Provisioner) fanOut(j *job, d Data) {
	kept := j.subs[:0]
	for _, s := range j.subs {
		if s.deliver(d) {
			kept = append(kept, s)
			continue
		}
		p.m.subscriptionClosed(s.Err())
	}
	clear(j.subs[len(kept):])
	j.subs = kept
}

// ensureLoaded loads the leaf's chain state if it is not loaded yet. After
// a failure it does not try again for ChainTimeout, so that a stream of data
// for a leaf the chain view cannot serve costs one bounded call per period,
// not one per item.
func (p *Provisioner) ensureLoaded(ctx context.Context, j *job) error {
	if j.loaded {
		return nil
	}
	now := p.cfg.Clock.Now()
	if now.Before(j.retryAt) {
		return fmt.Errorf("%w: state of leaf %s unavailable (retrying after %v)", ErrChainView, j.leaf.Hash, j.retryAt.Sub(now))
	}
	if err := p.load(ctx, j); err != nil {
		j.retryAt = p.cfg.Clock.Now().Add(p.cfg.ChainTimeout)
		return err
	}
	if j.sess.index > p.newestSession {
		p.newestSession = j.sess.index
		p.pruneDisputes()
	}
	return nil
}

// load fetches the leaf's chain state, bounded by ChainTimeout.
func (p *Provisioner) load(ctx context.Context, j *job) error {
	ctx, stop := withClockTimeout(ctx, p.cfg.Clock, p.cfg.ChainTimeout, errChainTimeout)
	defer stop()
	leaf := j.leaf.Hash
	header, err := callChain(ctx, &p.calls, "header", func(c context.Context) (types.Header, error) {
		return p.cfg.Chain.Header(c, leaf)
	})
	if err != nil {
		return err
	}
	cores, err := callChain(ctx, &p.calls, "availability cores", func(c context.Context) ([]types.CoreState, error) {
		return p.cfg.Chain.AvailabilityCores(c, leaf)
	})
	if err != nil {
		return err
	}
	idx, err := callChain(ctx, &p.calls, "session index", func(c context.Context) (types.SessionIndex, error) {
		return p.cfg.Chain.SessionIndexForChild(c, leaf)
	})
	if err != nil {
		return err
	}
	sess, err := p.session(ctx, idx)
	if err != nil {
		return err
	}
	if !sess.featuresLoaded {
		features, err := callChain(ctx, &p.calls, "node features", func(c context.Context) (types.BitVec, error) {
			return p.cfg.Chain.NodeFeatures(c, idx)
		})
		if err != nil {
			return err
		}
		sess.v3, sess.featuresLoaded = types.CandidateReceiptV3Enabled(features), true
	}
	allowed, err := callChain(ctx, &p.calls, "allowed relay parents", func(c context.Context) ([]RelayParent, error) {
		return p.cfg.Chain.AllowedRelayParents(c, leaf)
	})
	if err != nil {
		return err
	}
	bs, err := callChain(ctx, &p.calls, "backing state", func(c context.Context) (BackingState, error) {
		return p.cfg.Chain.BackingState(c, leaf)
	})
	if err != nil {
		return err
	}
	if header.Number != j.leaf.Number {
		log.Warnw("leaf number differs from its header", "leaf", leaf, "activated", j.leaf.Number, "header", header.Number)
	}
	j.init(header, cores, sess, allowed, bs)
	p.observeBackable(j)
	p.inherit(j)
	return nil
}

var errChainTimeout = errors.New("chain view call timed out")

// session returns the cached info of a session, fetching it if needed.
func (p *Provisioner) session(ctx context.Context, idx types.SessionIndex) (*session, error) {
	if s, ok := p.cache[idx]; ok {
		return s, nil
	}
	info, err := callChain(ctx, &p.calls, "session info", func(c context.Context) (SessionInfo, error) {
		return p.cfg.Chain.SessionInfo(c, idx)
	})
	if err != nil {
		return nil, err
	}
	s := newSession(idx, info)
	p.cache[idx] = s
	p.evictSessions()
	return s, nil
}

// evictSessions keeps the cache within MaxCachedSessions, dropping the
// oldest sessions no job is built on.
func (p *Provisioner) evictSessions() {
	for len(p.cache) > p.cfg.MaxCachedSessions {
		inUse := make(map[types.SessionIndex]bool, len(p.jobs))
		for _, j := range p.jobs {
			if j.sess != nil {
				inUse[j.sess.index] = true
			}
		}
		victim, found := types.SessionIndex(0), false
		for idx := range p.cache {
			if !inUse[idx] && (!found || idx < victim) {
				victim, found = idx, true
			}
		}
		if !found {
			return
		}
		delete(p.cache, victim)
	}
}

// assemble builds the inherent for j from the data held now.
func (p *Provisioner) assemble(ctx context.Context, j *job) InherentResponse {
	start := time.Now()
	defer func() { p.m.requestTime.Observe(time.Since(start).Seconds()) }()
	resp := InherentResponse{RelayParent: j.leaf.Hash}
	ctx, stop := withClockTimeout(ctx, p.cfg.Clock, p.cfg.AssemblyTimeout, ErrAssemblyTimeout)
	defer stop()
	fail := func(err error) InherentResponse {
		resp.Err = fmt.Errorf("assemble inherent for %s: %w", j.leaf.Hash, err)
		log.Warnw("inherent assembly failed", "leaf", j.leaf.Hash, "err", err)
		return resp
	}
	if err := p.ensureLoaded(ctx, j); err != nil {
		return fail(err)
	}
	if !j.onchainLoaded {
		leaf := j.leaf.Hash
		onchain, err := callChain(ctx, &p.calls, "on-chain disputes", func(c context.Context) (map[DisputeKey]OnChainDispute, error) {
			return p.cfg.Chain.OnChainDisputes(c, leaf)
		})
		if err != nil {
			// As Polkadot does, go on as if the chain knew no dispute; the
			// next request tries again.
			log.Warnw("fetching on-chain disputes failed; selecting without them", "leaf", leaf, "err", err)
		} else {
			j.onchain, j.onchainLoaded = onchain, true
			p.m.onchainDisputes.Add(float64(len(onchain)))
		}
	}

	data := &types.InherentData{ParentHeader: j.header}
	data.Bitfields = j.selectedBitfields()
	data.BackedCandidates = selectCandidates(j.candidateInputs(data.Bitfields))
	if j.backing.ParasUnknown {
		p.m.unknownConstraints.Inc()
	}
	ds := selectDisputes(p.disputes, j.onchain, disputeRules{
		now: p.cfg.Clock.Now(), activeFor: p.cfg.ActiveDisputeDuration, maxVotes: p.cfg.MaxDisputeVotes,
		blockNumber: j.leaf.Number + 1, postConclusion: p.cfg.DisputePostConclusionPeriod,
	})
	if len(ds.sets) > 0 {
		orderDisputes(ds.sets, p.includedAt(ctx, j, ds.sets))
	}
	data.Disputes = ds.sets

	w := codec.NewWriter(data.EncodedSize())
	data.Encode(w)
	if ctx.Err() != nil {
		return fail(context.Cause(ctx))
	}
	resp.Data, resp.Encoded = data, w.Bytes()

	p.m.bitfieldsSent.Observe(float64(len(data.Bitfields)))
	p.m.disputeSets.Add(float64(len(ds.sets)))
	p.m.disputeStatements.WithLabelValues("valid").Add(float64(ds.valid))
	p.m.disputeStatements.WithLabelValues("invalid").Add(float64(ds.invalid))
	for i, n := range ds.partitions {
		if n > 0 {
			p.m.partitioned.WithLabelValues(partitionNames[i]).Add(float64(n))
		}
	}
	for _, r := range waitingReasons {
		p.m.misbehaviorWaiting.WithLabelValues(r).Set(float64(ds.waiting[r]))
	}
	log.Debugw("inherent data prepared", "leaf", j.leaf.Hash, "cores", len(j.cores),
		"bitfields", len(data.Bitfields), "candidates", len(data.BackedCandidates),
		"disputes", len(data.Disputes), "bytes", len(resp.Encoded))
	return resp
}

func sortedJobHashes(jobs map[types.Hash]*job) []types.Hash {
	hs := make([]types.Hash, 0, len(jobs))
	for h := range jobs {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b types.Hash) int { return cmp.Compare(string(a[:]), string(b[:])) })
	return hs
}
