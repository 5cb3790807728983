package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/redisware/redisware/middleware"
)

// BenchmarkMiddleware measures whole requests through the middleware, on
// miniredis or REDIS_URL: the Redis round trip dominates, so compare
// allocations and the no-cookie case for the middleware's own cost. The
// observed cases add an Observer whose hooks count: what observing costs
// the middleware itself.
func BenchmarkMiddleware(b *testing.B) {
	var n atomic.Int64
	counting := Observer{
		OnLoad:      func(context.Context, LoadEvent) { n.Add(1) },
		OnSave:      func(context.Context, SaveEvent) { n.Add(1) },
		OnRedisCall: func(context.Context, middleware.RedisCall) { n.Add(1) },
		OnBreaker:   func(middleware.BreakerEvent) { n.Add(1) },
	}
	for _, o := range []struct {
		suffix string
		o      Options
	}{{"", Options{}}, {"/observed", Options{Observer: counting}}} {
		e := newEnv(b, o.o)
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
			b.Run(tc.name+o.suffix, func(b *testing.B) {
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
}

// BenchmarkCookie measures verifying a cookie, the work a request without
// a valid cookie costs (no Redis): "valid" a cookie verified before (the
// cache), "valid/uncached" the first sight of one.
func BenchmarkCookie(b *testing.B) {
	e := newEnv(b, Options{})
	valid := e.newSessionCookie("n", 1).Value
	for _, tc := range []struct {
		name, value string
		uncached    bool
	}{{"valid", valid, false}, {"valid/uncached", valid, true}, {"forged", valid[:40] + "AAAA" + valid[44:], false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.uncached {
					_, _ = e.m.codec.verify(tc.value)
				} else {
					_, _ = e.m.codec.decode(tc.value)
				}
			}
		})
	}
}
