package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/middleware"
)

// costFromHeader charges what X-Cost says (1 without it).
func costFromHeader(r *http.Request) int {
	if n, err := strconv.Atoi(r.Header.Get("X-Cost")); err == nil {
		return n
	}
	return 1
}

// TestBillionPerMinuteHandler: PerMinute(1_000_000_000), one unit every
// 60 ns, works in a handler on both backends: its whole burst is spent in
// one request, the next full-burst request waits a minute (Retry-After 60,
// as ~60 s of the rate are owed), and a single unit is back within the
// microsecond Redis' clock moves between requests.
func TestBillionPerMinuteHandler(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{CacheSize: -1, Cost: costFromHeader})
	h, err := l.NewHandler(middleware.KeyByIP, PerMinute(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	srv := h(ok)
	send := func(cost int) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header.Set("X-Cost", strconv.Itoa(cost))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	if w := send(1_000_000_000); w.Code != 200 || w.Header().Get("RateLimit") != `"minute";r=0;t=1` {
		t.Fatalf("the whole burst: %d, RateLimit %q", w.Code, w.Header().Get("RateLimit"))
	}
	if got := send(1_000_000_000); got.Code != 429 || got.Header().Get("Retry-After") != "60" {
		t.Fatalf("a second burst at once: %d, Retry-After %q; want 429 after 60 s", got.Code, got.Header().Get("Retry-After"))
	}
	e.advance(time.Microsecond) // on real Redis, its clock has moved on by more already
	if w := send(1); w.Code != 200 {
		t.Fatalf("one unit a microsecond later: %d", w.Code)
	}
	// Policy header: the rate as given.
	if w := send(0); w.Header().Get("RateLimit-Policy") != `"minute";q=1000000000;w=60` {
		t.Fatalf("RateLimit-Policy %q", w.Header().Get("RateLimit-Policy"))
	}
}

// TestBillionPerMinuteExact walks PerMinute(1_000_000_000) with a burst of
// 100 through Redis' frozen clock (miniredis), a microsecond at a time:
// each microsecond pays back 1000/60 units, the fraction carries over, so
// after k microseconds exactly ⌊1000k/60⌋ more requests have passed: 16,
// then 17 (33 in 2 µs), and so on.
func TestBillionPerMinuteExact(t *testing.T) {
	e := newEnv(t)
	if !e.fixed {
		t.Skip("needs a settable Redis clock (miniredis); TestBillionPerMinuteHandler runs on real Redis")
	}
	l := e.limiter(t, Options{CacheSize: -1})
	lim := PerMinute(1_000_000_000).WithBurst(100)
	drain := func() (allowed int, last Result) {
		for {
			res := mustAllow(t, l, "k", 1, lim)
			if !res.Allowed {
				return allowed, res
			}
			allowed++
		}
	}
	if n, res := drain(); n != 100 || res.RetryAfter != 60*time.Nanosecond {
		t.Fatalf("burst: %d allowed, then RetryAfter %v; want 100 and 60ns", n, res.RetryAfter)
	}
	total := 0
	for k := 1; k <= 30; k++ {
		e.advance(time.Microsecond)
		n, res := drain()
		total += n
		if want := 1000 * k / 60; total != want {
			t.Fatalf("after %d µs: %d allowed, want %d", k, total, want)
		}
		// The denial's wait is what is left of the 60 ns of the next unit.
		if wait := time.Duration(60*(total+1) - 1000*k); res.RetryAfter != wait {
			t.Fatalf("after %d µs: RetryAfter %v, want %v", k, res.RetryAfter, wait)
		}
	}
}

// TestNewHandlerErrors: NewHandler returns what Handler panics with.
func TestNewHandlerErrors(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{})
	for _, tc := range []struct {
		name   string
		keyFn  middleware.KeyFunc
		limits []Limit
		limit  bool // the error wraps ErrInvalidLimit
	}{
		{"nil KeyFunc", nil, []Limit{PerSecond(1)}, false},
		{"no limits", middleware.KeyByIP, nil, true},
		{"too fine to represent", middleware.KeyByIP, []Limit{PerSecond(1 << 62).WithBurst(1)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := l.NewHandler(tc.keyFn, tc.limits...)
			if err == nil || h != nil || errors.Is(err, ErrInvalidLimit) != tc.limit {
				t.Fatalf("NewHandler: %v, %v", h != nil, err)
			}
		})
	}
}

// TestFractionCarry checks the stored TAT's fraction on both backends,
// from states written ahead of Redis' clock: a fraction that passes the
// scale carries into the microseconds, and one stored on another scale
// (the limit was changed) is rounded up to the next microsecond first.
func TestFractionCarry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.b.Client()
	l := e.limiterOn(t, c, Options{CacheSize: -1})
	lim := PerMinute(1_000_000_000) // 3 units of 1/50 µs
	rk := e.b.Prefix + "ratelimit:{" + keys.Hash("carry") + "}:minute" + keyVersion
	for _, tc := range []struct {
		name   string
		f, m   int64 // stored fraction and scale
		da, wf int64 // microseconds added, fraction after one request
	}{
		{"carry", 48, 50, 1, 1},
		{"no carry", 10, 50, 0, 13},
		{"another scale", 3, 7, 1, 3},
		{"another scale, no fraction", 0, 7, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.b.Now(ctx).Add(10 * time.Second).UnixMicro() // well within the 60 s tolerance
			if err := c.Set(ctx, rk, fmt.Sprintf("%d:%d:%d", a, tc.f, tc.m), time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if res := mustAllow(t, l, "carry", 1, lim); !res.Allowed {
				t.Fatalf("denied: %+v", res)
			}
			v, err := c.Get(ctx, rk).Result()
			if err != nil {
				t.Fatal(err)
			}
			ga, gf, gm, ok := parseTAT(v)
			if !ok || ga != a+tc.da || gf != tc.wf || gm != 50 {
				t.Fatalf("stored %q, want %d:%d:50", v, a+tc.da, tc.wf)
			}
		})
	}
}

// TestLocalExactAtFastRates: FailLocal's in-process limiter keeps the
// same exact arithmetic at 10⁹ per minute, whatever steps its clock takes:
// after t ns past the burst, exactly ⌊t/60⌋ more requests have passed,
// with no fraction lost to the steps.
func TestLocalExactAtFastRates(t *testing.T) {
	for _, step := range []time.Duration{7 * time.Nanosecond, time.Microsecond, 1300 * time.Nanosecond} {
		t.Run(step.String(), func(t *testing.T) {
			e := newEnv(t)
			local, err := newTATLRU(8)
			if err != nil {
				t.Fatal(err)
			}
			l := &Limiter{o: Options{Now: e.clock.Now}, epoch: e.clock.Now(), local: local}
			ps, err := newPolicySet([]Limit{PerMinute(1_000_000_000).WithBurst(100)})
			if err != nil {
				t.Fatal(err)
			}
			drain := func() int {
				n := 0
				for l.decideLocal(ps, "k", 1).Allowed {
					n++
				}
				return n
			}
			if n := drain(); n != 100 {
				t.Fatalf("burst: %d", n)
			}
			total := 0
			for k := int64(1); k <= 400; k++ {
				e.clock.Add(step)
				total += drain()
				if want := int(k * int64(step) / 60); total != want {
					t.Fatalf("after %v: %d allowed, want %d", time.Duration(k)*step, total, want)
				}
			}
		})
	}
}
