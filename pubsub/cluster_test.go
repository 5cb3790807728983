package pubsub

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestCluster publishes and subscribes (channels, patterns, SSE) on a Redis
// Cluster, where PUBLISH is broadcast between nodes. Skipped unless
// REDIS_CLUSTER_ADDRS names a cluster.
func TestCluster(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := prefix + "orders:1"
	sub, err := Open[order](ctx, rdb, SubscribeOptions{Channels: []string{ch}, Patterns: []string{prefix + "orders:*"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := collect(sub.Messages())
	if err := Publish(ctx, rdb, ch, order{ID: 1}); err != nil {
		t.Fatal(err)
	}
	// Once through the channel, once through the pattern.
	patterns := map[string]bool{}
	for range 2 {
		r := next(t, msgs)
		if r.err != nil || r.msg.Data.ID != 1 || r.msg.Channel != ch {
			t.Fatalf("got %+v, %v", r.msg, r.err)
		}
		patterns[r.msg.Pattern] = true
	}
	if !patterns[""] || !patterns[prefix+"orders:*"] {
		t.Fatalf("patterns seen: %v", patterns)
	}

	srv := httptest.NewServer(newSSE(t, rdb, []string{ch}, SSEOptions{Heartbeat: -1}))
	t.Cleanup(srv.Close)
	c := connect(t, srv.URL)
	if err := Publish(ctx, rdb, ch, order{ID: 2}); err != nil {
		t.Fatal(err)
	}
	if ev := c.nextEvent(t, false); ev.name != ch || ev.data != `{"id":2}` {
		t.Fatalf("event %+v", ev)
	}
}
