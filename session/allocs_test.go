package session

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestAllocs holds the middleware's paths to their allocation budgets with
// no Observer set: the counts measured before the observer hooks existed,
// so an unset Observer costs nothing. (BenchmarkMiddleware/observed
// measures a set one.)
func TestAllocs(t *testing.T) {
	redistest.SkipAllocsUnderRace(t)
	e := newEnv(t, Options{})
	e.warm()
	c := e.newSessionCookie("n", 1)
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		h      http.HandlerFunc
		want   redistest.Allocs
	}{
		{"no cookie", nil, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Has("n") }, redistest.Allocs{Mini: 14, Real: 14}},
		{"read", c, func(w http.ResponseWriter, r *http.Request) { _, _, _ = Get[int](FromContext(r.Context()), "n") }, redistest.Allocs{Mini: 931, Real: 81}},
		{"write", c, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("k", "v") }, redistest.Allocs{Mini: 1881, Real: 134}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := e.m.Middleware(tc.h)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			var rec *httptest.ResponseRecorder
			e.b.CheckAllocs(t, tc.name, tc.want, func() {
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
		})
	}
}
