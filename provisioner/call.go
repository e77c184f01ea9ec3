package provisioner

import (
	"context"
	"fmt"
	"sync"
)

// callChain runs one chain-view call in its own goroutine so that the
// caller can give up when ctx ends even if the implementation ignores ctx.
// The goroutine always ends when f returns; wg tracks it so that shutdown
// can wait (boundedly) for stragglers. A panic in f becomes an error: the
// chain view is outside code and must not take the subsystem down.
func callChain[T any](ctx context.Context, wg *sync.WaitGroup, what string, f func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1) // buffered: an abandoned call never blocks
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("panic: %v", p)
			}
			ch <- r
		}()
		r.v, r.err = f(ctx)
	}()
	var zero T
	select {
	case r := <-ch:
		if r.err != nil {
			return zero, fmt.Errorf("%w: %s: %w", ErrChainView, what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("%w: %s: %w", ErrChainView, what, context.Cause(ctx))
	}
}
