package pubsub

import (
	"context"
	"encoding/json"
	"iter"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// BenchmarkMessages measures one message through a subscription: a PUBLISH
// (go-redis directly, so only the receiving side is this package's), its
// receipt, and its decoding. Against miniredis the server's allocations
// count too; set REDIS_URL for the client's alone.
func BenchmarkMessages(b *testing.B) {
	b.Run("struct", func(b *testing.B) { benchMessages[order](b) })
	b.Run("raw", func(b *testing.B) { benchMessages[json.RawMessage](b) }) // as SSE reads them
}

func benchMessages[T any](b *testing.B) {
	be := redistest.Start(b)
	rdb := be.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := be.Prefix + "bench"
	sub, err := Open[T](ctx, rdb, SubscribeOptions{Channels: []string{ch}})
	if err != nil {
		b.Fatal(err)
	}
	next, stop := iter.Pull2(sub.Messages())
	defer stop()
	const payload = `{"id":7,"items":["a","b"]}`
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Publish(ctx, ch, payload).Err(); err != nil {
			b.Fatal(err)
		}
		if m, err, ok := next(); !ok || err != nil || m.Payload != payload {
			b.Fatalf("%+v, %v, %v", m, err, ok)
		}
	}
}

// BenchmarkPublish measures Publish with a context that can end (a
// request's) and with one that cannot, with go-redis' default options and
// with ContextTimeoutEnabled.
func BenchmarkPublish(b *testing.B) {
	for _, tc := range []struct {
		name              string
		cancel, ctTimeout bool
	}{
		{"background", false, false},
		{"cancellable", true, false},
		{"cancellable/ContextTimeoutEnabled", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			be := redistest.Start(b)
			o := be.Options()
			o.ContextTimeoutEnabled = tc.ctTimeout
			rdb := redis.NewClient(o)
			defer rdb.Close()
			ctx := context.Background()
			if tc.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			ch := be.Prefix + "bench"
			v := order{ID: 7, Items: []string{"a", "b"}}
			b.ReportAllocs()
			for b.Loop() {
				if err := Publish(ctx, rdb, ch, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
