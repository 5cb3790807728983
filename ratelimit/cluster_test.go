package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestCluster runs the script on a real Redis Cluster: all limits of a key
// share its {hash tag}, so no decision is cross-slot, on whichever shard
// the key lands; after Preload every decision is one EVALSHA; and the limit is
// exact under concurrency.
func TestCluster(t *testing.T) {
	c, prefix := redistest.Cluster(t)
	ctx := context.Background()
	n := redistest.Count(c)
	l, err := New(c, Options{Prefix: prefix + "ratelimit:", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	limits := []Limit{PerSecond(5), PerMinute(50), PerHour(2)}
	// Many keys, so every shard is hit.
	for i := range 30 {
		key := "user:" + string(rune('a'+i))
		for j, want := range []bool{true, true, false} {
			n.Reset()
			res, err := l.Allow(ctx, key, limits...)
			if err != nil || res.Allowed != want || res.Source != FromRedis {
				t.Fatalf("key %s request %d: %+v, %v", key, j+1, res, err)
			}
			if n.N() != 1 {
				t.Fatalf("key %s request %d: %d round trips (%v)", key, j+1, n.N(), n.Commands())
			}
		}
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := l.Allow(ctx, "hot", PerHour(50)); err == nil && res.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 50 {
		t.Fatalf("allowed %d of 200, want exactly 50", allowed.Load())
	}
}
