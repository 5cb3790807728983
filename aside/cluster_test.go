package aside

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestCluster runs the cache-aside paths on a Redis Cluster, where a
// key and its lock live on different nodes and the ordered, sequential
// variants are used. Skipped unless REDIS_CLUSTER_ADDRS names a cluster.
func TestCluster(t *testing.T) {
	c1, prefix := redistest.Cluster(t)
	c2, _ := redistest.Cluster(t) // a second instance; keys under prefix
	ctx := context.Background()
	newAside := func(rdb redis.UniversalClient, o Options) *Cache {
		o.Prefix = prefix
		o.Logger = slog.New(slog.DiscardHandler)
		a, err := New(rdb, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	// Bounds the test cannot reach (see TestStampedeAcrossInstances).
	o := Options{LocalSize: 100, LocalTTL: time.Hour, NotFoundTTL: time.Minute, EarlyRefresh: 0.5, Timeout: time.Minute, LockWait: time.Minute}
	w1, w2 := watchLocks(c1, nil), watchLocks(c2, nil)
	a1, a2 := newAside(c1, o), newAside(c2, o)
	if !a1.cluster {
		t.Fatal("cluster client not detected")
	}
	for _, a := range []*Cache{a1, a2} {
		select {
		case <-a.ready:
		case <-time.After(30 * time.Second):
			t.Fatal("invalidation subscription not confirmed")
		}
	}

	t.Run("stampede", func(t *testing.T) {
		otherWaiting := make(chan struct{})
		var once sync.Once
		signal := func() { once.Do(func() { close(otherWaiting) }) }
		w1.setOnWait(signal)
		w2.setOnWait(signal)
		defer func() { w1.setOnWait(nil); w2.setOnWait(nil) }()
		var fetches atomic.Int64
		fetch := func(context.Context) (string, error) {
			fetches.Add(1)
			select {
			case <-otherWaiting:
			case <-time.After(10 * time.Second):
			}
			return "hot", nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			a := []*Cache{a1, a2}[i%2]
			wg.Go(func() {
				if got, err := GetOrSet(ctx, a, "hot", time.Hour, fetch); err != nil || got != "hot" {
					errs <- errors.Join(err, errors.New("got "+got))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("fetch ran %d times, want 1", n)
		}
		if c1.Exists(ctx, prefix+"hot:lock").Val() != 0 {
			t.Fatal("lock left behind")
		}
	})
	t.Run("negative cache", func(t *testing.T) {
		var n atomic.Int64
		fetch := func(context.Context) (int, error) { n.Add(1); return 0, ErrNotFound }
		for range 2 {
			if _, err := GetOrSet(ctx, a1, "gone", time.Hour, fetch); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err %v", err)
			}
		}
		if n.Load() != 1 {
			t.Fatalf("fetch ran %d times", n.Load())
		}
	})
	t.Run("invalidation", func(t *testing.T) {
		fetch := func(context.Context) (string, error) { return "v1", nil }
		for _, a := range []*Cache{a1, a2} {
			if got, err := GetOrSet(ctx, a, "item", time.Hour, fetch); err != nil || got != "v1" {
				t.Fatalf("%q, %v", got, err)
			}
		}
		if err := Set(ctx, a1, "item", "v2", time.Hour); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 2", func() bool { _, ok := a2.local.get(prefix + "item"); return !ok })
		if got, _ := GetOrSet(ctx, a2, "item", time.Hour, fetch); got != "v2" {
			t.Fatalf("instance 2 after Set: %q", got)
		}
		if err := a2.Delete(ctx, "item"); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 1", func() bool { _, ok := a1.local.get(prefix + "item"); return !ok })
	})
	t.Run("early refresh", func(t *testing.T) {
		if err := Set(ctx, a1, "old", "old", time.Minute); err != nil {
			t.Fatal(err)
		}
		a1.local.purge()
		fetch := func(context.Context) (string, error) { return "new", nil }
		if got, _ := GetOrSet(ctx, a1, "old", time.Hour, fetch); got != "old" {
			t.Fatalf("got %q", got)
		}
		a1.bg.Wait()
		if v := c1.Get(ctx, prefix+"old").Val(); v != `"new"` {
			t.Fatalf("after refresh: %q", v)
		}
	})
}

// wrappedCluster is an app's own client type around a cluster client, as
// instrumentation or a test double might be.
type wrappedCluster struct{ *redis.ClusterClient }

// TestIsCluster: the cluster path is chosen by what the client can do, so
// a wrapped *redis.ClusterClient keeps the key and its lock in order too.
func TestIsCluster(t *testing.T) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cc.Close()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		want bool
	}{
		{"cluster client", cc, true},
		{"wrapped cluster client", wrappedCluster{cc}, true},
		{"single node", c, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isCluster(tt.rdb); got != tt.want {
				t.Fatalf("isCluster = %v, want %v", got, tt.want)
			}
		})
	}
}
