package aside

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestAllocs holds GetOrSet's hits to their allocation budgets with no
// Observer set: the counts measured before the observer hooks existed, so
// an unset Observer costs nothing. (BenchmarkGetOrSetHit/observed measures
// a set one.)
func TestAllocs(t *testing.T) {
	redistest.SkipAllocsUnderRace(t)
	for _, c := range []struct {
		name string
		o    Options
		want redistest.Allocs
	}{
		{"redis", Options{}, redistest.Allocs{Mini: 36, Real: 24}},
		{"redis+early-refresh", Options{EarlyRefresh: 0.1}, redistest.Allocs{Mini: 62, Real: 38}},
		{"local", Options{LocalSize: 1024, LocalTTL: time.Hour}, redistest.Allocs{Mini: 7, Real: 7}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := redistest.Start(t)
			a, _ := newTestCache(t, b.Client(), b, c.o)
			ctx := context.Background()
			fetch := func(context.Context) (testItem, error) { return testItem{ID: 42, Name: "a lamp"}, nil }
			if _, err := GetOrSet(ctx, a, "item:42", time.Hour, fetch); err != nil {
				t.Fatal(err)
			}
			b.CheckAllocs(t, "GetOrSet", c.want, func() { _, _ = GetOrSet(ctx, a, "item:42", time.Hour, fetch) })
		})
	}
}
