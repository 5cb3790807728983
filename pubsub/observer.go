package pubsub

import (
	"context"
	"time"

	"github.com/redisware/redisware/middleware"
)

// Observer receives what publishers, subscriptions and SSE handlers do,
// for metrics and traces (the otel module turns it into OpenTelemetry
// metrics and span events). Set it in PublishOptions, SubscribeOptions or
// SSEOptions. Every hook may be nil, and the zero Observer observes
// nothing and costs nothing. Hooks run on the goroutine that publishes or
// reads, so they must be quick and safe for concurrent use. They never
// see a channel's name or a payload: channels are often named after
// users.
type Observer struct {
	// OnPublish is called after each message a Publisher publishes.
	OnPublish func(ctx context.Context, e PublishEvent)
	// OnMessage is called for each message a subscription receives,
	// decoded or not, before it is yielded.
	OnMessage func(ctx context.Context, e MessageEvent)
	// OnReconnect is called when a subscription whose connection failed
	// is subscribed again (messages published meanwhile were lost).
	OnReconnect func(ctx context.Context, e ReconnectEvent)
	// OnSSEClient is called when an SSE handler's stream opens and when
	// it ends.
	OnSSEClient func(ctx context.Context, e SSEClientEvent)
	// OnRedisCall is called after each Redis call, with Operation
	// "publish" or "subscribe" (the confirmed subscription of Open,
	// Subscribe or an SSE stream).
	OnRedisCall func(ctx context.Context, c middleware.RedisCall)
}

// PublishEvent is one message published, as Observer.OnPublish receives
// it.
type PublishEvent struct {
	// Bytes is the size of the JSON payload (zero when it did not
	// encode).
	Bytes int
	// Err is the publish's error, nil when Redis took the message.
	Err error
}

// MessageEvent is one message received, as Observer.OnMessage receives it.
type MessageEvent struct {
	// Bytes is the size of the payload.
	Bytes int
	// Err is the *DecodeError of a payload that did not decode, nil
	// otherwise.
	Err error
}

// ReconnectEvent is a subscription restored, as Observer.OnReconnect
// receives it.
type ReconnectEvent struct {
	// Outage is how long ago its connection first failed.
	Outage time.Duration
}

// SSEClientEvent is an SSE stream opening or ending, as
// Observer.OnSSEClient receives it.
type SSEClientEvent struct {
	// Connected is true when the stream opens, false when it ends.
	Connected bool
	// Duration is how long the stream was open (when it ends).
	Duration time.Duration
	// Slow reports a stream ended because its client fell
	// SSEOptions.Buffer messages behind.
	Slow bool
}

// redisCall reports a Redis call that began at start to o.
func (o *Observer) redisCall(ctx context.Context, op string, start time.Time, err error) {
	if o.OnRedisCall != nil {
		o.OnRedisCall(ctx, middleware.RedisCall{Operation: op, Duration: time.Since(start), Err: err})
	}
}

// clock returns the time now if f is true, for a duration reported
// later: an unobserved call costs no clock reading.
func clock(f bool) time.Time {
	if !f {
		return time.Time{}
	}
	return time.Now()
}
