package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisware/redisware/ratelimit"
)

type ratelimitInstruments struct {
	decisions metric.Int64Counter
	cost      metric.Int64Counter
}

func (i *ratelimitInstruments) init(m *instruments) {
	i.decisions = m.counter("redisware.ratelimit.decisions", "{decision}",
		"Rate limit decisions, by the limit they count under, their outcome (allowed, denied) and who made them (redis, cache, local, fail-open, fail-closed, cost).")
	i.cost = m.counter("redisware.ratelimit.cost", "{unit}",
		"Units the decided requests cost, by limit and outcome: spent when allowed, asked for when denied.")
}

var (
	decisionAttrs = []string{"limit", "outcome", "source"}
	costAttrs     = []string{"limit", "outcome"}
)

// Ratelimit returns the Observer of a ratelimit.Limiter.
func (t *Telemetry) Ratelimit() ratelimit.Observer {
	return ratelimit.Observer{
		OnDecision: func(ctx context.Context, d ratelimit.Decision) {
			outcome := "denied"
			if d.Allowed {
				outcome = "allowed"
			}
			source := d.Source.String()
			t.rl.decisions.Add(ctx, 1, t.with("ratelimit.decisions", decisionAttrs, d.Limit, outcome, source))
			if d.Cost > 0 {
				t.rl.cost.Add(ctx, int64(d.Cost), t.with("ratelimit.cost", costAttrs, d.Limit, outcome, ""))
			}
			if recording(ctx) {
				event(ctx, "redisware.ratelimit.decision", attribute.String("limit", d.Limit), attribute.String("outcome", outcome),
					attribute.String("source", source), attribute.Int("cost", d.Cost))
			}
		},
		OnRedisCall: t.redisCalls("ratelimit"),
		OnBreaker:   t.breakers("ratelimit"),
	}
}
