package aside

import (
	"context"
	"time"

	"github.com/redisware/redisware/middleware"
)

// Observer receives what a Cache does, for metrics and traces (the otel
// module turns it into OpenTelemetry metrics and span events). Every hook
// may be nil, and the zero Observer observes nothing and costs nothing.
// Hooks run on the caller's goroutine (or a fill's or the invalidation
// subscriber's), so they must be quick and safe for concurrent use. They
// never see a key or a value.
type Observer struct {
	// OnGet is called once per GetOrSet that gets as far as looking,
	// with where its answer came from.
	OnGet func(ctx context.Context, e GetEvent)
	// OnFetch is called after each run of a fetch function: one per
	// fill, however many callers share it, and one per early refresh.
	OnFetch func(ctx context.Context, e FetchEvent)
	// OnRefresh is called when an early refresh in the background ends.
	OnRefresh func(ctx context.Context, e RefreshEvent)
	// OnInvalidation is called for each invalidation of the local tier
	// received from another instance, and at each (re)subscription to
	// the invalidation channel, which empties the tier.
	OnInvalidation func(e InvalidationEvent)
	// OnRedisCall is called after each Redis call, with Operation "get",
	// "lock", "store", "unlock", "refresh-lock", "set" or "delete".
	OnRedisCall func(ctx context.Context, c middleware.RedisCall)
	// OnBreaker is called at each change of state of the Cache's circuit
	// breaker.
	OnBreaker func(e middleware.BreakerEvent)
}

// GetOutcome is where a GetOrSet's answer came from.
type GetOutcome uint8

const (
	// GetHit: a cached value.
	GetHit GetOutcome = iota
	// GetNegative: a cached ErrNotFound (Options.NotFoundTTL).
	GetNegative
	// GetMiss: nothing usable was cached; the answer is a fill's (this
	// call's fetch, another caller's it shared, or another instance's).
	GetMiss
	// GetBypass: Redis could not be read; the value was fetched and not
	// stored.
	GetBypass
)

var getOutcomes = [...]string{"hit", "negative", "miss", "bypass"}

// String returns "hit", "negative", "miss" or "bypass".
func (o GetOutcome) String() string {
	if int(o) < len(getOutcomes) {
		return getOutcomes[o]
	}
	return "unknown"
}

// GetEvent is one GetOrSet, as Observer.OnGet receives it.
type GetEvent struct {
	Outcome GetOutcome
	// Local reports whether the local tier answered (a hit or a
	// negative hit), without a Redis call.
	Local bool
}

// FetchEvent is one run of a fetch function, as Observer.OnFetch receives
// it.
type FetchEvent struct {
	// Duration is how long the fetch ran, or how long it was waited for
	// when it ran past Options.FetchTimeout.
	Duration time.Duration
	// Err is what the fetch returned (ErrNotFound included), or the
	// error of a fetch that panicked, failed to encode or ran past
	// Options.FetchTimeout (wrapping context.DeadlineExceeded); nil on
	// success.
	Err error
}

// RefreshOutcome is how an early refresh ended.
type RefreshOutcome uint8

const (
	// RefreshStored: the value was fetched and stored again.
	RefreshStored RefreshOutcome = iota
	// RefreshSkipped: another instance holds the fill lock; it fills.
	RefreshSkipped
	// RefreshFailed: Redis or the fetch failed; the cached value stays.
	RefreshFailed
)

var refreshOutcomes = [...]string{"stored", "skipped", "failed"}

// String returns "stored", "skipped" or "failed".
func (o RefreshOutcome) String() string {
	if int(o) < len(refreshOutcomes) {
		return refreshOutcomes[o]
	}
	return "unknown"
}

// RefreshEvent is one early refresh, as Observer.OnRefresh receives it.
type RefreshEvent struct {
	Outcome RefreshOutcome
}

// InvalidationEvent is an invalidation of the local tier, as
// Observer.OnInvalidation receives it.
type InvalidationEvent struct {
	// Resync reports a (re)subscription to the invalidation channel,
	// which empties the whole tier (invalidations sent while it was not
	// subscribed are lost); otherwise one key was evicted at another
	// instance's Set or Delete.
	Resync bool
}

// got reports a GetOrSet to the Observer.
func (a *Cache) got(ctx context.Context, outcome GetOutcome, local bool) {
	if a.o.Observer.OnGet != nil {
		a.o.Observer.OnGet(ctx, GetEvent{Outcome: outcome, Local: local})
	}
}

// refreshed reports an early refresh to the Observer.
func (a *Cache) refreshed(ctx context.Context, outcome RefreshOutcome) {
	if a.o.Observer.OnRefresh != nil {
		a.o.Observer.OnRefresh(ctx, RefreshEvent{Outcome: outcome})
	}
}

// invalidated reports an invalidation to the Observer.
func (a *Cache) invalidated(resync bool) {
	if a.o.Observer.OnInvalidation != nil {
		a.o.Observer.OnInvalidation(InvalidationEvent{Resync: resync})
	}
}
