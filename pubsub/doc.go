// Package pubsub publishes and receives typed JSON messages over Redis
// pub/sub and Redis streams, and streams them to browsers as Server-Sent
// Events.
//
// The go-redis client already publishes and subscribes; this package adds
// JSON encoding, typed decoding with iterators, subscriptions that are
// confirmed before they are used and released when the loop ends, streams
// that a reader (or a browser) resumes where it left off, and HTTP
// handlers with heartbeats and slow-client protection.
//
// Pub/sub is fire-and-forget: what is published while a subscriber is
// away is lost for it, and Redis keeps nothing. A stream is a bounded log
// in one key: a reader that was away gets what it missed, at the cost of
// the entries Redis keeps. Use pub/sub for signals that are worthless
// late (cache invalidation, "someone is typing"), a stream for events a
// client must not miss.
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
// choose channels it may not read. A client that reconnects has missed
// what was published meanwhile: there is nothing to replay.
//
// # Streams
//
//	orders, err := pubsub.NewStream[OrderCreated](rdb, "orders", pubsub.StreamOptions{})
//	id, err := orders.Append(ctx, OrderCreated{ID: 7})
//
//	for e, err := range orders.Read(ctx, lastSeen) {
//		if err != nil {
//			log.Print(err) // ErrTrimmed: entries after lastSeen may be gone
//			continue
//		}
//		lastSeen = e.ID
//		fmt.Println(e.Data.ID)
//	}
//
// Append costs one round trip (MULTI, XADD MAXLEN ~, PEXPIRE, EXEC). Read
// takes the ID of the last entry the reader handled ("" for new entries
// only, "0-0" for everything the stream holds), yields what came after it,
// then waits for more with XREAD BLOCK: one command per batch of up to
// Count entries, never one per entry, each wait bounded by Block (2 s) so
// that the end of ctx ends the loop within it. An outage delays entries
// without losing them. What the stream no longer holds cannot be read:
// Read says so with ErrTrimmed instead of skipping it silently.
//
// # Server-Sent Events from a stream
//
//	mux.Handle("GET /events", pubsub.StreamSSE(rdb, func(r *http.Request) (string, error) {
//		return "orders", nil // the stream to follow; the place to authorize
//	}))
//
// Each entry becomes an event with the entry's stream ID as its id, the
// stream's name as its event name and the JSON as data. A browser's
// EventSource that loses its connection reconnects by itself with
// Last-Event-ID; the handler then replays what it missed from Redis and
// hands over to the live feed with no gap and no duplicate. If entries it
// missed are gone, it gets a "reset" event (refetch your state) rather
// than silence. Clients that cannot set the header pass the ID in the
// lastEventId query parameter (LastEventIDParam). A malformed ID, or one
// beyond the stream's last, is refused with 400 before anything is
// streamed. NewStreamSSE and StreamSSEOptions configure a backlog for new
// clients, the buffer, heartbeats and timeouts.
//
// Each handler reads each stream once, on one connection, however many
// clients follow it, and stops reading when the last one leaves (within
// Block). A client too slow for the live feed catches up from Redis on its
// own instead of being disconnected.
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
// Pub/sub writes no keys. It publishes on, and subscribes to, exactly the
// channels and patterns its callers name; each subscription (and each
// open pub/sub SSE stream) holds one Redis connection.
//
// A stream is one key, StreamOptions.Prefix + name ("pubsub:stream:<name>"
// by default), of type stream: entries of one field, "d", holding the
// JSON. Append trims it to about MaxLen entries (1000) and sets its expiry
// to TTL (24 h) each time, so a stream nobody appends to disappears. Each
// Read, and each stream an SSE handler follows, holds one pooled
// connection while it waits for entries; the handler's replays and the
// readers' checks are pipelines, one round trip each.
package pubsub
