package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClusterSpreadsKeysAndCleansUp(t *testing.T) {
	c, prefix := Cluster(t)
	ctx := context.Background()
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("Cluster returned %T", c)
	}
	slots := map[int64]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		key := prefix + k
		if err := c.Set(ctx, key, 1, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		s, err := cc.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[s] = true
	}
	if len(slots) < 2 {
		t.Fatalf("6 keys landed in %d slot(s): not a useful cluster test", len(slots))
	}
	// A multi-key script on one {hash tag} works; across tags it must fail.
	tagged := []string{prefix + "{t}:1", prefix + "{t}:2"}
	if err := c.Eval(ctx, "redis.call('SET', KEYS[1], 1, 'EX', 60); return redis.call('SET', KEYS[2], 2, 'EX', 60)", tagged).Err(); err != nil {
		t.Fatalf("same-slot script: %v", err)
	}
	if err := c.Eval(ctx, "return 1", []string{prefix + "{x}", prefix + "{y}"}).Err(); err == nil {
		t.Fatal("a cross-slot script succeeded: is this really a cluster?")
	}
}
