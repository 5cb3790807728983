package otel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisware/redisware/aside"
)

type asideInstruments struct {
	gets          metric.Int64Counter
	fetchDuration metric.Float64Histogram
	refreshes     metric.Int64Counter
	invalidations metric.Int64Counter
}

func (i *asideInstruments) init(m *instruments) {
	i.gets = m.counter("redisware.aside.gets", "{get}",
		"GetOrSet calls, by where the answer came from: outcome (hit, negative, miss, bypass) and tier (local, redis).")
	i.fetchDuration = m.histogram("redisware.aside.fetch.duration", "s",
		"Duration of the fetch functions run on misses and early refreshes, by outcome (ok, not-found, timeout, error).", slowBuckets)
	i.refreshes = m.counter("redisware.aside.refreshes", "{refresh}",
		"Early refreshes in the background, by outcome (stored, skipped, failed).")
	i.invalidations = m.counter("redisware.aside.invalidations", "{invalidation}",
		"Invalidations of the local tier, by kind (key: another instance's Set or Delete; resync: a (re)subscription emptied it).")
}

var getAttrs = []string{"outcome", "tier"}

// Aside returns the Observer of an aside.Cache.
func (t *Telemetry) Aside() aside.Observer {
	return aside.Observer{
		OnGet: func(ctx context.Context, e aside.GetEvent) {
			outcome, tier := e.Outcome.String(), "redis"
			if e.Local {
				tier = "local"
			}
			t.aside.gets.Add(ctx, 1, t.with("aside.gets", getAttrs, outcome, tier, ""))
			if recording(ctx) {
				event(ctx, "redisware.aside.get", attribute.String("outcome", outcome), attribute.String("tier", tier))
			}
		},
		OnFetch: func(ctx context.Context, e aside.FetchEvent) {
			outcome := fetchOutcome(e.Err)
			t.aside.fetchDuration.Record(ctx, e.Duration.Seconds(), t.with("aside.fetch", outcomeAttr, outcome, "", ""))
			if recording(ctx) {
				event(ctx, "redisware.aside.fetch", attribute.String("outcome", outcome), attribute.Float64("duration", e.Duration.Seconds()))
			}
		},
		OnRefresh: func(ctx context.Context, e aside.RefreshEvent) {
			t.aside.refreshes.Add(ctx, 1, t.with("aside.refreshes", outcomeAttr, e.Outcome.String(), "", ""))
		},
		OnInvalidation: func(e aside.InvalidationEvent) {
			kind := "key"
			if e.Resync {
				kind = "resync"
			}
			t.aside.invalidations.Add(context.Background(), 1, t.with("aside.invalidations", kindAttr, kind, "", ""))
		},
		OnRedisCall: t.redisCalls("aside"),
		OnBreaker:   t.breakers("aside"),
	}
}

var kindAttr = []string{"kind"}

// fetchOutcome classifies a fetch's error.
func fetchOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, aside.ErrNotFound):
		return "not-found"
	case errorType(err) == "timeout":
		return "timeout"
	}
	return "error"
}
