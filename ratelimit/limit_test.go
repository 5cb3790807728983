package ratelimit

import (
	"errors"
	"math"
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
		{"too fast", []Limit{Per(2000, time.Millisecond)}, "per microsecond"},
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

func TestIntervalRoundsUp(t *testing.T) {
	// 7 per minute: 8571428.57 µs, rounded up so 7 never take less than a
	// minute.
	l := PerMinute(7)
	if got := l.interval(); got != 8571429 {
		t.Fatalf("interval = %d", got)
	}
	if got := l.tolerance(); got != 7*8571429 {
		t.Fatalf("tolerance = %d", got)
	}
}
