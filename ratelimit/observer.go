package ratelimit

import (
	"context"

	"github.com/redisware/redisware/middleware"
)

// Observer receives what a Limiter does, for metrics and traces (the otel
// module turns it into OpenTelemetry metrics and span events). Every hook
// may be nil, and the zero Observer observes nothing and costs nothing.
// Hooks run on the goroutine that decides, so they must be quick and safe
// for concurrent use. They never see a request's key.
type Observer struct {
	// OnDecision is called after each decision of Handler, LimitBy, Allow
	// and AllowN (not for a negative cost, which is refused unheard).
	OnDecision func(ctx context.Context, d Decision)
	// OnRedisCall is called after each Redis call the limiter makes, with
	// Operation "decide", or "decide-batch" for the one call that decides
	// concurrent requests of a hot key together (Preload is not reported).
	OnRedisCall func(ctx context.Context, c middleware.RedisCall)
	// OnBreaker is called at each change of state of the limiter's
	// circuit breaker.
	OnBreaker func(e middleware.BreakerEvent)
}

// Decision is one decision, as Observer.OnDecision receives it.
type Decision struct {
	// Limit is the name of the limit the decision counts under: for a
	// denied request with known limit states, the limit that denies it
	// longest; otherwise the first of the limits decided on, so that a
	// route's decisions share one name until one of its limits denies.
	Limit string
	// Cost is what the request cost, in units.
	Cost int
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Source tells who decided: Redis, the local deny cache (FromCache,
	// always a denial), or the failure policy when Redis could not be
	// asked (FromLocal, FromFailOpen, FromFailClosed); FromCost denies a
	// cost larger than a limit's burst.
	Source Source
}

// observe reports the decision res on ps to the Observer.
func (l *Limiter) observe(ctx context.Context, ps *policySet, cost int, res *Result) {
	d := Decision{Limit: ps.limits[0].name, Cost: cost, Allowed: res.Allowed, Source: res.Source}
	if !res.Allowed {
		if s, ok := res.Tightest(); ok {
			d.Limit = s.Limit.name
		}
	}
	l.o.Observer.OnDecision(ctx, d)
}
