package pubsub

import (
	"context"
	"encoding/json"
	"iter"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// BenchmarkMessages measures one message through a subscription: a PUBLISH
// (go-redis directly, so only the receiving side is this package's), its
// receipt, and its decoding. Against miniredis the server's allocations
// count too; set REDIS_URL for the client's alone.
//
// The observed cases add an Observer whose hooks count: what observing
// costs the package itself.
func BenchmarkMessages(b *testing.B) {
	b.Run("struct", func(b *testing.B) { benchMessages[order](b, Observer{}) })
	b.Run("raw", func(b *testing.B) { benchMessages[json.RawMessage](b, Observer{}) }) // as SSE reads them
	b.Run("struct/observed", func(b *testing.B) { benchMessages[order](b, counting()) })
}

// counting returns an Observer whose hooks count.
func counting() Observer {
	n := new(atomic.Int64)
	return Observer{
		OnPublish:   func(context.Context, PublishEvent) { n.Add(1) },
		OnMessage:   func(context.Context, MessageEvent) { n.Add(1) },
		OnReconnect: func(context.Context, ReconnectEvent) { n.Add(1) },
		OnSSEClient: func(context.Context, SSEClientEvent) { n.Add(1) },
		OnRedisCall: func(context.Context, middleware.RedisCall) { n.Add(1) },
	}
}

func benchMessages[T any](b *testing.B, obs Observer) {
	be := redistest.Start(b)
	rdb := be.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := be.Prefix + "bench"
	sub, err := Open[T](ctx, rdb, SubscribeOptions{Channels: []string{ch}, Observer: obs})
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
// with ContextTimeoutEnabled, and a Publisher whose Observer counts.
func BenchmarkPublish(b *testing.B) {
	for _, tc := range []struct {
		name              string
		cancel, ctTimeout bool
		observed          bool
	}{
		{"background", false, false, false},
		{"cancellable", true, false, false},
		{"cancellable/ContextTimeoutEnabled", true, true, false},
		{"background/observed", false, false, true},
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
			publish := func() error { return Publish(ctx, rdb, ch, v) }
			if tc.observed {
				p, err := NewPublisher(rdb, PublishOptions{Observer: counting()})
				if err != nil {
					b.Fatal(err)
				}
				publish = func() error { return p.Publish(ctx, ch, v) }
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := publish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
