package redistest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvClusterAddrs is the environment variable that names the seed nodes of
// a local Redis Cluster, comma-separated. .ci/cluster starts one and .ci/run
// sets it.
const EnvClusterAddrs = "REDIS_CLUSTER_ADDRS"

// Cluster returns a client of the Redis Cluster named by
// REDIS_CLUSTER_ADDRS and a key prefix unique to t; cleanup deletes the
// test's keys on every master. Without REDIS_CLUSTER_ADDRS the test is
// skipped (miniredis has no cluster mode); CI always sets it, so there the
// cluster tests run or fail.
func Cluster(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	env := os.Getenv(EnvClusterAddrs)
	if env == "" {
		t.Skipf("redistest: %s is unset; start a cluster with .ci/cluster to run this test", EnvClusterAddrs)
	}
	addrs := strings.Split(env, ",")
	prefix := "rwtest:" + randomHex(6) + ":"
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("redistest: %s=%q does not answer: %v", EnvClusterAddrs, env, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				// One key per DEL: keys of one node may still span slots.
				if err := node.Unlink(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		})
		if err != nil {
			t.Errorf("redistest: cluster cleanup of %s*: %v", prefix, err)
		}
		_ = c.Close()
	})
	return c, prefix
}
