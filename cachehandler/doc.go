// Package cachehandler is a shared HTTP response cache in Redis that
// follows RFC 9111 (HTTP caching), RFC 9213 (targeted cache control), RFC
// 9110 §14 (range requests), RFC 5861 (stale-while-revalidate,
// stale-if-error) and RFC 9211 (Cache-Status), and stops cache stampedes
// across every instance of an application.
//
//	c, err := cachehandler.New(rdb, cachehandler.Options{})
//	if err != nil { ... }
//	mux.Handle("GET /products/{id}", c.Middleware(products))      // caches what the handler marks cacheable
//	mux.Handle("GET /report", c.WithTTL(time.Minute)(report))     // and a route TTL for responses without one
//	err = c.PurgeTags(ctx, "product:42")
//	err = c.Purge(ctx, "https://example.com/products/42")
//
// # What is stored
//
// GET responses with explicit freshness (s-maxage, max-age or Expires), or,
// on a WithTTL route, heuristically cacheable responses without it. HEAD
// requests are answered from the GET entry. Never stored: no-store or
// private responses, responses with Set-Cookie, responses to requests with
// Authorization unless they say public, s-maxage or must-revalidate,
// Vary: *, 206 and 304, bodies over Options.MaxBodyBytes (those stream on
// unbuffered), and requests with no-store or Range. Hop-by-hop fields (and
// those Connection names) and the Proxy-Authenticate,
// Proxy-Authentication-Info and Proxy-Authorization fields are neither
// stored nor replayed.
//
// Dates (Expires, Date, Last-Modified, If-Modified-Since, If-Range) are read
// strictly as RFC 9110 §5.6.7 writes them: an Expires that is not one valid
// HTTP-date, such as "0", a date with a one-digit hour or an Expires on two
// field lines, means already expired. A list-valued Age counts its first
// member.
//
// # Targeted fields
//
// A response may address this cache apart from the others with a targeted
// field (RFC 9213), by default CDN-Cache-Control:
//
//	Cache-Control: no-store
//	CDN-Cache-Control: max-age=600
//
// is stored here for ten minutes and by no other cache.
// Options.TargetedFields is the list of fields obeyed, most specific first
// (nil: CDN-Cache-Control; empty: none). The first one present with a
// valid, non-empty value, parsed as a Structured Fields dictionary, alone
// decides storage and freshness here (max-age, s-maxage, no-store,
// no-cache, private, must-revalidate, proxy-revalidate,
// stale-while-revalidate, stale-if-error, public, must-understand), and
// Cache-Control and Expires are ignored for this cache's decisions; a field
// that does not parse is ignored entirely. Values of the wrong type are not
// coerced: a max-age that is not a non-negative Integer makes the response
// stale; no-store and the other restricting directives hold with any value
// but ?0. Every field goes downstream as the handler set it, the targeted
// ones included, on misses and hits: a CDN in front of the application may
// read them (RFC 9213 §3 lets a cache remove CDN-Cache-Control only when it
// knows nothing downstream uses it).
//
// # Hosts
//
// The key includes the request's host, which is the client's to choose.
// Options.Hosts pins the cache to the hosts the application serves
// (Options.CanonicalHost maps hosts by a function instead): a request for
// any other host is served by the handler uncached, without a Redis call,
// with "Cache-Status: redisware; fwd=bypass; detail=unknown-host". Without
// either, every Host header a client sends is an entry of its own: set one
// whenever anything in front of the application forwards arbitrary Host
// headers.
//
// # Serving
//
// Every hit carries Age and Cache-Status, such as
//
//	Cache-Status: redisware; hit; ttl=42
//	Cache-Status: redisware; fwd=uri-miss; stored
//	Cache-Status: redisware; fwd=stale; fwd-status=304; stored
//	Cache-Status: redisware; fwd=uri-miss; collapsed; ttl=60
//
// ("stored" means the cache decided to store the response when its header
// went out; see Invalidation for when the store is refused afterwards). A
// forward without "stored", such as "fwd=uri-miss" alone, was not stored.
// If-None-Match (weak comparison) and If-Modified-Since are answered with
// 304 from the entry. Request directives are honoured: no-store, no-cache
// and max-age=0 (revalidate), max-age, max-stale, min-fresh and
// only-if-cached (504 when nothing usable is stored);
// Options.IgnoreClientNoCache shields an origin from clients that force
// refills. A request that fills the cache reaches the handler without its
// own If-None-Match and If-Modified-Since, so a full response is stored: it
// gets that response whole, and the requests that waited for the fill get
// their 304 from the entry.
//
// # Ranges
//
// A GET with Range for a URL whose complete 200 is stored is answered from
// the entry in the one round trip of a hit, with its Age, Cache-Status and
// validators: one satisfiable byte range gets a 206 with Content-Range, an
// unsatisfiable one a 416 with "Content-Range: bytes */<length>". If-Range
// holds for the stored strong ETag, or the stored Last-Modified when it is
// strong (the stored Date a second or more later); when it does not, the
// whole 200 is sent. Several ranges, a unit other than bytes and an
// invalid range get the whole 200 too, which RFC 9110 §14.2 allows (there
// is no multipart/byteranges). A Range request the cache cannot answer
// from an entry (a miss, or an entry it may not use) goes to the handler
// with its Range and If-Range, and its answer is not stored, so a partial
// body is never taken for a whole one and a client of a large body gets
// its bytes as the origin sends them; the next request without Range
// fills the entry.
//
// # Revalidation and stale responses
//
// A stale entry with an ETag or Last-Modified is revalidated by calling the
// handler with If-None-Match / If-Modified-Since; a 304 freshens the stored
// header fields (RFC 9111 §4.3.4) instead of refilling the body: each of
// its fields replaces the stored one, Content-Type and Content-Encoding
// included (the body is stored as received), except Content-Length and
// hop-by-hop fields (§3.2). A 304 whose validator names another
// representation (a strong ETag that is not the stored one's, or a weak
// one that does not match it weakly) freshens nothing, and the handler is
// asked again without conditions. Within stale-while-revalidate
// the stale entry is served at once and one background refresh runs across
// all instances (its context ends after Options.LockTTL; Close waits for
// running refreshes). Within stale-if-error the stale entry is served when
// the handler answers 5xx or Redis fails while the request is being
// filled. must-revalidate, proxy-revalidate and s-maxage disable serving
// stale, and no-cache disables stale-if-error.
//
// # Unreachable origins
//
// A handler that forwards requests tells the cache it could not reach the
// origin (refused, reset, timed out) by calling ReportUnreachable with the
// request's context before writing its 502 or 504, as examples/cachingproxy
// does from httputil.ReverseProxy's ErrorHandler:
//
//	ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
//		cachehandler.ReportUnreachable(r.Context())
//		http.Error(w, "Bad Gateway", http.StatusBadGateway)
//	},
//
// The stored response then answers, stale, with
// "detail=origin-unreachable" in its Cache-Status (RFC 9111 §4.2.4 lets a
// disconnected cache), unless must-revalidate, proxy-revalidate, s-maxage
// or no-cache forbid it, or it has been stale for longer than
// Options.StaleGrace (default 5 minutes) and its stale-if-error. An entry
// that arrived fresh and may be served stale is kept in Redis that long
// past its freshness, even without a validator. An origin's own 5xx is not
// an unreachable origin: only stale-if-error covers it.
//
// # Stampedes and hot keys
//
// Concurrent lookups of one URL in one process share one Redis read
// (singleflight), and the entry it read is decoded once for all of them. On
// a miss the first request of each process takes the lead and the others
// wait for it in memory; the leaders race for the fill lock
// (SET NX PX, in a script that also reads the URL's purge generation) of the
// URL or, once its Vary names are known, of their variant, so clients asking
// for different variants do not queue. The winner runs the handler and
// stores; the losers wait for the fill announcement on one Pub/Sub channel
// (one connection per Cache, no polling), then serve the new entry with
// "collapsed". Waiters whose variant the fill of a cold URL did not store
// wait once more, on their own variant's fill. A waiter gives up after
// Options.FillWait and runs the handler itself; Close wakes every waiter.
// The subscription's connection is pinged after 3 s of quiet and replaced if
// the ping goes unanswered (a half-open connection); when it resubscribes
// after an outage, waiters look for their fill's entry once more, since the
// announcements made meanwhile are lost.
//
// # Invalidation
//
// A successful (2xx, 3xx) POST, PUT, PATCH or DELETE — any method but GET,
// HEAD, OPTIONS and TRACE — invalidates its URI and the same-origin URIs in
// its Location and Content-Location before its response goes out. Handlers
// tag responses with a Cache-Tag header (a comma list, never sent to
// clients); PurgeTags removes every URL of a tag in two round trips without
// scanning the keyspace; Purge removes every variant of one URL.
//
// A purge (Purge, PurgeTags or an unsafe method) that lands while a fill,
// revalidation or background refresh of the URL is in its handler keeps
// that response out of the cache, since the handler may have read what the
// purge removed: every purge moves the URL's purge generation on, the fill
// reads the generation with its lock, and the store script writes nothing
// (it still releases the lock and announces the fill) when it has changed
// or expired. The response still goes to its own client, without
// "stored" in its Cache-Status when this process made the purge before the
// header went out (a purge by another instance is only found by the store,
// after a Cache-Status that said "stored"). A PurgeTags finds only URLs
// whose entries carry the tag, so it does not stop the first fill of a URL
// that is still in its handler.
//
// # Failures
//
// Every Redis call a request makes is bounded by Options.Timeout, whatever
// the client's own timeouts, and a circuit breaker (Options.Breaker, see
// middleware.BreakerOptions) skips Redis after consecutive failures until
// a probe, after 10 ms and then at most every 50 ms, finds it back. A
// Redis error never fails a request: the handler serves it (or a stale
// copy, see above), and Options.OnError is told (or Logger logs it: an
// outage is the first failure and the breaker's opened, still open and
// closed lines, the rest at Debug). A request whose client went away is
// not served. Corrupt or foreign data is a miss and an OnError call,
// never a panic.
//
// # Round trips
//
// A fresh hit costs one round trip, with or without Range; a miss that
// stores costs three: the lookup, the lock (and the purge generation, in
// one script), and one pipeline that stores the entry, adds its tags,
// releases the lock and announces the fill. The first lookup of a Vary'd
// URL in a process costs one more (it reads the URL's Vary names, then the
// variant); the process then remembers the names for up to 10000 URLs.
//
// # Observing
//
// Options.Observer hears how each request was answered (hit, stale and
// why, revalidated, collapsed, miss and why, bypass and why) with its body
// size, each response stored or not (and the rule that kept it out), each
// wait for another request's fill, each purge, each Redis call and each
// change of the circuit breaker; the otel module turns them into
// OpenTelemetry. Unset, it costs nothing. It never sees a URL or a tag.
//
// # Redis keys
//
// With the default prefix "cache:", where <hash> is a hash of the
// normalised scheme, host, path and sorted query:
//
//	cache:{<hash>}            entry (compact binary), or the URL's variant index (its Vary names)
//	cache:{<hash>}:v:<vhash>  entry of one variant (vhash: the request's values of the Vary fields)
//	cache:{<hash>}:variants   sorted set of the variant keys (score: expiry), for purges
//	cache:{<hash>}:lock       fill lock of a URL whose variants are unknown (LockTTL)
//	cache:{<hash>}:lock:<vhash>  fill lock of one variant (LockTTL)
//	cache:{<hash>}:gen        purge generation of the URL, all variants (integer string)
//	cache:tag:<tag>           sorted set of base keys carrying the tag (score: expiry)
//	cache:fill                Pub/Sub channel announcing fills (message: <hash> or <hash>:<vhash>)
//
// Every key expires: the purge generation max(1h, 10×LockTTL) after the
// URL's last purge (missing is generation 0; a fill that outlives it, with a
// purge at its start, could store); entries after their freshness plus the
// longest of stale-while-revalidate, stale-if-error, Options.StaleGrace
// (when the entry arrived fresh and may be served stale) and (with a
// validator) Options.KeepStale; the index and variants set with the longest variant;
// tag sets with their longest entry (plus a minute). The sets also drop the
// members whose entries expired (read from Redis TIME) whenever a member is
// added, so they hold live entries only and stay bounded on a busy URL or
// tag. All keys of one URL share its {hash tag}, so every script touches one
// hash slot and runs on Redis Cluster; tag sets span slots, which is why
// PurgeTags pipelines per-URL scripts instead of running one script. (The
// store and purge scripts delete variant keys they read from the variants
// set; those share the slot.)
//
// # Trying it
//
// examples/cachingproxy puts the middleware in front of
// httputil.ReverseProxy, so the cache can be watched with curl in front of
// any origin.
//
// For values rather than HTTP responses, see package aside.
package cachehandler
