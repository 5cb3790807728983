package redistest

import (
	"context"
	"testing"
)

// TestLocalCluster: a cluster of three masters with a replica each comes
// up, serves keys through a cluster client, survives a killed master whose
// replica takes over (CLUSTER FAILOVER FORCE), and takes the killed node
// back as a replica of its successor.
func TestLocalCluster(t *testing.T) {
	lc := StartCluster(t, 3, 1)
	ctx := context.Background()
	c := lc.Client(nil)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	master := lc.MasterOf("k")
	replica := lc.ReplicaOf(master)
	master.WaitReplicated(replica)
	master.Kill()
	if err := replica.Admin().Do(ctx, "CLUSTER", "FAILOVER", "FORCE").Err(); err != nil {
		t.Fatal(err)
	}
	lc.WaitHealthy()
	if got := lc.MasterOf("k"); got != replica {
		t.Fatalf("k is served by %s, want the promoted %s", got.Addr(), replica.Addr())
	}
	// A new client (the old one learns the new topology on a MOVED reply
	// or a reload, and a dead node sends no MOVED: the failover tests
	// measure what that costs).
	if v, err := lc.Client(nil).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k from the new master: %q, %v\n%s", v, err, replica.Log())
	}
	master.Restart()
	lc.WaitHealthy()
	if role := lc.Role(master); role != "slave" {
		t.Fatalf("the restarted master is a %s, want a replica of its successor", role)
	}
	if got := lc.ReplicaOf(replica); got != master {
		t.Fatalf("the replica of %s is %s", replica.Addr(), got.Addr())
	}
}
