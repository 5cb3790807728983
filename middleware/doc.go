// Package middleware holds the HTTP plumbing every redisware package
// shares: the client's address behind trusted proxies, the KeyFunc type
// that rate limits and caches are keyed by, Chain, and a Redis health
// handler. It keeps no Redis state and imports no other redisware package.
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
// # Redis keys
//
// This package writes none.
package middleware
