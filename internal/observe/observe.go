// Package observe connects what internal/bounded and internal/breaker
// report to the hooks of a package's Observer, so every package reports
// Redis calls and breaker events with the same types.
package observe

import (
	"context"
	"time"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// Guard makes g report its calls to onCall and its breaker's events to
// onBreaker. Either may be nil, and then nothing is set: an unobserved
// guard costs nothing. It must run before the guard is used.
func Guard(g *bounded.Guard, onCall func(context.Context, middleware.RedisCall), onBreaker func(middleware.BreakerEvent)) {
	if onCall != nil {
		g.OnCall = func(ctx context.Context, op string, d time.Duration, err error) {
			onCall(ctx, middleware.RedisCall{Operation: op, Duration: d, Err: err})
		}
	}
	if onBreaker != nil {
		g.Breaker.OnStateChange = func(e breaker.Event) {
			onBreaker(middleware.BreakerEvent{Kind: kind(e.Kind), Outage: e.OpenFor, Refused: e.Refused, FailedProbes: e.Probes})
		}
	}
}

func kind(k breaker.EventKind) middleware.BreakerEventKind {
	switch k {
	case breaker.Opened:
		return middleware.BreakerOpened
	case breaker.StillOpen:
		return middleware.BreakerStillOpen
	}
	return middleware.BreakerClosed
}
