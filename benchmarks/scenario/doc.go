// Package scenario builds what the load test and the micro-benchmarks
// measure: a small GET / behind one implementation (redisware or a Go peer)
// of one scenario (rate limit allowed or denied, session read or write,
// response-cache hit, cache-aside hit), on one go-redis client.
//
// The load-test server (cmd/rwserver) and the micro-benchmarks of this
// package build their handlers with the same Build, so what `make loadtest`
// measures and what CI runs once with -benchtime=1x are one code.
//
// # Fairness
//
// Every implementation gets the same app handler, the same client (one pool,
// go-redis defaults), the same limits and TTLs, and its library's documented
// defaults otherwise. Where a peer has no HTTP middleware for the job (the
// 429 middleware around go-redis/redis_rate, the response cache on
// go-redis/cache), a minimal one is written here and labelled hand-written:
// it does less than ours (no RFC 9111, no RateLimit headers), which flatters
// the peer, not us.
//
// # Redis keys
//
// Every key an implementation writes contains Env.Prefix (peers put their own
// prefix in front of it: "rate:" for redis_rate), so a run deletes exactly
// its own keys with SCAN MATCH *<prefix>* and never touches anything else.
package scenario
