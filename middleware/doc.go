// Package middleware holds the HTTP plumbing every redisware package
// shares: the client's address behind trusted proxies, the KeyFunc type
// that rate limits and caches are keyed by, Chain, a Redis health handler,
// the BreakerOptions every package's circuit breaker takes, and Redial, a
// go-redis hook for a quick reconnect. It keeps no Redis state and imports
// no other redisware package.
//
// # Client address
//
// ClientIP resolves the client once per request; KeyByIP and anything else
// that needs the address reads it with ClientIPFromContext:
//
//	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
//	h := middleware.Chain(
//		middleware.ClientIP(proxies...),
//		limiter.Handler(middleware.KeyByIP, ratelimit.PerSecond(10)),
//	)(app)
//
// Only a peer inside a trusted prefix may name the client through
// X-Forwarded-For or Forwarded; headers from anyone else are ignored.
//
// # Keys
//
// A KeyFunc returns the string a request is limited or cached by. KeyByIP,
// KeyByHeader, KeyByPath and JoinKeys build the common ones; JoinKeys
// length-prefixes each part, so parts that contain its separators cannot
// make two requests share a key. Key values may be attacker-chosen: the
// packages that put them into Redis keys hash them.
//
// # When Redis fails
//
// session, ratelimit, cachehandler and aside each put a circuit breaker in
// front of Redis, configured by BreakerOptions in their Options: it opens
// after consecutive failures, so requests are answered at once by the
// package's failure policy, and probes Redis after a cool-down that starts
// at 10 ms and doubles up to 50 ms, so requests succeed again within about
// 50 ms of Redis answering. An outage is logged in a handful of lines per
// package: opened, still open every BreakerReportEvery, closed.
//
// A client recovers as fast only with the Redial hook: after PoolSize
// failed dials go-redis stops dialing and re-dials in the background once
// a second; Redial makes that re-dial wait for Redis instead:
//
//	rdb := redis.NewClient(&redis.Options{Addr: addr})
//	rdb.AddHook(middleware.Redial(0))
//
// # Redis keys
//
// This package writes none.
package middleware
