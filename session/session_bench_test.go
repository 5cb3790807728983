package session

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures whole requests through the middleware, on
// miniredis or REDIS_URL: the Redis round trip dominates, so compare
// allocations and the no-cookie case for the middleware's own cost.
func BenchmarkMiddleware(b *testing.B) {
	e := newEnv(b, Options{})
	e.warm()
	c := e.newSessionCookie("n", 1)
	_ = e.newSessionCookie("cart", map[string]any{"items": []string{"a", "b"}})
	cases := []struct {
		name   string
		cookie *http.Cookie
		h      http.HandlerFunc
	}{
		{"no cookie", nil, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Has("n") }},
		{"read", c, func(w http.ResponseWriter, r *http.Request) { _, _, _ = Get[int](FromContext(r.Context()), "n") }},
		{"write", c, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("k", "v") }},
		{"incr", c, func(w http.ResponseWriter, r *http.Request) { _, _ = FromContext(r.Context()).Incr("hits", 1) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := e.m.Middleware(tc.h)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkCookie measures verifying a cookie, the work a request without
// a valid cookie costs (no Redis).
func BenchmarkCookie(b *testing.B) {
	e := newEnv(b, Options{})
	valid := e.newSessionCookie("n", 1).Value
	for _, tc := range []struct{ name, value string }{{"valid", valid}, {"forged", valid[:40] + "AAAA" + valid[44:]}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.m.codec.decode(tc.value)
			}
		})
	}
}
