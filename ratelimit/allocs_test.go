package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// TestAllocs holds the hot paths to their allocation budgets with no
// Observer set: the counts measured before the observer hooks existed, so
// an unset Observer costs nothing. (BenchmarkHandler/observed measures a
// set one.)
func TestAllocs(t *testing.T) {
	redistest.SkipAllocsUnderRace(t)
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		o              Options
		limits         []Limit
		code           int
		handler, allow redistest.Allocs
	}{
		{"allowed", Options{}, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, 200,
			redistest.Allocs{Mini: 946, Real: 40}, redistest.Allocs{Mini: 934, Real: 28}},
		{"denied by redis", Options{CacheSize: -1}, []Limit{PerHour(1)}, 429,
			redistest.Allocs{Mini: 840, Real: 46}, redistest.Allocs{Mini: 822, Real: 27}},
		{"denied by the deny cache", Options{}, []Limit{PerHour(1)}, 429,
			redistest.Allocs{Mini: 21, Real: 22}, redistest.Allocs{Mini: 3, Real: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := e.limiter(t, tc.o)
			h := l.Handler(middleware.KeyByIP, tc.limits...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.7:1000"
			var w *httptest.ResponseRecorder
			serve := func() {
				w = httptest.NewRecorder()
				h.ServeHTTP(w, r)
			}
			serve()
			serve() // a denial is cached from the second request on
			e.b.CheckAllocs(t, "Handler", tc.handler, serve)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d", w.Code, tc.code)
			}
			allow := func() { _, _ = l.Allow(ctx, "allocs", tc.limits...) }
			allow()
			allow()
			e.b.CheckAllocs(t, "Allow", tc.allow, allow)
		})
	}
}
