package provisioner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/types"
)

func TestManualClock(t *testing.T) {
	c := NewManualClock(t0)
	var fired []string
	at := map[string]time.Time{}
	record := func(name string) func() {
		return func() { fired = append(fired, name); at[name] = c.Now() }
	}
	c.AfterFunc(3*time.Second, record("c"))
	c.AfterFunc(time.Second, record("a"))
	stopped := c.AfterFunc(2*time.Second, record("stopped"))
	c.AfterFunc(time.Second, record("b")) // same deadline as a: after it
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should succeed once")
	}
	c.Advance(1500 * time.Millisecond)
	if fmt.Sprint(fired) != "[a b]" || !at["a"].Equal(t0.Add(time.Second)) || !c.Now().Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("fired %v at %v, now %v", fired, at, c.Now())
	}
	c.Set(t0) // never backwards
	if !c.Now().Equal(t0.Add(1500 * time.Millisecond)) {
		t.Fatal("the clock went backwards")
	}
	c.Advance(time.Hour)
	if fmt.Sprint(fired) != "[a b c]" || c.Pending() != 0 {
		t.Fatalf("fired %v, %d pending", fired, c.Pending())
	}
}

func TestWithClockTimeout(t *testing.T) {
	c := NewManualClock(t0)
	ctx, stop := withClockTimeout(context.Background(), c, time.Second, ErrAssemblyTimeout)
	defer stop()
	c.Advance(time.Second)
	if !errors.Is(context.Cause(ctx), ErrAssemblyTimeout) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
}

// panickyChain is a chain view whose every call panics.
type panickyChain struct{ ChainView }

func (panickyChain) Header(context.Context, types.Hash) (types.Header, error) {
	panic("chain view bug")
}

func TestChainViewPanicIsAnError(t *testing.T) {
	var wg sync.WaitGroup
	_, err := callChain(context.Background(), &wg, "header", func(ctx context.Context) (types.Header, error) {
		return panickyChain{}.Header(ctx, types.Hash{})
	})
	wg.Wait()
	if !errors.Is(err, ErrChainView) {
		t.Fatalf("got %v", err)
	}
}
