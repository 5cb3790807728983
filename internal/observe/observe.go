// Package observe connects what internal/bounded and internal/breaker
// report to the hooks of a package's Observer, so every package reports
// Redis calls and breaker changes with the same types.
package observe

import (
	"context"
	"time"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// Guard makes g report its calls to onCall and its breaker's changes of
// state to onBreaker. Either may be nil, and then nothing is set: an
// unobserved guard costs nothing.
func Guard(g *bounded.Guard, onCall func(context.Context, middleware.RedisCall), onBreaker func(middleware.BreakerEvent)) {
	if onCall != nil {
		g.OnCall = func(ctx context.Context, op string, d time.Duration, err error) {
			onCall(ctx, middleware.RedisCall{Operation: op, Duration: d, Err: err})
		}
	}
	if onBreaker != nil {
		g.Breaker.OnChange = func(to breaker.State, outage time.Duration, refused int64) {
			onBreaker(middleware.BreakerEvent{State: state(to), Outage: outage, Refused: refused})
		}
	}
}

func state(s breaker.State) middleware.BreakerState {
	switch s {
	case breaker.Open:
		return middleware.BreakerOpen
	case breaker.HalfOpen:
		return middleware.BreakerHalfOpen
	}
	return middleware.BreakerClosed
}
