package cachehandler

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

func BenchmarkAsideGetOrSetHit(b *testing.B) {
	cases := []struct {
		name string
		o    AsideOptions
	}{
		{"redis", AsideOptions{}},
		{"redis+early-refresh", AsideOptions{EarlyRefresh: 0.1}},
		{"local", AsideOptions{LocalSize: 1024, LocalTTL: time.Hour}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			be := redistest.Start(b)
			a, _ := asideNew(b, be.Client(), be, c.o)
			ctx := context.Background()
			item := asideItem{ID: 42, Name: "a lamp with a reasonably long name"}
			fetch := func(context.Context) (asideItem, error) { return item, nil }
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
