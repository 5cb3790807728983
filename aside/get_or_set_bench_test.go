package aside

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

func BenchmarkGetOrSetHit(b *testing.B) {
	cases := []struct {
		name string
		o    Options
	}{
		{"redis", Options{}},
		{"redis+early-refresh", Options{EarlyRefresh: 0.1}},
		{"local", Options{LocalSize: 1024, LocalTTL: time.Hour}},
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
