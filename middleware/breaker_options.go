package middleware

import (
	"time"

	"github.com/redisware/redisware/internal/breaker"
)

// Defaults of BreakerOptions, used where a field is zero.
const (
	// DefaultBreakerThreshold is the number of consecutive failed Redis
	// calls that opens a breaker.
	DefaultBreakerThreshold = breaker.DefaultThreshold // 5
	// DefaultBreakerMinCooldown is the wait before an open breaker's
	// first probe.
	DefaultBreakerMinCooldown = breaker.DefaultMinCooldown // 10 ms
	// DefaultBreakerMaxCooldown caps the wait between probes, and so how
	// long after Redis is back requests may still be refused.
	DefaultBreakerMaxCooldown = breaker.DefaultMaxCooldown // 50 ms
	// BreakerReportEvery is how often an open breaker logs that it is
	// still open, with the requests it refused meanwhile.
	BreakerReportEvery = breaker.ReportEvery // 10 s
)

// BreakerOptions configure the circuit breaker that session, ratelimit,
// cachehandler and aside each put in front of Redis (the Breaker field of
// their Options). After Threshold consecutive failed calls (errors and
// timeouts, not a client's own cancellation) the breaker opens: calls are
// answered at once by the package's failure policy, without touching
// Redis, so an outage adds no latency. While open, one call at a time
// probes Redis, first after MinCooldown, then after a wait that doubles
// with each failed probe up to MaxCooldown; the first probe that succeeds
// closes it. So requests are refused for at most MaxCooldown (plus a round
// trip) after Redis answers again.
//
// An outage is logged in a handful of lines per package: when the breaker
// opens (Warn, with the error), every BreakerReportEvery while it stays
// open (Warn, with the requests refused so far) and when it closes (Info,
// with the outage's length and the requests refused), not one per request.
//
// The zero value means every default. New of each package reports an
// error for a negative field or a MaxCooldown shorter than MinCooldown.
type BreakerOptions struct {
	// Threshold is the number of consecutive failed Redis calls that opens
	// the breaker. Zero means DefaultBreakerThreshold (5).
	Threshold int
	// MinCooldown is how long the breaker stays open before its first
	// probe. Zero means DefaultBreakerMinCooldown (10 ms).
	MinCooldown time.Duration
	// MaxCooldown caps the wait between probes, which doubles after each
	// failed one. A longer cap means fewer probes of a Redis that stays
	// down, and up to that long before requests succeed again once it is
	// back. Zero means DefaultBreakerMaxCooldown (50 ms), or MinCooldown
	// if that is longer.
	MaxCooldown time.Duration
}
