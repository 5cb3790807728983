// Package bounded makes a Redis call end at its timeout, whatever the
// client's own timeouts are.
//
// A go-redis client stops its socket I/O at a context's deadline only with
// ContextTimeoutEnabled. Without it (the default), a call on a hung or
// half-open connection waits out the client's ReadTimeout (3 s by default)
// whatever the context says. Call runs such a call in a goroutine of its
// own and stops waiting for it at the deadline; the goroutine ends when the
// client gives up, and its result is dropped. A client that honours
// deadlines is called directly, costing nothing more than the timeout.
package bounded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/breaker"
)

// HonoursDeadlines reports whether rdb stops its network I/O at a context's
// deadline: a *redis.Client, *redis.ClusterClient or *redis.Ring does when
// its options have ContextTimeoutEnabled. Any other implementation (a
// wrapper, an instrumented client, a fake) is reported false: nothing says
// it honours deadlines, and a call wrongly taken to be bounded could hang a
// request, where one wrongly taken to be unbounded only costs a goroutine.
func HonoursDeadlines(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Call runs fn(ctx, arg) with ctx bounded by timeout and returns what fn
// returns. With direct (see HonoursDeadlines) fn runs in the caller's
// goroutine and the client itself ends it at the deadline. Otherwise fn
// runs in a goroutine of its own and Call returns at the deadline, or when
// ctx ends first, with an error wrapping ctx.Err(); fn then runs on until
// the client gives up, and what it returns is dropped.
//
// So once Call has given up, the caller must not touch what fn may still
// write: fn hands its results back by returning them. (When Call returns
// fn's own result, everything fn did happened before.) And fn should take
// what it needs from arg rather than capture it: fn escapes to the heap,
// so a closure that captures variables costs allocations on every call,
// direct ones too, where a function literal that captures nothing costs
// none.
func Call[A, T any](ctx context.Context, timeout time.Duration, direct bool, fn func(context.Context, A) (T, error), arg A) (T, error) {
	ctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	if direct {
		return fn(ctx, arg)
	}
	ch := make(chan reply[T], 1) // never blocks the goroutine, which may outlive the wait
	go func() {
		v, err := fn(ctx, arg)
		ch <- reply[T]{v, err}
	}()
	return await(ctx, ch)
}

// Do is Call for a function that returns only an error.
func Do[A any](ctx context.Context, timeout time.Duration, direct bool, fn func(context.Context, A) error, arg A) error {
	// Not a Call of an adapter: in generic code a function value of an
	// instantiated generic function is a closure, one allocation per call.
	ctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	if direct {
		return fn(ctx, arg)
	}
	ch := make(chan reply[struct{}], 1)
	go func() { ch <- reply[struct{}]{err: fn(ctx, arg)} }()
	_, err := await(ctx, ch)
	return err
}

// Until is Do without a timeout of its own: fn runs until ctx ends, for
// calls whose bound is the caller's (an administrative purge, say). With
// direct it costs nothing; otherwise a stalled client is abandoned when
// ctx ends, as in Call.
func Until[A any](ctx context.Context, direct bool, fn func(context.Context, A) error, arg A) error {
	if direct || ctx.Done() == nil {
		return fn(ctx, arg) // nothing could end the wait earlier than fn does
	}
	ch := make(chan reply[struct{}], 1)
	go func() { ch <- reply[struct{}]{err: fn(ctx, arg)} }()
	_, err := await(ctx, ch)
	return err
}

// withTimeout is context.WithTimeout, except that it returns ctx itself
// when ctx already ends no later than timeout from now: a context of its
// own would end no sooner (context.WithDeadline then adds only a cancel),
// and its timer, cancel func and Done channel are allocations a call need
// not make. A batch of a hot key is called so, with its own deadline.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, timeout)
}

func noCancel() {}

type reply[T any] struct {
	v   T
	err error
}

// await returns the reply on ch, or an error wrapping ctx.Err() once ctx
// is done without one.
func await[T any](ctx context.Context, ch <-chan reply[T]) (T, error) {
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-ch: // it answered just in time: keep the answer
			return r.v, r.err
		default:
		}
		var zero T
		return zero, fmt.Errorf("stopped waiting for redis: %w", ctx.Err())
	}
}

// Guard is what a package's Redis calls go through: a breaker that answers
// at once while Redis is known to be down, and the per-call timeout.
type Guard struct {
	Breaker *breaker.Breaker
	Timeout time.Duration
	Direct  bool // the client honours deadlines (see HonoursDeadlines)
	// OnCall, if not nil, is told of each call made through the guard
	// (not of those the open breaker refused): its operation, how long it
	// took and its error, nil for redis.Nil (a miss is an answer). Nil
	// means calls are not timed.
	OnCall func(ctx context.Context, op string, d time.Duration, err error)
}

// Guarded is Call through g: while g's breaker is open it returns
// breaker.ErrOpen without calling fn; otherwise it records the outcome
// and returns fn's error as the breaker marks it (see breaker.Quiet), and
// reports the call as op to g.OnCall.
//
// A call that fails after ctx was cancelled (the client went away) is
// recorded as cancelled, whatever the error: the client leaving says
// nothing about Redis, and a client must not be able to open the breaker
// for everyone by hanging up. Its error then wraps context.Canceled (see
// Gone).
func Guarded[A, T any](ctx context.Context, g *Guard, op string, fn func(context.Context, A) (T, error), arg A) (T, error) {
	p := g.Breaker.Allow()
	if p == breaker.Refuse {
		var zero T
		return zero, breaker.ErrOpen
	}
	var start time.Time
	if g.OnCall != nil {
		start = time.Now()
	}
	v, err := Call(ctx, g.Timeout, g.Direct, fn, arg)
	err = g.Breaker.Done(p, gone(ctx, err))
	if g.OnCall != nil {
		g.report(ctx, op, start, err)
	}
	return v, err
}

// GuardedDo is Guarded for a function that returns only an error.
func GuardedDo[A any](ctx context.Context, g *Guard, op string, fn func(context.Context, A) error, arg A) error {
	p := g.Breaker.Allow()
	if p == breaker.Refuse {
		return breaker.ErrOpen
	}
	var start time.Time
	if g.OnCall != nil {
		start = time.Now()
	}
	err := g.Breaker.Done(p, gone(ctx, Do(ctx, g.Timeout, g.Direct, fn, arg)))
	if g.OnCall != nil {
		g.report(ctx, op, start, err)
	}
	return err
}

// gone returns err, made to wrap context.Canceled when ctx was cancelled.
func gone(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || !errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	return fmt.Errorf("%w (%w)", context.Canceled, err)
}

// Gone reports whether a request whose context is ctx has ended because
// its client went away (ctx was cancelled, not timed out): its error is no
// Redis failure, there is nobody to answer, and it is worth a Debug line
// at most.
func Gone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

func (g *Guard) report(ctx context.Context, op string, start time.Time, err error) {
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	g.OnCall(ctx, op, time.Since(start), err)
}
