package cachehandler

import "time"

// What the cache may do with a stored entry for one request.
const (
	useFresh  = iota // serve it
	useStale         // serve it stale: the client's max-stale allows
	useSWR           // serve it stale and refresh in the background
	toHandler        // go to the handler
)

// verdict applies the freshness rules (RFC 9111 §4.2, §5.2.1; RFC 5861).
func (c *Cache) verdict(e *cacheEntry, rcc ccDirectives, now time.Time) (int, string) {
	age := e.age(now)
	ttl := e.fresh - age
	switch {
	case e.flags&entryFlagNoCache != 0:
		return toHandler, "stale"
	case rcc.noCache || rcc.maxAge == 0:
		return toHandler, "request"
	case rcc.maxAge > 0 && age > time.Duration(rcc.maxAge)*time.Second:
		return toHandler, "request"
	case rcc.minFresh >= 0 && ttl < time.Duration(rcc.minFresh)*time.Second:
		return toHandler, "request"
	case ttl > 0:
		return useFresh, ""
	}
	if e.flags&entryFlagMustRevalidate == 0 {
		stale := -ttl
		if rcc.maxStaleAny || (rcc.maxStale >= 0 && stale <= time.Duration(rcc.maxStale)*time.Second) {
			return useStale, ""
		}
		if e.swr > 0 && stale <= e.swr {
			return useSWR, ""
		}
	}
	return toHandler, "stale"
}

// sieOK reports whether stale-if-error lets e be served at now. Never for
// an entry that must-revalidate, proxy-revalidate, s-maxage or no-cache
// forbid serving unvalidated (RFC 9111 §4.2.4, §5.2.2.4).
func (c *Cache) sieOK(e *cacheEntry, now time.Time) bool {
	return e != nil && e.flags&(entryFlagMustRevalidate|entryFlagNoCache) == 0 && e.sie > 0 && -e.ttl(now) <= e.sie
}
