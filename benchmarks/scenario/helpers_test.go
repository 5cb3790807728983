package scenario

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// cell is one implementation of one scenario built on the test's backend,
// with the requests a load test would send it.
type cell struct {
	s       Scenario
	impl    string
	b       *Built
	rdb     *redis.Client
	rt      *RoundTrips
	prefix  string
	cookies []string // session scenarios: one per key
}

// newCell builds impl of s on a fresh client of the test's backend (real
// Redis with REDIS_URL, miniredis otherwise) and deletes its keys when the
// test ends.
func newCell(tb testing.TB, s Scenario, impl string) *cell {
	tb.Helper()
	be := redistest.Start(tb)
	opt := be.Options()
	opt.ContextTimeoutEnabled = true // as the load-test server
	rdb := redis.NewClient(opt)
	prefix := be.Prefix + "bench:"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := Cleanup(ctx, rdb, prefix); err != nil {
			tb.Errorf("cleanup: %v", err)
		}
		_ = rdb.Close()
	})
	c := &cell{s: s, impl: impl, rdb: rdb, rt: CountRoundTrips(rdb), prefix: prefix}
	b, err := Build(tb.Context(), Env{RDB: rdb, Prefix: prefix}, s, impl)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	c.b = b
	if b.Seed != nil {
		n := int64(0)
		if s.Kind == SessionRead {
			n = ReadValue
		}
		for range s.Keys {
			c.cookies = append(c.cookies, c.seed(tb, n))
		}
	}
	return c
}

// seed creates a session holding n and returns its cookie as a Cookie
// header value.
func (c *cell) seed(tb testing.TB, n int64) string {
	tb.Helper()
	r := httptest.NewRequest(http.MethodPost, "/__bench/seed?n="+strconv.FormatInt(n, 10), nil)
	w := httptest.NewRecorder()
	c.b.Seed.ServeHTTP(w, r)
	res := w.Result()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) != 1 {
		tb.Fatalf("seed: status %d, %d cookies, body %q", res.StatusCode, len(res.Cookies()), w.Body.String())
	}
	ck := res.Cookies()[0]
	return ck.Name + "=" + ck.Value
}

// request returns the i-th request of the load: keyed by X-Key or carrying
// a session cookie, round-robin over the scenario's keys.
func (c *cell) request(i int) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	k := i % c.s.Keys
	switch {
	case c.cookies != nil:
		r.Header.Set("Cookie", c.cookies[k])
	case c.s.Keys > 1:
		r.Header.Set(KeyHeader, strconv.Itoa(k))
	}
	return r
}

// serve sends the i-th request and returns the recorded answer.
func (c *cell) serve(i int) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	c.b.Handler.ServeHTTP(w, c.request(i))
	return w
}

// value returns the counter of the session of the i-th request.
func (c *cell) value(tb testing.TB, i int) int64 {
	tb.Helper()
	w := httptest.NewRecorder()
	c.b.Value.ServeHTTP(w, c.request(i))
	n, err := strconv.ParseInt(w.Body.String(), 10, 64)
	if w.Code != http.StatusOK || err != nil {
		tb.Fatalf("value: status %d, body %q", w.Code, w.Body.String())
	}
	return n
}

// wantStatus is the status every request of s answers once primed.
func wantStatus(s Scenario) int {
	if s.Kind == RateLimitDeny {
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// prime sends what a load test's warm-up would: one request per key, so
// caches are filled, deny scenarios have spent each key's one allowed
// request, and scripts are loaded.
func (c *cell) prime(tb testing.TB) {
	tb.Helper()
	for i := range c.s.Keys {
		if w := c.serve(i); w.Code >= 500 {
			tb.Fatalf("prime: request %d: status %d: %s", i, w.Code, w.Body.String())
		}
	}
}
