package otel

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/redisware/redisware/pubsub"
)

type pubsubInstruments struct {
	published   metric.Int64Counter
	received    metric.Int64Counter
	reconnects  metric.Int64Counter
	sseClients  metric.Int64UpDownCounter
	sseDuration metric.Float64Histogram
}

func (i *pubsubInstruments) init(m *instruments) {
	i.published = m.counter("redisware.pubsub.messages.published", "{message}",
		"Messages published through a Publisher, by outcome (ok, error).")
	i.received = m.counter("redisware.pubsub.messages.received", "{message}",
		"Messages subscriptions received, by outcome (ok, decode-error).")
	i.reconnects = m.counter("redisware.pubsub.reconnects", "{reconnect}",
		"Subscriptions subscribed again after their connection failed.")
	i.sseClients = m.upDown("redisware.pubsub.sse.clients", "{client}",
		"Server-Sent Events streams open now.")
	i.sseDuration = m.histogram("redisware.pubsub.sse.duration", "s",
		"How long Server-Sent Events streams stayed open, by outcome (ended, slow: cut off for falling behind).", longBuckets)
}

// Pubsub returns the Observer of a pubsub.Publisher, subscription or SSE
// handler.
func (t *Telemetry) Pubsub() pubsub.Observer {
	return pubsub.Observer{
		OnPublish: func(ctx context.Context, e pubsub.PublishEvent) {
			outcome := "ok"
			if e.Err != nil {
				outcome = "error"
			}
			t.ps.published.Add(ctx, 1, t.with("pubsub.published", outcomeAttr, outcome, "", ""))
		},
		OnMessage: func(ctx context.Context, e pubsub.MessageEvent) {
			outcome := "ok"
			if e.Err != nil {
				outcome = "decode-error"
			}
			t.ps.received.Add(ctx, 1, t.with("pubsub.received", outcomeAttr, outcome, "", ""))
		},
		OnReconnect: func(ctx context.Context, _ pubsub.ReconnectEvent) {
			t.ps.reconnects.Add(ctx, 1)
		},
		OnSSEClient: func(ctx context.Context, e pubsub.SSEClientEvent) {
			if e.Connected {
				t.ps.sseClients.Add(ctx, 1)
				return
			}
			t.ps.sseClients.Add(ctx, -1)
			outcome := "ended"
			if e.Slow {
				outcome = "slow"
			}
			t.ps.sseDuration.Record(ctx, e.Duration.Seconds(), t.with("pubsub.sse.duration", outcomeAttr, outcome, "", ""))
		},
		OnRedisCall: t.redisCalls("pubsub"),
	}
}
