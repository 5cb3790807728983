package middleware

import "time"

// RedisCall is one Redis call a package made, as the OnRedisCall hook of
// the package's Observer receives it. Calls the open circuit breaker
// refused are not calls: see BreakerEvent.Refused.
type RedisCall struct {
	// Operation names what the call did, one of a few constants of the
	// package (its Observer's documentation lists them), never a key.
	Operation string
	// Duration is how long the call took: until Redis answered, or until
	// the package stopped waiting at its timeout.
	Duration time.Duration
	// Err is the call's error, nil when Redis answered (a missing key is
	// an answer).
	Err error
}

// BreakerState is the state of a package's circuit breaker.
type BreakerState uint8

const (
	// BreakerClosed: Redis is called.
	BreakerClosed BreakerState = iota
	// BreakerOpen: after consecutive Redis failures, or a failed probe,
	// calls are refused and answered by the package's failure policy.
	BreakerOpen
	// BreakerHalfOpen: the cool-down has passed and one probe call is in
	// flight; its outcome closes the breaker or opens it again.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// BreakerEvent is a change of state of a package's circuit breaker, as the
// OnBreaker hook of the package's Observer receives it. One outage is the
// time from the breaker's first opening to its closing again.
type BreakerEvent struct {
	// State is the state the breaker changed to.
	State BreakerState
	// Outage is how long ago the outage began: zero as the breaker first
	// opens, the outage's whole length as it closes.
	Outage time.Duration
	// Refused is how many calls the breaker has refused during the outage
	// so far: requests answered by the failure policy without a Redis
	// call.
	Refused int64
}
