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

// BreakerEventKind says what happened to a package's circuit breaker.
type BreakerEventKind uint8

const (
	// BreakerOpened: consecutive failures opened the breaker; requests
	// are answered by the package's failure policy without calling Redis,
	// but for one probe at a time (see BreakerOptions).
	BreakerOpened BreakerEventKind = iota + 1
	// BreakerStillOpen: the breaker has been open for another
	// BreakerReportEvery; the outage goes on.
	BreakerStillOpen
	// BreakerClosed: a probe succeeded; requests go to Redis again.
	BreakerClosed
)

// String returns "opened", "still-open" or "closed".
func (k BreakerEventKind) String() string {
	switch k {
	case BreakerOpened:
		return "opened"
	case BreakerStillOpen:
		return "still-open"
	case BreakerClosed:
		return "closed"
	}
	return "unknown"
}

// BreakerEvent is a change of state of a package's circuit breaker, or a
// reminder that it stays open, as the OnBreaker hook of the package's
// Observer receives it: one per log line the breaker writes. An outage
// runs from BreakerOpened to BreakerClosed.
type BreakerEvent struct {
	Kind BreakerEventKind
	// Outage is how long the breaker has been open (BreakerStillOpen) or
	// was (BreakerClosed); zero for BreakerOpened.
	Outage time.Duration
	// Refused is how many requests the breaker refused during the outage
	// so far: answered by the failure policy without a Redis call.
	Refused uint64
	// FailedProbes is how many probes of Redis failed during the outage
	// so far (each after a cool-down that doubles, up to
	// BreakerOptions.MaxCooldown).
	FailedProbes int
}
