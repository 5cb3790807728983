package ratelimit

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestLimitConstructors(t *testing.T) {
	tests := []struct {
		name   string
		l      Limit
		want   string
		burst  int
		period time.Duration
	}{
		{"second", PerSecond(10), `"second";q=10;w=1`, 10, time.Second},
		{"minute", PerMinute(100), `"minute";q=100;w=60`, 100, time.Minute},
		{"hour", PerHour(1000), `"hour";q=1000;w=3600`, 1000, time.Hour},
		{"day", PerDay(5), `"day";q=5;w=86400`, 5, 24 * time.Hour},
		{"burst", PerSecond(10).WithBurst(20), `"second";q=10;w=1`, 20, time.Second},
		{"renamed", PerMinute(5).Named("login"), `"login";q=5;w=60`, 5, time.Minute},
		{"per whole seconds", Per(3, 10*time.Second), `"10s";q=3;w=10`, 3, 10 * time.Second},
		{"per sub-second has no w", Per(5, 500*time.Millisecond), `"500ms";q=5`, 5, 500 * time.Millisecond},
		{"per sub-millisecond", Per(1, 250*time.Microsecond), `"250us";q=1`, 1, 250 * time.Microsecond},
		{"per sub-microsecond", Per(3, 1500*time.Nanosecond), `"1500ns";q=3`, 3, 1500 * time.Nanosecond},
		{"a billion per minute", PerMinute(1_000_000_000), `"minute";q=1000000000;w=60`, 1_000_000_000, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
			if tt.l.Burst() != tt.burst || tt.l.Period() != tt.period {
				t.Errorf("burst, period = %d, %v; want %d, %v", tt.l.Burst(), tt.l.Period(), tt.burst, tt.period)
			}
			if err := ValidateLimits(tt.l); err != nil {
				t.Errorf("ValidateLimits: %v", err)
			}
		})
	}
}

func TestValidateLimits(t *testing.T) {
	many := make([]Limit, MaxLimits+1)
	for i := range many {
		many[i] = PerSecond(1).Named("l" + strings.Repeat("x", i))
	}
	tests := []struct {
		name   string
		limits []Limit
		want   string // substring of the error; "" means valid
	}{
		{"one", []Limit{PerSecond(1)}, ""},
		{"three", []Limit{PerSecond(10), PerMinute(100), PerHour(1000)}, ""},
		{"none", nil, "no limits"},
		{"too many", many, "at most"},
		{"zero count", []Limit{PerSecond(0)}, "count 0"},
		{"negative count", []Limit{PerMinute(-1)}, "count -1"},
		{"zero burst", []Limit{PerSecond(1).WithBurst(0)}, "burst 0"},
		{"zero period", []Limit{Per(1, 0)}, "period"},
		{"period over a year", []Limit{Per(1, 400*24*time.Hour)}, "period"},
		{"faster than one per microsecond", []Limit{Per(2000, time.Millisecond)}, ""},
		{"a billion per minute", []Limit{PerMinute(1_000_000_000)}, ""},
		{"one per nanosecond", []Limit{Per(1, time.Nanosecond)}, ""},
		{"too fine to represent", []Limit{PerSecond(1 << 62).WithBurst(1)}, "finer than"},
		{"max count and burst", []Limit{PerSecond(math.MaxInt)}, "finer than"},
		{"huge burst", []Limit{PerDay(1).WithBurst(1000)}, "too large"},
		{"burst that overflows", []Limit{PerSecond(1).WithBurst(math.MaxInt)}, "too large"},
		{"duplicate names", []Limit{PerSecond(1), PerSecond(5)}, "used twice"},
		{"empty name", []Limit{PerSecond(1).Named("")}, "name"},
		{"name with quote", []Limit{PerSecond(1).Named(`a"b`)}, "name"},
		{"name with brace", []Limit{PerSecond(1).Named("a}b")}, "name"},
		{"name too long", []Limit{PerSecond(1).Named(strings.Repeat("a", MaxNameLen+1))}, "name"},
		{"zero Limit", []Limit{{}}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLimits(tt.limits...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("error = %v, want ErrInvalidLimit containing %q", err, tt.want)
			}
		})
	}
}

// TestUnits: the interval is exact where the numbers allow it, whatever
// the rate, and otherwise rounded up by less than a millionth, within the
// bounds that keep Lua's doubles exact.
func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		l         Limit
		iv, tol   int64 // 0: rounded, checked against the exact rate
		m         int64
		wantExact bool
	}{
		{"7 per minute", PerMinute(7), 60_000_000, 7 * 60_000_000, 7, true},
		{"10 per second", PerSecond(10), 100_000, 1_000_000, 1, true},
		{"a billion per minute", PerMinute(1_000_000_000), 3, 3_000_000_000, 50, true},
		{"3e9 per second", PerSecond(3_000_000_000), 1, 3_000_000_000, 3000, true},
		{"one per nanosecond", Per(1, time.Nanosecond), 1, 1, 1000, true},
		{"one per year, burst 2", Per(1, maxPeriod).WithBurst(2), int64(maxPeriod / time.Microsecond), 2 * int64(maxPeriod/time.Microsecond), 1, true},
		{"86399 per day", PerDay(86399), 0, 0, 0, false},
		{"a prime count per minute", PerMinute(1_000_000_007), 0, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := tc.l.units()
			if err != nil {
				t.Fatal(err)
			}
			if u.tol > maxUnits || u.m > maxUnits || u.m < 1 || u.iv < 1 || u.tol != u.iv*int64(tc.l.Burst()) {
				t.Fatalf("units %+v out of bounds", u)
			}
			if tc.wantExact {
				if u != (units{tc.iv, tc.tol, tc.m}) {
					t.Fatalf("units %+v, want {%d %d %d}", u, tc.iv, tc.tol, tc.m)
				}
				return
			}
			// iv/m µs against Period/Count: never shorter, longer by
			// less than one part in a million.
			got := new(big.Rat).SetFrac64(u.iv, u.m)
			exact := new(big.Rat).SetFrac(big.NewInt(int64(tc.l.Period())), big.NewInt(1000*int64(tc.l.Count())))
			if got.Cmp(exact) < 0 {
				t.Fatalf("interval %v µs is shorter than %v", got, exact)
			}
			excess, _ := new(big.Rat).Quo(new(big.Rat).Sub(got, exact), exact).Float64()
			if excess >= 1e-6 {
				t.Fatalf("interval rounded up by %g", excess)
			}
			t.Logf("units %+v: the interval is %.3g longer than exact", u, excess)
		})
	}
}
