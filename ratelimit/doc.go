// Package ratelimit limits requests per key with limits kept in Redis:
// exact across any number of app instances, one round trip per decision
// (none for a key already known to be over its limit), and standard
// RateLimit headers on every answer.
//
//	lim, err := ratelimit.New(rdb, ratelimit.Options{})
//	if err != nil {
//		return err
//	}
//	// For code paths:
//	res, err := lim.Allow(ctx, "login:"+email, ratelimit.PerMinute(5))
//	// For routes (chi):
//	r.With(lim.Handler(middleware.KeyByIP, ratelimit.PerSecond(10).WithBurst(20), ratelimit.PerHour(1000))).Get("/api", h)
//	// For routes (net/http):
//	mux.Handle("GET /api", lim.Handler(middleware.KeyByIP, ratelimit.PerMinute(100))(h))
//
// # Limits
//
// A Limit has a name, a count, a period and a burst: PerMinute(100) allows
// 100 units per minute, of which up to 100 (the burst) may be spent at
// once; WithBurst changes the burst and Named the name. One decision checks
// several limits together (10 per second and 1000 per hour, say): the
// request is allowed only if every limit has room, and then it is charged
// to all of them; a denied request is charged to none. A request may cost
// more than one unit (AllowN; for HTTP, Options.Cost or WithCost).
//
// Limits of the same name on the same key share one budget, on any route:
// give a route's limits their own names (Named) or key (middleware.JoinKeys
// with middleware.KeyByPath) to keep routes apart.
//
// # GCRA
//
// The algorithm is the generic cell rate algorithm. A limit of count per
// period emits one unit every T = period/count; for each key Redis stores
// one number, the theoretical arrival time (TAT): the moment by which the
// key will have paid for everything it has used, if it used units exactly
// at the sustained rate. A request costing n at time now is allowed when
// max(TAT, now) + n·T − now ≤ burst·T, that is, when it does not run more
// than a burst ahead of the rate; then TAT becomes max(TAT, now) + n·T.
// So the state is one number per key and limit, it refills continuously
// (no window edges where twice the rate gets through), Remaining is
// (burst·T − (TAT − now)) / T, the limit is whole again at TAT, and a
// denied request can retry after TAT + n·T − burst·T − now. The whole
// decision, for every limit of the request, is one Lua script that takes
// the time from Redis TIME (app-server clocks never matter), checks every
// limit first and only then writes: that is what makes it exact under any
// concurrency, across instances.
//
// Any rate is accepted, from one per year to one per nanosecond and
// beyond (PerMinute(1_000_000_000) is one unit every 60 ns). Redis' clock
// has microseconds, so the script counts time in units of 1/m µs, with m
// chosen per limit so that T is a whole number of units: T is then exact
// (7 per minute is 60,000,000/7 µs, not a rounded 8,571,429 µs) and the
// fraction of a microsecond a TAT carries is never lost. Every number stays
// below 2^53, where Lua's doubles are exact; a limit whose exact form would
// not (a count with large prime factors and a large burst, say) has T
// rounded up by less than one part in a million, so it never allows more
// than its rate. ValidateLimits (and NewHandler) return an error for the
// rare limit even that cannot represent.
//
// # Headers
//
// Responses carry the fields of draft-ietf-httpapi-ratelimit-headers-10:
//
//	RateLimit-Policy: "second";q=10;w=1, "hour";q=1000;w=3600
//	RateLimit: "second";r=0;t=1
//
// RateLimit-Policy lists every limit of the route (w is left out for a
// period that is not whole seconds). RateLimit reports the one limit
// closest to its end, with t, as the draft defines it, the seconds until
// more quota is available: on a denial, the limit that blocks longest,
// with t equal to Retry-After (the draft asks that Retry-After be no
// earlier than t); otherwise the one with the fewest units left (r), with
// t the seconds until the rate pays its next unit back (left out when the
// limit has its whole burst). Seconds are rounded up, so a client that
// waits t or Retry-After seconds is never early. Options.LegacyHeaders
// adds X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset
// (seconds until the limit is whole again, or Retry-After on a denial) for
// the same limit.
//
// A denied request is answered 429 Too Many Requests with Retry-After and
// a short plain text body; Options.LimitedHandler replaces the answer. A
// request whose KeyFunc fails is answered 400 (Options.KeyErrorHandler
// changes that), and Options.Skip exempts requests altogether. Handlers
// behind the limiter read the decision with ResultFromContext.
//
// # Round trips
//
// A decision is one EVALSHA (one EVAL the first time, which caches the
// script; Preload caches it ahead, on every shard of a Cluster). Once Redis
// has denied a key until some time, the limiter remembers it in a bounded
// LRU (Options.CacheSize) and denies that key locally, with no round trip,
// until then. The deny cache can never allow what Redis would deny: it
// only denies, and only for as long as Redis would.
//
// A hot key costs less than one round trip per decision: while a decision
// for a key (and the route's limits) is in flight, the next requests for
// that key in the same process wait, and go to Redis together as one
// script call once it returns. The script decides them in arrival order,
// each with its own cost and answer, as if each had been sent alone at that
// moment; a batch holds only requests that arrived before it was sent, so
// none is decided on older state than its own arrival, and the limits stay
// exact across instances. Every request still waits at most
// Options.Timeout from its arrival.
//
// # Failures
//
// Every Redis call is bounded by Options.Timeout. When Redis fails,
// Options.Failure, a FailurePolicy, decides: FailOpen (the default) allows
// and logs (through Options.Logger, or Options.OnError when set),
// FailClosed answers 503 (Options.ErrorHandler changes that), FailLocal
// limits with an in-process GCRA of the same limits. After consecutive
// failures a circuit breaker (Options.Breaker, see
// middleware.BreakerOptions) stops asking Redis, so an outage costs
// requests no latency; a probe after a cool-down of 10 ms, doubling up to
// 50 ms, picks Redis up again with no restart. An outage is a handful of
// log lines (the first failure, the breaker opened, still open every 10 s,
// closed), not one per request. A request whose client went away while
// Redis failed is answered nothing. New never talks to Redis, so an
// application starts while Redis is down.
//
// # Observing
//
// Options.Observer hears each decision (the limit it counts under, its
// cost, whether it was allowed and who decided), each Redis call and each
// change of the circuit breaker, for metrics and traces; the otel module
// turns them into OpenTelemetry. Unset, it costs nothing. It never sees a
// request's key.
//
// # Redis keys
//
// One string per key and limit, written only by the script:
//
//	<Prefix>{<hash>}:<limit name>:2   e.g. ratelimit:{3f2a…}:minute:2
//
// Prefix defaults to "ratelimit:". The hash is 32 hex characters of
// SHA-256 of the KeyFunc's key, so attacker-chosen header values make
// neither huge nor colliding keys, and it is the {hash tag}: all limits of
// a key live in one slot and the script runs on Redis Cluster. The value
// is the TAT as "a:f:m", a + f/m microseconds of Redis' clock; each key
// expires (PX) when its TAT passes, as it then holds nothing a fresh key
// would not. The ":2" is the format's version: the first held whole
// microseconds under keys without it, so during a rollout the old and new
// versions never misread each other's keys (each limits on its own until
// the old version is gone).
package ratelimit
