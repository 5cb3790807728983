package session

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// allocBudgets are the heap allocations per request that
// TestAllocationBudgets allows, measured on each backend: on miniredis the
// count includes the in-process server's own work (its Lua interpreter),
// on a real server only the client's. A change that allocates more fails
// here; one that allocates less should lower the budget.
// Calls that reach Redis go through the client's autopipeliner (package
// internal/pipe); its submit and wait cost go-redis 11 to 14 allocations per
// command more than a direct call, and buy the throughput of shared round
// trips under load (see BENCHMARKS.md).
var allocBudgets = map[string]redistest.Budget{
	"no cookie": {Mini: 12, Real: 12},
	"read":      {Mini: 84, Real: 54},
	"incr":      {Mini: 1008, Real: 100},
}

// TestAllocationBudgets holds the middleware's allocations per request on
// its hot paths: no cookie (no Redis), a read of a session whose idle
// expiry needs no refresh (one HGETALL), and an increment (load and save).
func TestAllocationBudgets(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	e := newEnv(t, Options{})
	e.warm()
	c := e.newSessionCookie("n", 1)
	cases := []struct {
		name   string
		cookie *http.Cookie
		h      http.HandlerFunc
	}{
		{"no cookie", nil, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Has("n") }},
		{"read", c, func(w http.ResponseWriter, r *http.Request) { _, _, _ = Get[int](FromContext(r.Context()), "n") }},
		{"incr", c, func(w http.ResponseWriter, r *http.Request) { _, _ = FromContext(r.Context()).Incr("hits", 1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := e.m.Middleware(tc.h)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			code := 0
			serve := func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				code = rec.Code
			}
			serve() // the Manager now knows no idle refresh is due
			e.b.CheckAllocs(t, "a request", allocBudgets[tc.name], serve)
			if code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
		})
	}
}
