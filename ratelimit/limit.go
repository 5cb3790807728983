package ratelimit

import (
	"errors"
	"fmt"
	"math/big"
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
// ("1500ms") when whole, else in microseconds ("250us") when whole, else
// in nanoseconds ("1500ns").
func Per(n int, period time.Duration) Limit {
	var name string
	switch {
	case period > 0 && period%time.Second == 0:
		name = strconv.FormatInt(int64(period/time.Second), 10) + "s"
	case period%time.Millisecond == 0:
		name = strconv.FormatInt(period.Milliseconds(), 10) + "ms"
	case period%time.Microsecond == 0:
		name = strconv.FormatInt(period.Microseconds(), 10) + "us"
	default:
		name = strconv.FormatInt(int64(period), 10) + "ns"
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

// units is a limit as the GCRA script counts it. Time is counted in units
// of 1/m µs (Redis TIME has µs), chosen so that the emission interval
// Period/Count is a whole number iv of units; tol is Burst×iv, how far the
// theoretical arrival time may run ahead of now.
type units struct{ iv, tol, m int64 }

// maxUnits bounds a limit's tolerance and scale, so that every number the
// script and the in-process limiter compute (at most tol + m + Burst×iv)
// stays below 2^53, where Lua's doubles are exact, and times 1000 (ns)
// within an int64.
const maxUnits = 1 << 51

// maxRounding is the most the emission interval may be rounded up by,
// relative to itself, when Period/Count has no exact representation
// within maxUnits: one part in a million.
const maxRounding = 1_000_000

// units returns l in the script's units. The interval is exact whenever
// the numbers fit: m is the denominator of Period/Count in µs, so 7 per
// minute is 60,000,000/7 µs (m = 7) and 10⁹ per minute 3/50 µs (m = 50).
// Otherwise m is the finest scale at which Burst intervals fit, and the
// interval is rounded up (never allowing more than Count per Period) by
// less than one part in maxRounding. It reports a limit that neither can
// represent. The count, burst and period must be positive.
func (l Limit) units() (units, error) {
	period := new(big.Int).SetInt64(int64(l.period))
	perUnit := new(big.Rat).SetFrac(period, new(big.Int).Mul(big.NewInt(1000), big.NewInt(int64(l.count)))) // µs
	burst := big.NewInt(int64(l.burst))
	limit := big.NewInt(maxUnits)
	iv, m := perUnit.Num(), perUnit.Denom()
	if tol := new(big.Int).Mul(iv, burst); m.Cmp(limit) <= 0 && tol.Cmp(limit) <= 0 {
		return units{iv: iv.Int64(), tol: tol.Int64(), m: m.Int64()}, nil
	}
	// The largest m with Burst × ⌈interval×m⌉ ≤ maxUnits: the rounding
	// adds less than one unit per interval, so leave Burst units spare.
	tooFine := fmt.Errorf("%w: %s: %d per %v with a burst of %d is finer than one part in %d of its interval can represent",
		ErrInvalidLimit, l.name, l.count, l.period, l.burst, maxRounding)
	spare := new(big.Int).Sub(limit, burst)
	if spare.Sign() <= 0 {
		return units{}, tooFine
	}
	q := new(big.Rat).Quo(new(big.Rat).SetInt(spare), new(big.Rat).Mul(perUnit, new(big.Rat).SetInt(burst)))
	m = new(big.Int).Quo(q.Num(), q.Denom())
	if m.Cmp(limit) > 0 {
		m.Set(limit)
	}
	if m.Sign() <= 0 {
		return units{}, tooFine
	}
	exact := new(big.Rat).Mul(perUnit, new(big.Rat).SetInt(m)) // the interval in units, unrounded
	iv = new(big.Int).Quo(exact.Num(), exact.Denom())
	if !exact.IsInt() {
		iv.Add(iv, big.NewInt(1))
	}
	// (iv − exact)/exact ≤ 1/maxRounding ⇔ iv × maxRounding ≤ exact × (maxRounding+1)
	lhs := new(big.Rat).SetInt(new(big.Int).Mul(iv, big.NewInt(maxRounding)))
	if lhs.Cmp(new(big.Rat).Mul(exact, big.NewRat(maxRounding+1, 1))) > 0 {
		return units{}, tooFine
	}
	return units{iv: iv.Int64(), tol: iv.Int64() * int64(l.burst), m: m.Int64()}, nil
}

// ErrInvalidLimit is wrapped by the errors ValidateLimits returns.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// maxPeriod bounds periods: a year.
const maxPeriod = 366 * 24 * time.Hour

// maxTolerance bounds how far a key may run ahead of the rate (Burst
// intervals): two of the longest periods, which also bounds a key's expiry.
const maxTolerance = 2 * maxPeriod

// ValidateLimits reports why limits cannot be used together, or nil. It
// needs at least one limit and at most MaxLimits; each must have a count,
// burst and period above zero (a period of at most a year, and a burst the
// rate pays back within two years), and a valid name unique among them.
// Any rate is accepted, 10⁹ per minute or one per year; the decision is
// exact whenever the interval Period/Count and Burst of them fit the
// script's arithmetic, and otherwise the interval is rounded up by less
// than one part in a million (never allowing more than Count per Period).
// A limit even that cannot represent (a burst beyond about 2×10⁹ at a rate
// with no exact form, say) is an error wrapping ErrInvalidLimit.
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
		case l.period <= 0 || l.period > maxPeriod:
			return fmt.Errorf("%w: %s: period %v must be above 0 and at most a year", ErrInvalidLimit, l.name, l.period)
		case tooLong(l):
			return fmt.Errorf("%w: %s: burst %d is too large for its rate (paid back in more than two years)", ErrInvalidLimit, l.name, l.burst)
		}
		if _, err := l.units(); err != nil {
			return err
		}
		for _, o := range limits[:i] {
			if o.name == l.name {
				return fmt.Errorf("%w: name %q used twice", ErrInvalidLimit, l.name)
			}
		}
	}
	return nil
}

// tooLong reports whether Burst intervals exceed maxTolerance:
// Burst × Period / Count > maxTolerance, computed without overflow.
func tooLong(l Limit) bool {
	bp := new(big.Int).Mul(big.NewInt(int64(l.burst)), big.NewInt(int64(l.period)))
	return bp.Cmp(new(big.Int).Mul(big.NewInt(int64(maxTolerance)), big.NewInt(int64(l.count)))) > 0
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
