package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// env is one test's backend with a local clock that, on miniredis, moves
// together with the time the script sees through TIME.
type env struct {
	b     *redistest.Backend
	clock *redistest.Clock // the local clock: deny cache, in-process limiter, breaker
	fixed bool             // the script's time is fixed (miniredis)
}

// t0 is a fixed instant with a fractional second, so rounding is tested.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 250_000_000, time.UTC)

func newEnv(t testing.TB) *env {
	t.Helper()
	b := redistest.Start(t)
	e := &env{b: b, clock: redistest.NewClock(t0)}
	e.fixed = b.SetTime(t0)
	return e
}

// advance moves the local clock and, on miniredis, Redis' clock and TTLs.
func (e *env) advance(d time.Duration) {
	e.clock.Add(d)
	if e.fixed {
		e.b.SetTime(e.clock.Now())
		e.b.FastForward(d)
	}
}

// limiter returns a Limiter on a new client of the backend, with keys under
// the test's prefix and the test clock.
func (e *env) limiter(t testing.TB, o Options) *Limiter {
	t.Helper()
	return e.limiterOn(t, e.b.Client(), o)
}

func (e *env) limiterOn(t testing.TB, c redis.UniversalClient, o Options) *Limiter {
	t.Helper()
	o.Prefix = e.b.Prefix + "ratelimit:"
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	if o.Timeout == 0 {
		// A bound no test reaches on a loaded machine: a call past it is
		// answered by the failure policy, and exact counts would then depend
		// on the machine's speed (TestExactness failed so at 5 s under a
		// load average of 12). Tests of timeouts set their own.
		o.Timeout = time.Minute
	}
	l, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// directClient returns a new client of the backend with
// ContextTimeoutEnabled, so the limiter bounds its calls without a
// goroutine (see internal/bounded), closed when the test ends.
func (e *env) directClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	o := e.b.Options()
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustAllow(t *testing.T, l *Limiter, key string, cost int, limits ...Limit) Result {
	t.Helper()
	res, err := l.AllowN(context.Background(), key, cost, limits...)
	if err != nil {
		t.Fatalf("AllowN(%q, %d): %v", key, cost, err)
	}
	return res
}
