package failover

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/redistest"
)

// TestClusterFailover kills a master of a cluster of its own (3 masters, a
// replica each) under load and has its replica take over with CLUSTER
// FAILOVER FORCE, which does not wait for the node timeout to notice the
// death: a prompt, deterministic stand-in for the automatic failover. The
// packages answer by their failure policies meanwhile and from Redis after,
// with no restart; the killed node then comes back as a replica of its
// successor.
//
// In the second case the replica is cut off (paused, its link closed) for
// two rounds of load before the master dies: the writes the master
// acknowledged meanwhile never reach it, as happens when a replica lags,
// and the failover loses them.
//
// The client reloads its slot map every second (ClusterStateReloadInterval):
// a dead master sends no MOVED, so with go-redis' default of 60 s the
// client would keep sending its slots to it for up to a minute.
func TestClusterFailover(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behind bool
	}{
		{"master crash", false},
		{"master crash with its replica behind", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := redistest.StartCluster(t, 3, 1)
			rdb := lc.Client(&redis.ClusterOptions{ClusterStateReloadInterval: time.Second})
			var victim, successor *redistest.Server
			lost := run(t, scenario{
				rdb:        rdb,
				prefix:     "rwtest:failover:",
				replicated: func(*testing.T) { lc.WaitReplicated() },
				failover: func(t *testing.T, l *load) string {
					// Kill the master holding the most workers' sessions
					// (two or more of six on three masters).
					held := map[*redistest.Server]int{}
					for _, k := range l.sessionKeys {
						m := lc.MasterOf(k)
						if held[m]++; victim == nil || held[m] > held[victim] {
							victim = m
						}
					}
					limits := 0 // workers whose rate-limit key it serves (the slot is the {hash tag}'s)
					for w := range workers {
						if lc.MasterOf("{"+keys.Hash(strconv.Itoa(w))+"}") == victim {
							limits++
						}
					}
					successor = lc.ReplicaOf(victim)
					lag := ""
					if tc.behind {
						// Pause the replica and cut its replication link,
						// so what the master acknowledges next stays in
						// the master (a paused replica alone would still
						// find it in its socket's buffer when it resumes).
						successor.Pause()
						if err := victim.Admin().Do(context.Background(), "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
							t.Fatalf("CLIENT KILL TYPE replica: %v", err)
						}
						l.waitRounds(2)
						lag = ", its replica cut off for 2 rounds of load before"
					}
					victim.Kill()
					if tc.behind {
						successor.Resume()
					}
					if err := successor.Admin().Do(context.Background(), "CLUSTER", "FAILOVER", "FORCE").Err(); err != nil {
						t.Fatalf("CLUSTER FAILOVER FORCE: %v", err)
					}
					lc.WaitHealthy()
					return fmt.Sprintf("killed master %s (SIGKILL), serving %d of %d workers' sessions and %d of their rate-limit keys%s; its replica %s took over (CLUSTER FAILOVER FORCE)",
						victim.Addr(), held[victim], workers, limits, lag, successor.Addr())
				},
			})
			if t.Failed() {
				return
			}
			if tc.behind && lost.increments == 0 {
				t.Error("the writes of the rounds the replica missed were not lost: did the failover happen?")
			}
			victim.Restart()
			lc.WaitHealthy()
			if role := lc.Role(victim); role != "slave" {
				t.Fatalf("the restarted node is a %s, want a replica of %s", role, successor.Addr())
			}
			t.Logf("%s restarted: it is a replica of %s now", victim.Addr(), successor.Addr())
		})
	}
}
