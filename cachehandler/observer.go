package cachehandler

import (
	"context"
	"net/http"
	"time"

	"github.com/redisware/redisware/middleware"
)

// Observer receives what a Cache does, for metrics and traces (the otel
// module turns it into OpenTelemetry metrics and span events). Every hook
// may be nil, and the zero Observer observes nothing and costs nothing.
// Hooks run on the request's goroutine (or a background refresh's), so
// they must be quick and safe for concurrent use. They never see a URL,
// a key or a tag: reasons are the package's own words.
type Observer struct {
	// OnServe is called once for each request the cache handles, when
	// its response has been answered; background refreshes are not
	// requests.
	OnServe func(ctx context.Context, e ServeEvent)
	// OnStore is called after each response the cache could have stored
	// (a GET the client allows to store), stored or not, and after each
	// revalidation that freshened an entry; background refreshes
	// included.
	OnStore func(ctx context.Context, e StoreEvent)
	// OnWait is called when a request stops waiting for another
	// request's fill of the same URL (in this process or another).
	OnWait func(ctx context.Context, e WaitEvent)
	// OnPurge is called after each Purge and PurgeTags, and after each
	// invalidation by a successful unsafe request.
	OnPurge func(ctx context.Context, e PurgeEvent)
	// OnRedisCall is called after each Redis call of a request or a
	// background refresh, with Operation "lookup", "lock", "store",
	// "release", "invalidate" or "subscribe" (purges are OnPurge's).
	OnRedisCall func(ctx context.Context, c middleware.RedisCall)
	// OnBreaker is called at each change of state of the cache's circuit
	// breaker.
	OnBreaker func(e middleware.BreakerEvent)
}

// ServeOutcome is how the cache answered a request.
type ServeOutcome uint8

const (
	// ServeHit: from a fresh stored response.
	ServeHit ServeOutcome = iota
	// ServeStale: from a stale stored response; the reason says what
	// allowed it: "max-stale" (the request), "stale-while-revalidate"
	// (refreshed in the background), "stale-if-error" (the handler
	// failed), "origin-unreachable" (the handler reported its origin
	// unreachable) or "redis-error" (Redis failed, stale-if-error
	// allowing).
	ServeStale
	// ServeRevalidated: from the stored response, once the handler
	// confirmed it with a 304.
	ServeRevalidated
	// ServeCollapsed: from the entry another request stored while this
	// one waited for it.
	ServeCollapsed
	// ServeMiss: by the handler, or 504 for only-if-cached; the reason
	// says why no stored response answered: "uri-miss" (none for the
	// URL), "vary-miss" (none for the request's variant), "stale",
	// "request" (the request's directives), "miss" or "only-if-cached".
	ServeMiss
	// ServeBypass: by the handler, the cache unused; the reason is
	// "method" (a method the cache does not store), "unknown-host" (a
	// host Options.Hosts or CanonicalHost does not serve) or
	// "redis-error" (Redis could not be read).
	ServeBypass
)

var serveOutcomes = [...]string{"hit", "stale", "revalidated", "collapsed", "miss", "bypass"}

// String returns "hit", "stale", "revalidated", "collapsed", "miss" or
// "bypass".
func (o ServeOutcome) String() string {
	if int(o) < len(serveOutcomes) {
		return serveOutcomes[o]
	}
	return "unknown"
}

// ServeEvent is one answered request, as Observer.OnServe receives it.
type ServeEvent struct {
	Outcome ServeOutcome
	// Reason qualifies Outcome (see the outcomes); "" for a hit, a
	// revalidation and a collapsed request.
	Reason string
	// BodyBytes is the size of the body: the stored one for answers
	// from the cache, what the handler wrote otherwise.
	BodyBytes int64
}

// StoreEvent is one response the cache could have stored, as
// Observer.OnStore receives it.
type StoreEvent struct {
	// Stored reports whether the response was written to Redis.
	Stored bool
	// Reason says why it was not: a rule of RFC 9111 ("no-store",
	// "private", "set-cookie", "authorization", "status", "method",
	// "vary-star", "must-understand", "no-freshness",
	// "no-cache-without-validator", "stale-on-arrival"), "too-large"
	// (past Options.MaxBodyBytes), "incomplete" (a body cut short),
	// "purged" (the URL was purged while the handler ran) or
	// "redis-error". "" when stored.
	Reason string
	// Revalidated reports whether a 304 freshened a stored entry,
	// rather than a whole response being stored.
	Revalidated bool
	// BodyBytes is the size of the body stored, or offered to be.
	BodyBytes int64
}

// WaitOutcome is how a wait for another request's fill ended.
type WaitOutcome uint8

const (
	// WaitFilled: the fill ended (stored or not) and the request looked
	// for its entry.
	WaitFilled WaitOutcome = iota
	// WaitTimeout: Options.FillWait passed; the request ran the handler.
	WaitTimeout
	// WaitGone: the client went away.
	WaitGone
)

var waitOutcomes = [...]string{"filled", "timeout", "gone"}

// String returns "filled", "timeout" or "gone".
func (o WaitOutcome) String() string {
	if int(o) < len(waitOutcomes) {
		return waitOutcomes[o]
	}
	return "unknown"
}

// WaitEvent is one wait for another request's fill, as Observer.OnWait
// receives it. A request may wait more than once (after a resubscription
// of the fill announcements, or for its own variant).
type WaitEvent struct {
	Outcome  WaitOutcome
	Duration time.Duration
}

// PurgeKind says what removed entries.
type PurgeKind uint8

const (
	// PurgeURL: Cache.Purge.
	PurgeURL PurgeKind = iota
	// PurgeTags: Cache.PurgeTags.
	PurgeTags
	// PurgeInvalidate: a successful unsafe request (POST, PUT, DELETE
	// ...) invalidated its URL (RFC 9111 §4.4).
	PurgeInvalidate
)

var purgeKinds = [...]string{"url", "tags", "invalidate"}

// String returns "url", "tags" or "invalidate".
func (k PurgeKind) String() string {
	if int(k) < len(purgeKinds) {
		return purgeKinds[k]
	}
	return "unknown"
}

// PurgeEvent is one purge, as Observer.OnPurge receives it.
type PurgeEvent struct {
	Kind     PurgeKind
	Duration time.Duration
	// Err is the purge's error, nil when it succeeded.
	Err error
}

// served reports an answered request to the Observer.
func (c *Cache) served(r *http.Request, outcome ServeOutcome, reason string, body int64) {
	if c.opt.Observer.OnServe != nil {
		c.opt.Observer.OnServe(r.Context(), ServeEvent{Outcome: outcome, Reason: reason, BodyBytes: body})
	}
}

// stored reports a store, or a response not stored, to the Observer.
func (c *Cache) stored(r *http.Request, e StoreEvent) {
	if c.opt.Observer.OnStore != nil {
		c.opt.Observer.OnStore(r.Context(), e)
	}
}

// purged reports a purge that began at start (zero when OnPurge is nil)
// to the Observer.
func (c *Cache) purged(ctx context.Context, kind PurgeKind, start time.Time, err error) {
	if c.opt.Observer.OnPurge != nil {
		c.opt.Observer.OnPurge(ctx, PurgeEvent{Kind: kind, Duration: time.Since(start), Err: err})
	}
}

// purgeStart is the start of a purge for purged: the time now if OnPurge
// is set, so an unset hook costs no clock reading.
func (c *Cache) purgeStart() time.Time {
	if c.opt.Observer.OnPurge == nil {
		return time.Time{}
	}
	return time.Now()
}
