package otel

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/redisware/redisware/cachehandler"
)

type cacheInstruments struct {
	requests     metric.Int64Counter
	bodySize     metric.Float64Histogram
	stores       metric.Int64Counter
	waits        metric.Int64Counter
	waitDuration metric.Float64Histogram
	purges       metric.Int64Counter
}

func (i *cacheInstruments) init(m *instruments) {
	i.requests = m.counter("redisware.cache.requests", "{request}",
		"Requests the HTTP cache answered, by outcome (hit, stale, revalidated, collapsed, miss, bypass) and reason.")
	i.bodySize = m.histogram("redisware.cache.body.size", "By",
		"Body sizes of the answers, by outcome: the stored body for answers from the cache, the handler's otherwise.", sizeBuckets)
	i.stores = m.counter("redisware.cache.stores", "{response}",
		"Responses the cache could have stored, by outcome (stored, not-stored), the reason one was not, and whether a 304 freshened an entry.")
	i.waits = m.counter("redisware.cache.waits", "{wait}",
		"Waits of requests for another request's fill of their URL, by outcome (filled, timeout, gone).")
	i.waitDuration = m.histogram("redisware.cache.wait.duration", "s",
		"Duration of the waits for another request's fill.", slowBuckets)
	i.purges = m.counter("redisware.cache.purges", "{purge}",
		"Purges, by kind (url, tags, invalidate), with error.type when one failed.")
}

var (
	requestAttrs = []string{"outcome", "reason"}
	storeAttrs   = []string{"outcome", "reason", "revalidated"}
	purgeAttrs   = []string{"kind", "error.type"}
)

// Cachehandler returns the Observer of a cachehandler.Cache.
func (t *Telemetry) Cachehandler() cachehandler.Observer {
	return cachehandler.Observer{
		OnServe: func(ctx context.Context, e cachehandler.ServeEvent) {
			outcome := e.Outcome.String()
			t.cache.requests.Add(ctx, 1, t.with("cache.requests", requestAttrs, outcome, e.Reason, ""))
			t.cache.bodySize.Record(ctx, float64(e.BodyBytes), t.with("cache.body.size", outcomeAttr, outcome, "", ""))
			if recording(ctx) {
				event(ctx, "redisware.cache.serve", attribute.String("outcome", outcome), attribute.String("reason", e.Reason),
					attribute.Int64("body.size", e.BodyBytes))
			}
		},
		OnStore: func(ctx context.Context, e cachehandler.StoreEvent) {
			outcome := "not-stored"
			if e.Stored {
				outcome = "stored"
			}
			t.cache.stores.Add(ctx, 1, t.with("cache.stores", storeAttrs, outcome, e.Reason, strconv.FormatBool(e.Revalidated)))
			if recording(ctx) {
				event(ctx, "redisware.cache.store", attribute.String("outcome", outcome), attribute.String("reason", e.Reason),
					attribute.Bool("revalidated", e.Revalidated), attribute.Int64("body.size", e.BodyBytes))
			}
		},
		OnWait: func(ctx context.Context, e cachehandler.WaitEvent) {
			outcome := e.Outcome.String()
			attrs := t.with("cache.waits", outcomeAttr, outcome, "", "")
			t.cache.waits.Add(ctx, 1, attrs)
			t.cache.waitDuration.Record(ctx, e.Duration.Seconds(), attrs)
			if recording(ctx) {
				event(ctx, "redisware.cache.wait", attribute.String("outcome", outcome), attribute.Float64("duration", e.Duration.Seconds()))
			}
		},
		OnPurge: func(ctx context.Context, e cachehandler.PurgeEvent) {
			t.cache.purges.Add(ctx, 1, t.with("cache.purges", purgeAttrs, e.Kind.String(), errorType(e.Err), ""))
		},
		OnRedisCall: t.redisCalls("cachehandler"),
		OnBreaker:   t.breakers("cachehandler"),
	}
}
