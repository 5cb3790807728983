package aside

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// BenchmarkGetOrSetHit measures hits from Redis and from the local tier,
// with no Observer and, in the observed cases, with one whose hooks count:
// what observing costs GetOrSet itself.
func BenchmarkGetOrSetHit(b *testing.B) {
	var n atomic.Int64
	counting := Observer{
		OnGet:          func(context.Context, GetEvent) { n.Add(1) },
		OnFetch:        func(context.Context, FetchEvent) { n.Add(1) },
		OnRefresh:      func(context.Context, RefreshEvent) { n.Add(1) },
		OnInvalidation: func(InvalidationEvent) { n.Add(1) },
		OnRedisCall:    func(context.Context, middleware.RedisCall) { n.Add(1) },
		OnBreaker:      func(middleware.BreakerEvent) { n.Add(1) },
	}
	cases := []struct {
		name string
		o    Options
	}{
		{"redis", Options{}},
		{"redis+early-refresh", Options{EarlyRefresh: 0.1}},
		{"local", Options{LocalSize: 1024, LocalTTL: time.Hour}},
	}
	for _, c := range cases {
		observed := c
		observed.name += "/observed"
		observed.o.Observer = counting
		cases = append(cases, observed)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := redistest.Start(b)
			a, _ := newTestCache(b, be.Client(), be, c.o)
			ctx := context.Background()
			item := testItem{ID: 42, Name: "a lamp with a reasonably long name"}
			fetch := func(context.Context) (testItem, error) { return item, nil }
			if _, err := GetOrSet(ctx, a, "item:42", time.Hour, fetch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got, err := GetOrSet(ctx, a, "item:42", time.Hour, fetch)
				if err != nil || got.ID != 42 {
					b.Fatalf("%+v, %v", got, err)
				}
			}
		})
	}
}
