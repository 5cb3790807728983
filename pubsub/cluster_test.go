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

// TestStreamCluster runs the stream promises on a Redis Cluster, where
// each stream is one key in one slot: append in one round trip, read and
// resume, reconnect with Last-Event-ID, reset after trimming.
func TestStreamCluster(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	t.Run("append and read", func(t *testing.T) {
		s := newStream[order](t, rdb, prefix, "c", StreamOptions{})
		k := redistest.Count(rdb)
		ids := appendN(t, s, 0, 3)
		if n := k.N(); n != 3 {
			t.Fatalf("3 appends took %d round trips: %v", n, k.Commands())
		}
		ttl, err := rdb.PTTL(context.Background(), s.Key()).Result()
		if err != nil || ttl <= 0 {
			t.Fatalf("PTTL %v, %v", ttl, err)
		}
		expectEntries(t, readEntries(t, s, "0-0"), ids, 0)
		expectEntries(t, readEntries(t, s, ids[0]), ids[1:], 1)
	})
	t.Run("SSE reconnect", func(t *testing.T) {
		testStreamReconnect(t, rdb, prefix, viaHeader)
	})
	t.Run("SSE reset", func(t *testing.T) {
		small := StreamOptions{MaxLen: 10, Count: 5}
		s := newStream[order](t, rdb, prefix, "r", small)
		ids := appendN(t, s, 0, 250)
		srv, _ := streamServer(t, newStreamSSE(t, rdb, prefix, "r", StreamSSEOptions{Heartbeat: -1, Stream: small}))
		c := connectStream(t, srv.URL, ids[0], viaHeader)
		if ev := c.nextEvent(t, false); ev != (event{id: ids[249], name: "reset", data: `"` + ids[249] + `"`}) {
			t.Fatalf("got %+v, want a reset to %s", ev, ids[249])
		}
		c.expectEvents(t, "r", appendN(t, s, 250, 1), 250)
	})
}
