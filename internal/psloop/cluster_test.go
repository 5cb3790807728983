package psloop

import (
	"context"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestCluster reads a subscription made through a ClusterClient, quiet
// long enough to be pinged. Skipped unless REDIS_CLUSTER_ADDRS names a
// cluster.
func TestCluster(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	ctx := context.Background()
	ch := prefix + "c"
	ps := rdb.Subscribe(ctx, ch)
	r := start(t, ps, time.Millisecond)
	subscribed(t, r.subs, "subscribe", ch)
	if err := rdb.Publish(ctx, ch, "hi").Err(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r.msgs, "message"); m.Channel != ch || m.Payload != "hi" {
		t.Fatalf("got %+v", m)
	}
	select {
	case f := <-r.fails:
		t.Fatalf("failure reported: %v", f.err)
	default:
	}
}
