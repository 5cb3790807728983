// Package aside is a typed cache-aside over Redis: GetOrSet returns the
// value cached under a key, or calls a fetch function, stores its result
// as JSON with an expiry and returns it.
//
//	products, err := aside.New(rdb, aside.Options{Prefix: "catalog:", LocalSize: 10_000})
//	if err != nil { ... }
//	defer products.Close()
//
//	p, err := aside.GetOrSet(ctx, products, "product:"+id, time.Hour,
//		func(ctx context.Context) (Product, error) { return db.Product(ctx, id) })
//
// Set writes a value, Delete removes one; both evict it from the local tier
// of every instance. A fetch that returns (or wraps) ErrNotFound can be
// remembered for Options.NotFoundTTL, so a missing item does not reach the
// database on every request.
//
// # Stampedes
//
// Concurrent GetOrSet calls for one key in one process share one fetch
// (singleflight). Across instances the first to miss takes a lock key,
// <key>:lock (SET NX PX, Options.LockTTL), and fetches; the others poll for
// the value with an exponential backoff (5 ms doubling to 100 ms) for at
// most Options.LockWait, then fetch themselves. Polling costs a few GETs
// per waiting instance, not per waiting request, and needs no extra
// connection. A fetch runs detached from its callers' cancellation (they
// share it) and is bounded by Options.FetchTimeout.
//
// With Options.EarlyRefresh, a value close to its expiry is refreshed in
// the background by one instance while the cached value is served.
//
// # Local tier
//
// With Options.LocalSize, an in-process LRU of at most that many values
// sits in front of Redis: a hit there costs no round trip. Set and Delete
// publish the key on Options.Channel, and every instance's subscriber
// evicts it; a (re)subscription clears the tier, since messages published
// while disconnected are lost, and Options.LocalTTL bounds how stale an
// entry can get in any case.
//
// # Redis keys
//
//	<Prefix><key>        string: the value as JSON (or a not-found marker); ttl, jittered
//	<Prefix><key>:lock   string: a random token while one instance fills; LockTTL
//
// Set and Delete publish "<instance id> <Prefix><key>" on Options.Channel
// (default <Prefix>cache:aside:invalidate). Keys, values, the not-found
// marker and the channel are those cachehandler's cache-aside used before
// this package existed, so both versions read each other's data during a
// rollout.
//
// key goes into Redis as it is (after the prefix): hash or escape parts
// that come from untrusted input, and bound their length.
//
// # Round trips
//
// A hit costs one Redis round trip, and none when the local tier holds the
// key; a miss three (on Redis Cluster five, as the key and its lock may
// live on different nodes, which keeps their order).
//
// # Observing
//
// Options.Observer hears where each GetOrSet's answer came from (a hit or
// a negative hit, in the local tier or Redis; a miss; a bypass), each
// fetch and its duration, each early refresh, each invalidation of the
// local tier, each Redis call and each change of the circuit breaker; the
// otel module turns them into OpenTelemetry. Unset, it costs nothing. It
// never sees a key or a value.
//
// # Failures
//
// Each Redis call is bounded by Options.Timeout, and a circuit breaker
// (Options.Breaker, see middleware.BreakerOptions) stops calling Redis
// after consecutive failures until a probe, after 10 ms and then at most
// every 50 ms, finds it back. An outage is logged as the first failure
// and the breaker's opened, still open and closed lines; the rest at
// Debug.
// When Redis fails, is slow, or the breaker is open, GetOrSet runs fetch
// directly and logs the error instead of returning it; Set and Delete
// return it. A cached value that does not decode is logged and treated as
// a miss. A caller whose context ends gets ctx.Err() and never counts as a
// Redis failure.
package aside
