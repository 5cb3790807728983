package pubsub

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// allocBudgets are the heap allocations per call that
// TestAllocationBudgets allows, measured on each backend before the
// Observer hooks existed (so an unset Observer costs nothing): on miniredis
// the count includes the in-process server's own work, on a real server
// only the client's. A change that allocates more fails here; one that
// allocates less should lower the budget.
var allocBudgets = map[string]redistest.Budget{
	"publish": {Mini: 22, Real: 8},
	"receive": {Mini: 9, Real: 9},
}

// TestAllocationBudgets holds publishing and receiving to their budgets;
// a Publisher without an Observer costs what Publish does.
func TestAllocationBudgets(t *testing.T) {
	if testing.Short() || redistest.RaceEnabled {
		t.Skip("allocation counts need a normal build (no -short, no -race)")
	}
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	ch := b.Prefix + "allocs"
	check := func(name, path string, fn func()) {
		t.Helper()
		b.CheckAllocs(t, path, allocBudgets[name], fn)
	}
	check("publish", "Publish", func() { _ = Publish(ctx, rdb, ch, order{ID: 7}) })
	p, err := NewPublisher(rdb, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("publish", "Publisher.Publish", func() { _ = p.Publish(ctx, ch, order{ID: 7}) })

	s := &Subscription[order]{ctx: ctx}
	m := &redis.Message{Channel: "c", Payload: `{"id":7,"items":["a","b"]}`}
	yield := func(Message[order], error) bool { return true }
	check("receive", "a message received", func() { s.yieldMessage(m, yield) })
}
