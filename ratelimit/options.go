package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redisware/redisware/middleware"
)

// FailurePolicy says what a decision does when Redis cannot be asked (an
// error, a timeout, or the circuit breaker open after repeated failures).
// It is not a RateLimit-Policy: those are the limits themselves.
type FailurePolicy uint8

const (
	// FailOpen allows the request and reports the failure. The default: an
	// outage of the limiter does not become an outage of the site.
	FailOpen FailurePolicy = iota
	// FailClosed denies the request: HTTP requests are answered by
	// Options.ErrorHandler.
	FailClosed
	// FailLocal decides with an in-process GCRA limiter of the same limits,
	// one per Limiter, so an outage still limits (each instance allows the
	// full rate on its own, starting from a full burst).
	FailLocal
)

// String returns "open", "closed" or "local".
func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return "unknown"
}

// Defaults of Options.
const (
	// DefaultPrefix starts every key when Options.Prefix is empty.
	DefaultPrefix = "ratelimit:"
	// DefaultTimeout bounds each Redis call when Options.Timeout is zero.
	// It is short: a limiter in front of every request must not make a
	// slow Redis everyone's latency.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultCacheSize bounds the deny cache (and FailLocal's in-process
	// limiter), in keys, when Options.CacheSize is zero.
	DefaultCacheSize = 10000
)

// Options configure a Limiter. The zero value is ready to use; New fills
// defaults into its own copy.
type Options struct {
	// Prefix starts every key the limiter writes. Empty means
	// DefaultPrefix ("ratelimit:"). It must not contain '{' or '}', as the
	// hash tag follows it.
	Prefix string
	// Timeout bounds each Redis call. Zero means DefaultTimeout (100 ms);
	// negative is an error. It holds for any client, whatever its own
	// timeouts; a go-redis client with ContextTimeoutEnabled stops its
	// network I/O at the deadline itself, which spares the limiter a
	// goroutine per call.
	Timeout time.Duration

	// NoAutoPipeline sends each Redis command on its own instead of through
	// the client's autopipeliner. By default (false), when the client is a
	// *redis.Client or *redis.ClusterClient, the commands this package sends
	// one at a time on a request's path go through the client's deferred
	// autopipeliner (AsyncAutoPipeline, shared with the application and
	// closed with the client): concurrent requests' commands then share one
	// write and one read, which is what makes the package fast under load.
	// Order, read-your-writes, Timeout and the scripts' atomicity hold
	// either way; see the README's "Autopipelining".
	NoAutoPipeline bool
	// Failure is what decisions do when Redis cannot be asked. The zero
	// value is FailOpen.
	Failure FailurePolicy
	// CacheSize bounds the local deny cache, in keys (and the in-process
	// limiter of FailLocal). Zero means DefaultCacheSize (10000). Negative
	// disables the deny cache, so every decision asks Redis; FailLocal then
	// keeps DefaultCacheSize keys.
	CacheSize int
	// Breaker configures the circuit breaker in front of Redis: after
	// Breaker.Threshold consecutive failed calls the limiter stops asking
	// Redis and decides by Failure at once, until a probe finds Redis back
	// (see middleware.BreakerOptions), with no restart. The zero value
	// means every default: open after 5 failures, probe after 10 ms, then
	// at most every 50 ms.
	Breaker middleware.BreakerOptions
	// Now is the local clock, used by the deny cache, the in-process
	// limiter and the breaker; decisions in Redis use Redis' clock. Nil
	// means time.Now.
	Now func() time.Time
	// Logger receives the limiter's log lines, the breaker's among them
	// (opened, still open every 10 s, closed). Nil means slog.Default().
	Logger *slog.Logger
	// OnError observes every failed Redis call (whatever Failure says); it
	// answers nothing. A call that failed because its caller's context
	// was cancelled (the client went away) is no Redis failure: it is not
	// reported, only logged at Debug level. Nil means the error is logged
	// with Logger at Warn level, or at Debug level when the breaker's own
	// lines report it (a call refused while the breaker is open, or any
	// but the first of consecutive failures), so an outage does not flood
	// the log.
	OnError func(ctx context.Context, err error)
	// Observer receives the limiter's decisions, Redis calls and breaker
	// changes, for metrics and traces. The zero value observes nothing
	// and costs nothing.
	Observer Observer

	// The fields below concern Handler only.

	// Skip exempts a request from limiting (health checks, allow-lists):
	// when it returns true the request goes straight to the next handler,
	// with no headers and no Redis call. Nil means no request is exempt.
	Skip func(*http.Request) bool
	// Cost returns what a request costs. Nil means the cost set on the
	// request's context with WithCost, or 1. A cost of 0 spends nothing but
	// still reports the headers; a negative cost counts as 0.
	Cost func(*http.Request) int
	// KeyErrorHandler handles a request whose KeyFunc failed. It returns
	// true if it answered the request, false to let the request through
	// unlimited. Nil means the request is answered 400 Bad Request with a
	// short plain text body, and the error is logged with Logger at Debug
	// level.
	KeyErrorHandler func(w http.ResponseWriter, r *http.Request, err error) bool
	// LimitedHandler answers a denied request. The RateLimit headers and
	// Retry-After are already set and ResultFromContext(r.Context())
	// returns the decision; it should write status 429. Nil means 429 with
	// the plain text body "rate limit exceeded".
	LimitedHandler http.Handler
	// ErrorHandler answers a request that FailClosed denies because Redis
	// failed; err is for logging, never for the client. Nil means 503
	// Service Unavailable with a short plain text body (the error is
	// already reported to OnError).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds until the limit is whole again, or until
	// a denied request may retry) for the tightest limit, beside
	// the standard RateLimit and RateLimit-Policy. False means only the
	// standard ones.
	LegacyHeaders bool
}

// withDefaults returns a validated copy of o with every default filled in.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return o, fmt.Errorf("ratelimit: Options.Prefix %q must not contain '{' or '}'", o.Prefix)
	}
	if o.Timeout < 0 {
		return o, errors.New("ratelimit: Options.Timeout must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Failure > FailLocal {
		return o, fmt.Errorf("ratelimit: unknown Options.Failure policy %d", o.Failure)
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
