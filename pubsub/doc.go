// Package pubsub publishes and receives typed JSON messages over Redis
// pub/sub, and streams them to browsers as Server-Sent Events.
//
// The go-redis client already publishes and subscribes; this package adds
// JSON encoding, typed decoding with iterators, subscriptions that are
// confirmed before they are used and released when the loop ends, and an
// HTTP handler with heartbeats and slow-client protection.
//
// # Publish and subscribe
//
//	err := pubsub.Publish(ctx, rdb, "orders", OrderCreated{ID: 7})
//
//	for msg, err := range pubsub.Subscribe[OrderCreated](ctx, rdb, "orders") {
//		if err != nil {
//			log.Print(err) // a bad message or a lost connection: the stream goes on
//			continue
//		}
//		fmt.Println(msg.Channel, msg.Data.ID)
//	}
//
// The loop ends when ctx ends or the loop breaks, and either way the
// subscription's connection is released. PSubscribe takes glob patterns
// ("orders:*") and each message carries the pattern that matched.
//
// Subscribe subscribes when the loop starts. When a publisher must not
// publish before the subscriber listens (tests, request/reply), use Open:
// it returns once Redis has confirmed the subscription.
//
//	sub, err := pubsub.Open[OrderCreated](ctx, rdb, pubsub.SubscribeOptions{Channels: []string{"orders"}})
//	// ... publish ...
//	for msg, err := range sub.Messages() { ... }
//
// Publish and Open end when their context does, even with a go-redis
// client that ignores contexts on a stalled connection (its default): the
// call is then left to finish on a goroutine of its own. With
// ContextTimeoutEnabled, Publish ends at the context's deadline without
// that goroutine but, like any go-redis call, not at a cancellation alone.
//
// Redis pub/sub is fire-and-forget: a message published while a subscriber
// is disconnected is lost for it. go-redis reconnects and resubscribes; the
// stream yields the connection error meanwhile and then goes on. A
// connection that goes silent without closing (half-open) is found by a
// ping left unanswered (SubscribeOptions.PingInterval) and replaced.
//
// # Server-Sent Events
//
//	mux.Handle("GET /events", pubsub.SSE(rdb, func(r *http.Request) ([]string, error) {
//		return []string{"orders"}, nil
//	}))
//
// Each message becomes an event named after its channel, with the JSON
// payload as data. A heartbeat comment goes out every 15 s, every event is
// flushed through http.ResponseController (so the handler works under
// middlewares whose writers implement Unwrap), the stream ends when the
// client leaves, and a client that falls more than a bounded number of
// messages behind is disconnected (NewSSE and SSEOptions configure it).
// The channels function is the place to authorize: never let a client
// choose channels it may not read.
//
// # Observing
//
// An Observer, set in PublishOptions (for a Publisher), SubscribeOptions
// or SSEOptions, hears each message published and received (and those that
// did not decode), each reconnection, each SSE stream's opening and end,
// and each Redis call; the otel module turns them into OpenTelemetry.
// Unset, it costs nothing. It never sees a channel's name or a payload.
//
// # Redis keys and channels
//
// This package writes no keys. It publishes on, and subscribes to, exactly
// the channels and patterns its callers name; each subscription (and each
// open SSE stream) holds one Redis connection.
package pubsub
