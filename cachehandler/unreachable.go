package cachehandler

import (
	"context"
	"time"
)

// unreachableKey is the context key under which the cache hands the
// handler the exchange that ReportUnreachable marks.
type unreachableKey struct{}

// ReportUnreachable tells the cache that the handler serving the request of
// ctx could not reach its origin: the connection was refused or reset, or
// timed out. It is how a handler that forwards requests (such as
// httputil.ReverseProxy, from its ErrorHandler) tells a failure to reach
// the origin apart from the origin's own 5xx answer, which only
// stale-if-error covers.
//
// Call it before the response's status goes out, then write the error
// response as usual (a 502 or 504). When the cache holds a stored response
// for the request, that response answers instead, stale or not, unless it
// had must-revalidate, proxy-revalidate, s-maxage or no-cache (RFC 9111
// §4.2.4, §5.2.2) or has been stale for longer than the longest of
// Options.StaleGrace and its stale-if-error; then the error response goes
// out. It does nothing for a ctx that is not of a request the cache
// forwards with a stored response in hand, so it is always safe to call.
func ReportUnreachable(ctx context.Context) {
	if x, ok := ctx.Value(unreachableKey{}).(*exchange); ok {
		x.unreachable.Store(true)
	}
}

// unreachableOK reports whether e may answer at now for an origin the
// handler reported unreachable: the cache is disconnected, which RFC 9111
// §4.2.4 lets it serve stale, unless a directive forbids serving the entry
// unvalidated.
func (c *Cache) unreachableOK(e *cacheEntry, now time.Time) bool {
	if e == nil || e.flags&(entryFlagMustRevalidate|entryFlagNoCache) != 0 {
		return false
	}
	return -e.ttl(now) <= max(c.opt.StaleGrace, e.sie)
}
