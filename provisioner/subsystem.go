package provisioner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

// Feeder is what the network layer needs to hand data to the provisioner:
// each decoded and validated piece of provisionable data, with the relay
// parent it was gossiped for. Feed queues the data and returns; it blocks
// only while the input queue is full, until ctx ends. It returns
// ErrShuttingDown once the subsystem is stopping. Whether the data is kept
// is decided later, asynchronously (see the discarded-data metric).
type Feeder interface {
	Feed(ctx context.Context, relayParent types.Hash, data Data) error
}

// InherentSource is what a block builder's server needs: the inherent for a
// relay parent, waiting (as the provisioner holds requests until
// PRE_PROPOSE) until it is ready or ctx ends.
type InherentSource interface {
	RequestInherentData(ctx context.Context, relayParent types.Hash) (InherentResponse, error)
}

// AuthorStream is what a block author's stream server needs: every piece of
// provisionable data for a leaf, as it arrives.
type AuthorStream interface {
	Subscribe(ctx context.Context, relayParent types.Hash, buffer int) (*Subscription, error)
}

var (
	_ Feeder         = (*Subsystem)(nil)
	_ InherentSource = (*Subsystem)(nil)
	_ AuthorStream   = (*Subsystem)(nil)
)

// Subsystem runs a Provisioner on one goroutine, Run's, and feeds it from a
// queue. All methods are safe for concurrent use and may be called before
// Run starts; none blocks past its ctx, and all return ErrShuttingDown once
// Run has returned.
type Subsystem struct {
	p     *Provisioner
	clock Clock
	grace time.Duration
	in    chan input
	wake  chan struct{}
	// stopping is closed when Run starts to stop: nothing more is taken.
	// done is closed when Run has returned.
	stopping chan struct{}
	done     chan struct{}
	once     sync.Once
}

type input struct {
	signal    Signal
	message   Message
	subscribe *subscribeRequest
}

type subscribeRequest struct {
	relayParent types.Hash
	buffer      int
	reply       chan subscribeResult
}

type subscribeResult struct {
	sub *Subscription
	err error
}

// NewSubsystem builds a Subsystem; call Run to start it.
func NewSubsystem(cfg Config) (*Subsystem, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &Subsystem{
		p:        p,
		clock:    p.cfg.Clock,
		grace:    p.cfg.ConcludeGrace,
		in:       make(chan input, p.cfg.InputQueue),
		wake:     make(chan struct{}, 1),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}, nil
}

// Run processes signals and messages until Conclude is handled (it then
// returns nil) or ctx ends (it returns ctx's error). Either way every held
// request is answered and every subscription closed, and Run waits at most
// ConcludeGrace for abandoned chain-view calls before it returns. Run must
// be called once.
func (s *Subsystem) Run(ctx context.Context) error {
	defer s.stop()
	var timer Timer
	var armed time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Arm one timer for the earliest held request's PRE_PROPOSE.
		if next, ok := s.p.NextDeadline(); ok && !next.Equal(armed) {
			if timer != nil {
				timer.Stop()
			}
			armed = next
			timer = s.clock.AfterFunc(next.Sub(s.clock.Now()), s.notify)
			// Time may have passed the deadline between reading the clock
			// and arming the timer: then the timer is late, so wake now.
			if !s.clock.Now().Before(next) {
				s.notify()
			}
		}
		select {
		case <-ctx.Done():
			s.p.conclude()
			return ctx.Err()
		case <-s.wake:
			armed = time.Time{}
			s.p.Tick(ctx)
		case in := <-s.in:
			s.handle(ctx, in)
			if s.p.Concluded() {
				return nil
			}
		}
	}
}

func (s *Subsystem) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subsystem) handle(ctx context.Context, in input) {
	switch {
	case in.signal != nil:
		s.p.HandleSignal(ctx, in.signal)
	case in.message != nil:
		if err := s.p.HandleMessage(ctx, in.message); err != nil {
			log.Debugw("provisionable data not kept", "err", err)
		}
	case in.subscribe != nil:
		sub, err := s.p.Subscribe(in.subscribe.relayParent, in.subscribe.buffer)
		in.subscribe.reply <- subscribeResult{sub, err}
	}
	// A request answered now may have been held: Tick is cheap when
	// nothing is due, and this keeps held requests from waiting on a timer
	// armed for a deadline that has already passed.
	if next, ok := s.p.NextDeadline(); ok && !s.clock.Now().Before(next) {
		s.p.Tick(ctx)
	}
}

// stop concludes the provisioner, answers what is still queued, and waits
// (boundedly) for abandoned chain-view calls.
func (s *Subsystem) stop() {
	s.once.Do(func() {
		s.p.conclude()
		close(s.stopping)
		for drained := false; !drained; {
			select {
			case in := <-s.in:
				s.handle(context.Background(), in)
			default:
				drained = true
			}
		}
		if !s.p.Wait(s.grace) {
			log.Warnw("chain-view calls still running after the grace period", "grace", s.grace)
		}
		close(s.done)
	})
}

// Done is closed when Run has returned.
func (s *Subsystem) Done() <-chan struct{} { return s.done }

func (s *Subsystem) send(ctx context.Context, in input) error {
	select {
	case <-s.stopping:
		return ErrShuttingDown
	default:
	}
	select {
	case s.in <- in:
		return nil
	case <-s.stopping:
		return ErrShuttingDown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal queues an overseer signal.
func (s *Subsystem) Signal(ctx context.Context, sig Signal) error {
	return s.send(ctx, input{signal: sig})
}

// ActiveLeaves queues an ActiveLeavesUpdate.
func (s *Subsystem) ActiveLeaves(ctx context.Context, u ActiveLeavesUpdate) error {
	return s.Signal(ctx, u)
}

// Conclude queues Conclude; Run returns once it is handled.
func (s *Subsystem) Conclude(ctx context.Context) error {
	return s.Signal(ctx, Conclude{})
}

// Send queues a ProvisionerMessage. A RequestInherentData's Reply must have
// room for the answer.
func (s *Subsystem) Send(ctx context.Context, msg Message) error {
	return s.send(ctx, input{message: msg})
}

// Feed queues provisionable data for relayParent (Feeder).
func (s *Subsystem) Feed(ctx context.Context, relayParent types.Hash, data Data) error {
	if data == nil || isNilData(data) {
		return fmt.Errorf("%w: nil data", ErrInvalidData)
	}
	return s.Send(ctx, ProvisionableData{RelayParent: relayParent, Data: data})
}

// RequestInherentData asks for the inherent of a block on relayParent and
// waits for the answer (InherentSource). The error is the answer's error,
// or ctx's, or ErrShuttingDown.
func (s *Subsystem) RequestInherentData(ctx context.Context, relayParent types.Hash) (InherentResponse, error) {
	reply := make(chan InherentResponse, 1)
	if err := s.Send(ctx, RequestInherentData{RelayParent: relayParent, Reply: reply}); err != nil {
		return InherentResponse{RelayParent: relayParent, Err: err}, err
	}
	select {
	case r := <-reply:
		return r, r.Err
	case <-ctx.Done():
		return InherentResponse{RelayParent: relayParent, Err: ctx.Err()}, ctx.Err()
	case <-s.stopping:
		// Every answer from now on is ErrShuttingDown; prefer one already
		// given.
		select {
		case r := <-reply:
			return r, r.Err
		default:
			return InherentResponse{RelayParent: relayParent, Err: ErrShuttingDown}, ErrShuttingDown
		}
	}
}

// Subscribe opens a block-author subscription to a leaf (AuthorStream).
// buffer <= 0 takes the configured default.
func (s *Subsystem) Subscribe(ctx context.Context, relayParent types.Hash, buffer int) (*Subscription, error) {
	req := &subscribeRequest{relayParent: relayParent, buffer: buffer, reply: make(chan subscribeResult, 1)}
	if err := s.send(ctx, input{subscribe: req}); err != nil {
		return nil, err
	}
	select {
	case r := <-req.reply:
		return r.sub, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopping:
		select {
		case r := <-req.reply:
			return r.sub, r.err
		default:
			return nil, ErrShuttingDown
		}
	}
}
