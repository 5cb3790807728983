package aside

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// allocBudgets are the heap allocations per GetOrSet hit that
// TestAllocationBudgets allows, measured on each backend before the
// Observer hooks existed (so an unset Observer costs nothing): on miniredis
// the count includes the in-process server's own work, on a real server
// only the client's. A change that allocates more fails here; one that
// allocates less should lower the budget.
// Calls that reach Redis go through the client's autopipeliner (package
// internal/pipe); its submit and wait cost go-redis 11 to 14 allocations per
// command more than a direct call, and buy the throughput of shared round
// trips under load (see BENCHMARKS.md).
var allocBudgets = map[string]redistest.Budget{
	"redis":               {Mini: 48, Real: 36},
	"redis+early-refresh": {Mini: 62, Real: 38},
	"local":               {Mini: 7, Real: 7},
}

// TestAllocationBudgets holds GetOrSet's hits to their budgets: from Redis
// (one round trip), with the early refresh's PTTL, and from the local tier
// (none).
func TestAllocationBudgets(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"redis", Options{}},
		{"redis+early-refresh", Options{EarlyRefresh: 0.1}},
		{"local", Options{LocalSize: 1024, LocalTTL: time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := redistest.Start(t)
			a, _ := newTestCache(t, b.Client(), b, c.o)
			ctx := context.Background()
			fetch := func(context.Context) (testItem, error) { return testItem{ID: 42, Name: "a lamp"}, nil }
			if _, err := GetOrSet(ctx, a, "item:42", time.Hour, fetch); err != nil {
				t.Fatal(err)
			}
			b.CheckAllocs(t, "a hit", allocBudgets[c.name], func() { _, _ = GetOrSet(ctx, a, "item:42", time.Hour, fetch) })
		})
	}
}
