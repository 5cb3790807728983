package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// FuzzLocalGCRA drives the in-process limiter (the same arithmetic as the
// script) with arbitrary sequences of clock steps and costs, and checks
// the GCRA bound: what is allowed never exceeds the burst plus what the
// rate has paid back since the first request.
func FuzzLocalGCRA(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, uint8(3), uint8(2))
	f.Add([]byte{200, 2, 3, 1, 0, 0, 255, 4, 1, 1}, uint8(1), uint8(5))
	f.Add([]byte{7, 3, 7, 3, 7, 3, 90, 1}, uint8(10), uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, count, burst uint8) {
		if count == 0 || burst == 0 {
			return
		}
		clock := redistest.NewClock(t0)
		local, err := newTATLRU(8)
		if err != nil {
			t.Fatal(err)
		}
		l := &Limiter{o: Options{Now: clock.Now}, epoch: t0, local: local}
		// 7 s: an interval of 7/count s has no exact form in whole µs
		// for most counts, so the fractions are exercised.
		lim := Per(int(count), 7*time.Second).WithBurst(int(burst))
		ps, err := newPolicySet([]Limit{lim})
		if err != nil {
			t.Fatal(err)
		}
		var spent, elapsed int64 // elapsed in ns
		for i := 0; i+1 < len(ops); i += 2 {
			step := time.Duration(ops[i]) * 10 * time.Millisecond
			clock.Add(step)
			elapsed += int64(step)
			cost := int(ops[i+1] % 4)
			res := l.decideLocal(ps, "k", cost)
			if res.Allowed {
				spent += int64(cost)
			} else if res.RetryAfter <= 0 {
				t.Fatalf("denied with RetryAfter %v", res.RetryAfter)
			}
			st := res.Limits[0]
			if st.Remaining < 0 || st.Remaining > int(burst) || st.Reset < 0 || st.Reset > unitsDuration(ps.u[0].tol, ps.u[0].m) {
				t.Fatalf("status out of range: %+v", st)
			}
			refill := elapsed * int64(count) / int64(7*time.Second) // exact: the rate times the time
			if spent > int64(burst)+refill {
				t.Fatalf("spent %d after %v, more than burst %d + refill %d", spent, time.Duration(elapsed), burst, refill)
			}
		}
	})
}

var redisKeyRE = regexp.MustCompile(`^ratelimit:\{[0-9a-f]{32}\}:(second|hour):2$`)

// FuzzHandlerKey sends attacker-chosen key header values through the
// middleware: no panic, a sane status, and every Redis key written is the
// fixed-size hashed form, whatever the value.
func FuzzHandlerKey(f *testing.F) {
	for _, s := range []string{"alice", "", " ", "{x}", "a:b:c", "\x00\xff", string(make([]byte, 4096)), "ключ"} {
		f.Add(s)
	}
	e := newEnv(f)
	c := e.b.Client()
	l := e.limiterOn(f, c, Options{})
	h := l.Handler(middleware.KeyByHeader("X-Key"), PerSecond(2), PerHour(100))(ok)
	f.Fuzz(func(t *testing.T, key string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["X-Key"] = []string{key}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusTooManyRequests, http.StatusBadRequest:
		default:
			t.Fatalf("status %d for key %q", w.Code, key)
		}
		ctx := context.Background()
		iter := c.Scan(ctx, 0, e.b.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); !redisKeyRE.MatchString(k[len(e.b.Prefix):]) {
				t.Fatalf("key %q written for %q", k, key)
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	})
}
