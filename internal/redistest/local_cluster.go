package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// LocalCluster is a Redis Cluster of redis-server processes a test started
// for itself (StartCluster), on free loopback ports: a test may kill and
// restart its nodes without disturbing any other test. Its nodes are
// killed when the test ends.
type LocalCluster struct {
	t     testing.TB
	Nodes []*Server // masters first, then the replicas, in StartCluster's order
	ids   map[*Server]string
}

// ClusterNodeTimeout is the cluster-node-timeout of a LocalCluster: short,
// so an automatic failover takes about a second, not the default 15.
const ClusterNodeTimeout = time.Second

// StartCluster starts a cluster of masters nodes, each with replicas
// replicas, assigns the 16384 slots evenly and returns once every node
// agrees that the cluster is ok and every replica's link to its master is
// up. Nodes run with cluster-node-timeout ClusterNodeTimeout, replicas
// may always take over (cluster-replica-validity-factor 0) and a master
// starts a replica's sync at once (repl-diskless-sync-delay 0, not 5 s).
// It skips or fails t as ServerBinary does.
func StartCluster(t testing.TB, masters, replicas int) *LocalCluster {
	t.Helper()
	lc := &LocalCluster{t: t, ids: map[*Server]string{}}
	for range masters * (1 + replicas) {
		lc.Nodes = append(lc.Nodes, StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout/time.Millisecond)),
			"--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0"))
	}
	ctx := context.Background()
	for _, n := range lc.Nodes {
		id, err := n.Admin().ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID: %v", err)
		}
		lc.ids[n] = id
	}
	first := lc.Nodes[0].Admin()
	for _, n := range lc.Nodes[1:] {
		if err := first.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(n.Port())).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET: %v", err)
		}
	}
	for i := range masters {
		lo, hi := i*16384/masters, (i+1)*16384/masters-1
		if err := lc.Nodes[i].Admin().ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTS %d-%d: %v", lo, hi, err)
		}
	}
	lc.waitFor("every node to know every other", func() error {
		for _, n := range lc.Nodes {
			out, err := n.Admin().ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(lc.Nodes) || strings.Contains(out, "handshake") || strings.Contains(out, "noaddr") {
				return fmt.Errorf("%s knows %d nodes", n.Addr(), len(lines))
			}
		}
		return nil
	})
	for r := range replicas {
		for i := range masters {
			replica := lc.Nodes[masters+r*masters+i]
			if err := replica.Admin().ClusterReplicate(ctx, lc.ids[lc.Nodes[i]]).Err(); err != nil {
				t.Fatalf("redistest: CLUSTER REPLICATE: %v", err)
			}
		}
	}
	lc.WaitHealthy()
	return lc
}

// waitFor polls check until it returns nil, failing the test after 30 s:
// a cluster's nodes converge by gossip, which nothing announces.
func (lc *LocalCluster) waitFor(what string, check func() error) {
	lc.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			lc.t.Fatalf("redistest: timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitHealthy waits until every running node says cluster_state:ok, every
// running replica's link to its master is up, and all running nodes agree
// on which node serves each slot.
func (lc *LocalCluster) WaitHealthy() {
	lc.t.Helper()
	ctx := context.Background()
	lc.waitFor("a healthy cluster", func() error {
		var owners string
		for _, n := range lc.Nodes {
			if !n.Running() {
				continue
			}
			c := n.Admin()
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster state is not ok", n.Addr())
			}
			role, err := c.Do(ctx, "ROLE").Slice()
			if err != nil {
				return err
			}
			if role[0] == "slave" && (len(role) < 4 || role[3] != "connected") {
				return fmt.Errorf("%s: replica link %v", n.Addr(), role)
			}
			o, err := lc.slotOwners(c)
			if err != nil {
				return err
			}
			if owners != "" && o != owners {
				return fmt.Errorf("nodes disagree on the slots: %s / %s", owners, o)
			}
			owners = o
		}
		return nil
	})
}

// slotOwners describes which node (address) serves which slot ranges, as
// c sees it.
func (lc *LocalCluster) slotOwners(c *redis.Client) (string, error) {
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range slots {
		fmt.Fprintf(&b, "%d-%d:%s ", s.Start, s.End, s.Nodes[0].Addr)
	}
	return b.String(), nil
}

// Addrs returns the addresses of the nodes, for ClusterOptions.Addrs.
func (lc *LocalCluster) Addrs() []string {
	addrs := make([]string, len(lc.Nodes))
	for i, n := range lc.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Client returns a new cluster client of lc with o's settings (nil for the
// defaults), closed when the test ends.
func (lc *LocalCluster) Client(o *redis.ClusterOptions) *redis.ClusterClient {
	if o == nil {
		o = &redis.ClusterOptions{}
	}
	o.Addrs = lc.Addrs()
	c := redis.NewClusterClient(o)
	lc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ID returns the cluster node ID of n.
func (lc *LocalCluster) ID(n *Server) string { return lc.ids[n] }

// MasterOf returns the node serving key's slot now, as the first running
// node sees it.
func (lc *LocalCluster) MasterOf(key string) *Server {
	lc.t.Helper()
	ctx := context.Background()
	for _, n := range lc.Nodes {
		if !n.Running() {
			continue
		}
		c := n.Admin()
		slot, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			lc.t.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
		}
		slots, err := c.ClusterSlots(ctx).Result()
		if err != nil {
			lc.t.Fatalf("redistest: CLUSTER SLOTS: %v", err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) {
				return lc.byID(s.Nodes[0].ID)
			}
		}
		lc.t.Fatalf("redistest: slot %d of %q is served by no node", slot, key)
	}
	lc.t.Fatal("redistest: no node of the cluster is running")
	return nil
}

// ReplicaOf returns a running replica of master.
func (lc *LocalCluster) ReplicaOf(master *Server) *Server {
	lc.t.Helper()
	for _, n := range lc.Nodes {
		if n == master || !n.Running() {
			continue
		}
		if lc.replicates(n, master) {
			return n
		}
	}
	lc.t.Fatalf("redistest: %s has no running replica", master.Addr())
	return nil
}

func (lc *LocalCluster) byID(id string) *Server {
	for n, nid := range lc.ids {
		if nid == id {
			return n
		}
	}
	lc.t.Fatalf("redistest: node %s is not one of the cluster's", id)
	return nil
}

// Role returns "master" or "slave", as n's ROLE says.
func (lc *LocalCluster) Role(n *Server) string {
	lc.t.Helper()
	role, err := n.Admin().Do(context.Background(), "ROLE").Slice()
	if err != nil {
		lc.t.Fatalf("redistest: ROLE of %s: %v", n.Addr(), err)
	}
	return fmt.Sprint(role[0])
}

// WaitReplicated returns once every running replica has received what its
// primary had written when it was called.
func (lc *LocalCluster) WaitReplicated() {
	lc.t.Helper()
	for _, m := range lc.Nodes {
		if !m.Running() || lc.Role(m) != "master" {
			continue
		}
		var reps []*Server
		for _, r := range lc.Nodes {
			if r != m && r.Running() && lc.replicates(r, m) {
				reps = append(reps, r)
			}
		}
		m.WaitReplicated(reps...)
	}
}

// replicates reports whether r is a replica of m.
func (lc *LocalCluster) replicates(r, m *Server) bool {
	role, err := r.Admin().Do(context.Background(), "ROLE").Slice()
	if err != nil {
		lc.t.Fatalf("redistest: ROLE of %s: %v", r.Addr(), err)
	}
	return role[0] == "slave" && len(role) > 2 && role[2] == int64(m.Port())
}
