// Package observe connects what internal/bounded and internal/breaker
// report to the hooks of a package's Observer, so every package reports
// Redis calls and breaker events with the same types.
package observe

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
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

// GuardOptions are what NewGuard builds a package's guard from.
type GuardOptions struct {
	Name      string                    // the package, in log lines and errors
	Breaker   middleware.BreakerOptions // the package's Options.Breaker
	Timeout   time.Duration             // the package's Options.Timeout
	Logger    *slog.Logger
	Now       func() time.Time // the breaker's clock; nil means time.Now
	OnCall    func(context.Context, middleware.RedisCall)
	OnBreaker func(middleware.BreakerEvent)
}

// NewGuard returns the guard every package's Redis calls go through: a
// breaker built from o.Breaker, o.Timeout, and o's observer hooks (see
// Guard). The error names "<Name>: Options.Breaker".
func NewGuard(rdb redis.UniversalClient, o GuardOptions) (bounded.Guard, error) {
	b, err := breaker.New(breaker.Options{Threshold: o.Breaker.Threshold, MinCooldown: o.Breaker.MinCooldown,
		MaxCooldown: o.Breaker.MaxCooldown, Name: o.Name, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return bounded.Guard{}, fmt.Errorf("%s: Options.Breaker: %w", o.Name, err)
	}
	g := bounded.Guard{Breaker: b, Timeout: o.Timeout, Direct: bounded.HonoursDeadlines(rdb)}
	Guard(&g, o.OnCall, o.OnBreaker)
	return g, nil
}
