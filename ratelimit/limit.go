package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is one quota policy: Count units per Period, of which up to Burst
// may be spent at once. Build one with PerSecond, PerMinute, PerHour, PerDay
// or Per, then adjust it with WithBurst and Named. A Limit is a small value;
// copy it freely.
type Limit struct {
	name   string
	count  int
	period time.Duration
	burst  int
}

// MaxNameLen is the longest limit name allowed.
const MaxNameLen = 32

// PerSecond returns a limit of n per second named "second", with a burst of n.
func PerSecond(n int) Limit { return Limit{name: "second", count: n, period: time.Second, burst: n} }

// PerMinute returns a limit of n per minute named "minute", with a burst of n.
func PerMinute(n int) Limit { return Limit{name: "minute", count: n, period: time.Minute, burst: n} }

// PerHour returns a limit of n per hour named "hour", with a burst of n.
func PerHour(n int) Limit { return Limit{name: "hour", count: n, period: time.Hour, burst: n} }

// PerDay returns a limit of n per 24 hours named "day", with a burst of n.
func PerDay(n int) Limit { return Limit{name: "day", count: n, period: 24 * time.Hour, burst: n} }

// Per returns a limit of n per period, with a burst of n, named after the
// period in seconds ("10s") when it is whole, else in milliseconds
// ("1500ms") when whole, else in microseconds ("250us").
func Per(n int, period time.Duration) Limit {
	var name string
	switch {
	case period > 0 && period%time.Second == 0:
		name = strconv.FormatInt(int64(period/time.Second), 10) + "s"
	case period%time.Millisecond == 0:
		name = strconv.FormatInt(period.Milliseconds(), 10) + "ms"
	default:
		name = strconv.FormatInt(period.Microseconds(), 10) + "us"
	}
	return Limit{name: name, count: n, period: period, burst: n}
}

// WithBurst returns a copy of l that allows up to b units at once. The
// sustained rate stays Count per Period; the burst is how far a client may
// run ahead of it. A burst of 1 spaces requests evenly.
func (l Limit) WithBurst(b int) Limit { l.burst = b; return l }

// Named returns a copy of l called name. The name appears in the RateLimit
// headers and in the Redis key, so two routes that limit the same key with
// limits of the same name share one budget; name them apart to keep them
// apart. Names are 1 to MaxNameLen characters of [A-Za-z0-9._-].
func (l Limit) Named(name string) Limit { l.name = name; return l }

// Name returns the limit's name.
func (l Limit) Name() string { return l.name }

// Count returns the number of units allowed per Period.
func (l Limit) Count() int { return l.count }

// Period returns the limit's period.
func (l Limit) Period() time.Duration { return l.period }

// Burst returns the number of units that may be spent at once.
func (l Limit) Burst() int { return l.burst }

// String returns the limit as a RateLimit-Policy item: "minute";q=100;w=60.
func (l Limit) String() string {
	var b strings.Builder
	l.appendPolicy(&b)
	return b.String()
}

func (l Limit) appendPolicy(b *strings.Builder) {
	b.WriteByte('"')
	b.WriteString(l.name)
	b.WriteString(`";q=`)
	b.WriteString(strconv.Itoa(l.count))
	// The draft's window is whole seconds; a sub-second or fractional
	// period is left out rather than misstated (w is optional).
	if l.period%time.Second == 0 {
		b.WriteString(";w=")
		b.WriteString(strconv.FormatInt(int64(l.period/time.Second), 10))
	}
}

// interval returns the emission interval (Period/Count) in microseconds,
// rounded up so that rounding never allows more than Count per Period.
func (l Limit) interval() int64 {
	us := l.period.Microseconds()
	c := int64(l.count)
	return (us + c - 1) / c
}

// tolerance returns how far, in microseconds, the theoretical arrival time
// may run ahead of now: Burst emission intervals.
func (l Limit) tolerance() int64 { return l.interval() * int64(l.burst) }

// ErrInvalidLimit is wrapped by the errors ValidateLimits returns.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// maxPeriod bounds periods so microsecond arithmetic stays exact in Lua's
// doubles (2^53 µs is 285 years; a year is plenty).
const maxPeriod = 366 * 24 * time.Hour

// maxTolerance bounds how far, in µs, a key may run ahead of the rate
// (Burst intervals): two of the longest periods.
const maxTolerance = 2 * int64(maxPeriod/time.Microsecond)

// ValidateLimits reports why limits cannot be used together, or nil. It
// needs at least one limit and at most MaxLimits; each must have a count,
// burst and period above zero (a period of at least 1 µs and at most a
// year, no more than one unit per microsecond, and a burst the rate pays
// back within two years), and a valid name unique among them.
func ValidateLimits(limits ...Limit) error {
	if len(limits) == 0 {
		return fmt.Errorf("%w: no limits given", ErrInvalidLimit)
	}
	if len(limits) > MaxLimits {
		return fmt.Errorf("%w: %d limits, at most %d per decision", ErrInvalidLimit, len(limits), MaxLimits)
	}
	for i, l := range limits {
		switch {
		case !validName(l.name):
			return fmt.Errorf("%w: name %q: want 1 to %d characters of [A-Za-z0-9._-]", ErrInvalidLimit, l.name, MaxNameLen)
		case l.count <= 0:
			return fmt.Errorf("%w: %s: count %d must be above 0", ErrInvalidLimit, l.name, l.count)
		case l.burst <= 0:
			return fmt.Errorf("%w: %s: burst %d must be above 0", ErrInvalidLimit, l.name, l.burst)
		case l.period < time.Microsecond || l.period > maxPeriod:
			return fmt.Errorf("%w: %s: period %v must be between 1µs and a year", ErrInvalidLimit, l.name, l.period)
		case l.period.Microseconds() < int64(l.count):
			return fmt.Errorf("%w: %s: more than one unit per microsecond", ErrInvalidLimit, l.name)
		case int64(l.burst) > maxTolerance/l.interval(): // tolerance() would exceed it, or overflow
			return fmt.Errorf("%w: %s: burst %d is too large for its rate", ErrInvalidLimit, l.name, l.burst)
		}
		for _, o := range limits[:i] {
			if o.name == l.name {
				return fmt.Errorf("%w: name %q used twice", ErrInvalidLimit, l.name)
			}
		}
	}
	return nil
}

// MaxLimits is the most limits one decision may check.
const MaxLimits = 16

func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
