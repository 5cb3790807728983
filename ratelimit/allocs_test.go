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
// interpreter 1133 allocations where whole microseconds cost 950; the
// client's count on a real server is unchanged.)
var allocBudgets = map[string]struct{ mini, real float64 }{
	"allowed by redis": {1133, 39},
	"denied by cache":  {22, 22},
}

// TestAllocationBudgets holds the middleware's allocations per request on
// its hot paths: a decision Redis makes (one script call), and a denial
// from the local deny cache (no round trip).
func TestAllocationBudgets(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	cases := []struct {
		name   string
		limits []Limit
		code   int
	}{
		{"allowed by redis", []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, http.StatusOK},
		{"denied by cache", []Limit{PerHour(1)}, http.StatusTooManyRequests},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.limiter(t, Options{})
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
			got := testing.AllocsPerRun(200, serve)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			budget := allocBudgets[tc.name].mini
			if e.b.Real() {
				budget = allocBudgets[tc.name].real
			}
			t.Logf("%.1f allocations per request (budget %.0f)", got, budget)
			if got > budget {
				t.Errorf("%.1f allocations per request, budget %.0f", got, budget)
			}
		})
	}
}
