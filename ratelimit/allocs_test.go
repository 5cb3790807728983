package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"

	"github.com/redisware/redisware/middleware"
)

// allocBudgets are the heap allocations per request that
// TestAllocationBudgets allows, measured on each backend: on miniredis the
// count includes the in-process server's own work (its Lua interpreter),
// on a real server only the client's. A change that allocates more fails
// here; one that allocates less should lower the budget. (The script's
// parse and format of a TAT with a fraction, "a:f:s", cost miniredis'
// interpreter some 180 allocations more than whole microseconds did; the
// client's count on a real server was unchanged by it.)
// Calls that reach Redis go through the client's autopipeliner (package
// internal/pipe); its submit and wait cost go-redis 11 to 14 allocations per
// command more than a direct call, and buy the throughput of shared round
// trips under load (see BENCHMARKS.md).
var allocBudgets = map[string]redistest.Budget{
	"allowed by redis":         {Mini: 1131, Real: 39},
	"allowed by redis, direct": {Mini: 1128, Real: 36},
	"denied by cache":          {Mini: 13, Real: 13},
}

// TestAllocationBudgets holds the middleware's allocations per request on
// its hot paths: a decision Redis makes (one script call), through a
// client that needs a goroutine to bound its call and one with
// ContextTimeoutEnabled (direct, as the docs recommend), and a denial from
// the local deny cache (no round trip).
func TestAllocationBudgets(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	cases := []struct {
		name   string
		direct bool
		limits []Limit
		code   int
	}{
		{"allowed by redis", false, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, http.StatusOK},
		{"allowed by redis, direct", true, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, http.StatusOK},
		{"denied by cache", false, []Limit{PerHour(1)}, http.StatusTooManyRequests},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.limiter(t, Options{})
			if tc.direct {
				l = e.limiterOn(t, e.directClient(t), Options{})
			}
			h := l.Handler(middleware.KeyByIP, tc.limits...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.7:1000"
			var code int
			serve := func() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				code = w.Code
			}
			serve()
			serve() // the script is cached, the key known (denied) in the deny cache
			e.b.CheckAllocs(t, "a request", allocBudgets[tc.name], serve)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
		})
	}
}
