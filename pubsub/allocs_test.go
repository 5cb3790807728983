package pubsub

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestAllocs holds publishing and receiving to their allocation budgets
// with no Observer set: the counts measured before the observer hooks
// existed, so an unset Observer costs nothing. (BenchmarkPublish and
// BenchmarkMessages measure a set one.)
func TestAllocs(t *testing.T) {
	redistest.SkipAllocsUnderRace(t)
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	ch := b.Prefix + "allocs"
	publish := redistest.Allocs{Mini: 22, Real: 8}
	b.CheckAllocs(t, "Publish", publish, func() { _ = Publish(ctx, rdb, ch, order{ID: 7}) })
	p, err := NewPublisher(rdb, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.CheckAllocs(t, "Publisher.Publish", publish, func() { _ = p.Publish(ctx, ch, order{ID: 7}) })

	s := &Subscription[order]{ctx: ctx}
	m := &redis.Message{Channel: "c", Payload: `{"id":7,"items":["a","b"]}`}
	yield := func(Message[order], error) bool { return true }
	b.CheckAllocs(t, "a message received", redistest.Allocs{Mini: 9, Real: 9}, func() { s.yieldMessage(m, yield) })
}
