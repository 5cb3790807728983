package otel

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

// BenchmarkHooks measures what one event costs the Telemetry on the SDK's
// meter provider: outside a span (metrics only) and under a recording one
// (metrics, and a span event or a child span).
func BenchmarkHooks(b *testing.B) {
	s := newSDK(b)
	rl, sess, cache := s.tel.Ratelimit(), s.tel.Session(), s.tel.Cachehandler()
	hooks := []struct {
		name string
		fn   func(context.Context)
	}{
		{"ratelimit-decision", func(ctx context.Context) {
			rl.OnDecision(ctx, ratelimit.Decision{Limit: "api", Cost: 1, Allowed: true, Source: ratelimit.FromRedis})
		}},
		{"redis-call", func(ctx context.Context) {
			rl.OnRedisCall(ctx, middleware.RedisCall{Operation: "decide", Duration: 200 * time.Microsecond})
		}},
		{"session-load", func(ctx context.Context) {
			sess.OnLoad(ctx, session.LoadEvent{Outcome: session.LoadFound})
		}},
		{"cache-serve", func(ctx context.Context) {
			cache.OnServe(ctx, cachehandler.ServeEvent{Outcome: cachehandler.ServeHit, BodyBytes: 1024})
		}},
	}
	for _, h := range hooks {
		b.Run(h.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				h.fn(ctx)
			}
		})
		b.Run(h.name+"/in-span", func(b *testing.B) {
			ctx, span := s.tp.Tracer("bench").Start(context.Background(), "request")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				h.fn(ctx)
				if i++; i%100 == 0 { // a span collects at most 128 events
					span.End()
					ctx, span = s.tp.Tracer("bench").Start(context.Background(), "request")
				}
			}
			span.End()
			s.spans.Reset()
		})
	}
}
