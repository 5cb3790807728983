package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/redisware/redisware/middleware"
)

// BenchmarkAllow measures one decision: allowed (one round trip), denied
// by Redis with the deny cache off (one round trip), and denied from the
// deny cache (no round trip).
func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name   string
		o      Options
		limits []Limit
	}{
		{"allowed", Options{}, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}},
		{"denied-redis", Options{CacheSize: -1}, []Limit{PerHour(1), PerDay(1)}},
		{"denied-cache", Options{}, []Limit{PerHour(1), PerDay(1)}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			l := e.limiter(b, bc.o)
			_, _ = l.Allow(ctx, "bench", bc.limits...) // load the script, spend the burst
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Allow(ctx, "bench", bc.limits...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandler measures the middleware around a no-op handler (the
// allowed case also through a client with ContextTimeoutEnabled), with
// no Observer and with one whose hooks count (what an Observer costs the
// limiter itself; the otel module's benchmarks add what OpenTelemetry
// costs).
func BenchmarkHandler(b *testing.B) {
	cases := []struct {
		name   string
		o      Options
		direct bool // the client has ContextTimeoutEnabled
		limits []Limit
		code   int
	}{
		{"allowed", Options{}, false, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, 200},
		{"allowed-direct", Options{}, true, []Limit{PerSecond(1_000_000), PerHour(1_000_000_000)}, 200},
		{"denied-redis", Options{CacheSize: -1}, false, []Limit{PerHour(1)}, 429},
		{"denied-cache", Options{}, false, []Limit{PerHour(1)}, 429},
	}
	var n atomic.Int64
	counting := Observer{
		OnDecision:  func(context.Context, Decision) { n.Add(1) },
		OnRedisCall: func(context.Context, middleware.RedisCall) { n.Add(1) },
		OnBreaker:   func(middleware.BreakerEvent) { n.Add(1) },
	}
	for _, c := range cases {
		observed := c
		observed.name += "/observed"
		observed.o.Observer = counting
		cases = append(cases, observed)
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			l := e.limiter(b, bc.o)
			if bc.direct {
				l = e.limiterOn(b, e.directClient(b), bc.o)
			}
			h := l.Handler(middleware.KeyByIP, bc.limits...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.7:1000"
			h.ServeHTTP(httptest.NewRecorder(), r)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != bc.code {
					b.Fatalf("status %d, want %d", w.Code, bc.code)
				}
			}
		})
	}
}
