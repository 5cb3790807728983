package ratelimit

import "time"

// Result is the outcome of one decision.
type Result struct {
	// Allowed reports whether the request may proceed. When true, its cost
	// has been consumed from every limit; when false, from none.
	Allowed bool
	// RetryAfter is how long until the same request would be allowed under
	// every limit; zero when Allowed.
	RetryAfter time.Duration
	// Limits holds one Status per limit, in the order given. It is empty
	// when the decision was made without knowing the state (FailOpen,
	// FailClosed, or a cost no limit can ever admit).
	Limits []Status
	// Source tells who decided.
	Source Source
}

// Status is one limit's state after a decision.
type Status struct {
	Limit Limit
	// Remaining is how many units could be spent right now.
	Remaining int
	// Reset is how long until the limit's whole burst is available again.
	Reset time.Duration
	// RetryAfter is how long until this limit alone would admit the
	// request; zero when it admits it now.
	RetryAfter time.Duration

	next    time.Duration // until Remaining grows by one
	hasNext bool          // Remaining is below the burst
}

// nextUnit returns how long until s has one unit more than Remaining, and
// false when it already has its whole burst.
func (s Status) nextUnit() (time.Duration, bool) { return s.next, s.hasNext }

// Tightest returns the status of the limit closest to its end, the one the
// RateLimit header reports: for a denied request, the limit that denies it
// longest; otherwise the one with the fewest units remaining (ties go to
// the later reset). It reports false when Limits is empty.
func (r Result) Tightest() (Status, bool) {
	if len(r.Limits) == 0 {
		return Status{}, false
	}
	best := 0
	for i := 1; i < len(r.Limits); i++ {
		s, b := r.Limits[i], r.Limits[best]
		if !r.Allowed {
			if s.RetryAfter > b.RetryAfter {
				best = i
			}
			continue
		}
		if s.Remaining < b.Remaining || s.Remaining == b.Remaining && s.Reset > b.Reset {
			best = i
		}
	}
	return r.Limits[best], true
}

// Source tells who made a decision.
type Source uint8

const (
	// FromRedis: the GCRA script in Redis decided.
	FromRedis Source = iota
	// FromCache: the local deny cache denied without asking Redis.
	FromCache
	// FromLocal: Redis failed and the in-process limiter decided (FailLocal).
	FromLocal
	// FromFailOpen: Redis failed and the request was allowed (FailOpen).
	FromFailOpen
	// FromFailClosed: Redis failed and the request was denied (FailClosed).
	FromFailClosed
	// FromCost: the cost exceeds a limit's burst, so no state was needed.
	FromCost
)

var sourceNames = [...]string{"redis", "cache", "local", "fail-open", "fail-closed", "cost"}

// String returns "redis", "cache", "local", "fail-open", "fail-closed" or
// "cost".
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}
