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

// SentinelMaster is the name under which a LocalSentinel's sentinels
// monitor the primary.
const SentinelMaster = "mymaster"

// LocalSentinel is a primary, its replicas and the sentinels watching them,
// redis-server processes a test started for itself (StartSentinel) on free
// loopback ports, killed when the test ends.
type LocalSentinel struct {
	t         testing.TB
	Data      []*Server // the primary first, then the replicas, in their first roles
	Sentinels []*Server
}

// SentinelDownAfter is the sentinels' down-after-milliseconds: how long a
// server may not answer before a sentinel considers it down.
const SentinelDownAfter = time.Second

// StartSentinel starts a primary with replicas replicas and sentinels
// sentinels (quorum: a majority) and returns once every replica's link is
// up and every sentinel knows every replica and every other sentinel, so a
// failover can start at once. It skips or fails t as ServerBinary does.
func StartSentinel(t testing.TB, replicas, sentinels int) *LocalSentinel {
	t.Helper()
	ls := &LocalSentinel{t: t}
	primary := StartServer(t, "--repl-diskless-sync-delay", "0")
	ls.Data = append(ls.Data, primary)
	for range replicas {
		ls.Data = append(ls.Data, StartServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port()),
			"--repl-diskless-sync-delay", "0"))
	}
	ls.waitFor("the replicas to sync", func() error {
		for _, r := range ls.Data[1:] {
			if err := linkUp(r); err != nil {
				return err
			}
		}
		return nil
	})
	for range sentinels {
		ls.Sentinels = append(ls.Sentinels, StartSentinelServer(t,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", SentinelMaster, primary.Port(), sentinels/2+1),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMaster, SentinelDownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s 10000", SentinelMaster)))
	}
	ls.waitFor("the sentinels to know the replicas and each other", func() error {
		ctx := context.Background()
		for _, s := range ls.Sentinels {
			reps, err := s.Admin().Do(ctx, "SENTINEL", "REPLICAS", SentinelMaster).Slice()
			if err != nil {
				return err
			}
			if n := okReplicas(reps); n != replicas {
				return fmt.Errorf("sentinel %s knows %d healthy replicas of %d", s.Addr(), n, replicas)
			}
			others, err := s.Admin().Do(ctx, "SENTINEL", "SENTINELS", SentinelMaster).Slice()
			if err != nil {
				return err
			}
			if len(others) != sentinels-1 {
				return fmt.Errorf("sentinel %s knows %d other sentinels of %d", s.Addr(), len(others), sentinels-1)
			}
		}
		return nil
	})
	return ls
}

// linkUp reports why replica r is not in sync with its primary, or nil.
func linkUp(r *Server) error {
	role, err := r.Admin().Do(context.Background(), "ROLE").Slice()
	if err != nil {
		return err
	}
	if role[0] != "slave" || len(role) < 4 || role[3] != "connected" {
		return fmt.Errorf("%s: role %v", r.Addr(), role)
	}
	return nil
}

// okReplicas counts the replicas in a SENTINEL REPLICAS reply that the
// sentinel considers healthy (flags exactly "slave").
func okReplicas(reps []any) int {
	n := 0
	for _, r := range reps {
		if fields := fieldMap(r); fields["flags"] == "slave" && fields["master-link-status"] == "ok" {
			n++
		}
	}
	return n
}

// fieldMap turns a Sentinel reply entry (a flat list of name, value, or a
// RESP3 map) into a map.
func fieldMap(entry any) map[string]string {
	m := map[string]string{}
	switch e := entry.(type) {
	case []any:
		for i := 0; i+1 < len(e); i += 2 {
			m[fmt.Sprint(e[i])] = fmt.Sprint(e[i+1])
		}
	case map[any]any:
		for k, v := range e {
			m[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return m
}

// waitFor polls check until it returns nil, failing the test after 30 s:
// sentinels discover each other by messages every 2 s that nothing
// announces to a client.
func (ls *LocalSentinel) waitFor(what string, check func() error) {
	ls.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ls.t.Fatalf("redistest: timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SentinelAddrs returns the sentinels' addresses, for
// FailoverOptions.SentinelAddrs.
func (ls *LocalSentinel) SentinelAddrs() []string {
	addrs := make([]string, len(ls.Sentinels))
	for i, s := range ls.Sentinels {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Client returns a new failover client (redis.NewFailoverClient) of ls
// with o's settings (nil for the defaults), closed when the test ends.
func (ls *LocalSentinel) Client(o *redis.FailoverOptions) *redis.Client {
	if o == nil {
		o = &redis.FailoverOptions{}
	}
	o.MasterName = SentinelMaster
	o.SentinelAddrs = ls.SentinelAddrs()
	c := redis.NewFailoverClient(o)
	ls.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Primary returns the data server every running sentinel names as the
// primary, failing the test if they disagree.
func (ls *LocalSentinel) Primary() *Server {
	ls.t.Helper()
	var addr string
	for _, s := range ls.Sentinels {
		if !s.Running() {
			continue
		}
		a, err := ls.primaryAddr(s)
		if err != nil {
			ls.t.Fatalf("redistest: sentinel %s: %v", s.Addr(), err)
		}
		if addr != "" && a != addr {
			ls.t.Fatalf("redistest: sentinels disagree on the primary: %s, %s", addr, a)
		}
		addr = a
	}
	for _, d := range ls.Data {
		if d.Addr() == addr {
			return d
		}
	}
	ls.t.Fatalf("redistest: the sentinels name %s, not one of the test's servers", addr)
	return nil
}

func (ls *LocalSentinel) primaryAddr(s *Server) (string, error) {
	a, err := s.Admin().Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster).StringSlice()
	if err != nil {
		return "", err
	}
	if len(a) != 2 {
		return "", fmt.Errorf("GET-MASTER-ADDR-BY-NAME: %v", a)
	}
	return a[0] + ":" + a[1], nil
}

// Failover makes the first sentinel promote a replica now (SENTINEL
// FAILOVER: no agreement asked, no wait for the primary to be down, so it
// works on a live primary and on a dead one) and returns the promoted
// server once every running sentinel names it and it answers as a primary. The old primary keeps running as a primary until
// the sentinels next look at it (up to 10 s later) and turn it into a
// replica: the writes it takes meanwhile are lost.
func (ls *LocalSentinel) Failover() *Server {
	ls.t.Helper()
	old := ls.Primary()
	ctx := context.Background()
	// INPROG: the sentinels began one themselves (the primary was down).
	if err := ls.Sentinels[0].Admin().Do(ctx, "SENTINEL", "FAILOVER", SentinelMaster).Err(); err != nil && !strings.HasPrefix(err.Error(), "INPROG") {
		ls.t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	var promoted *Server
	ls.waitFor("every sentinel to name a new primary", func() error {
		addr := ""
		for _, s := range ls.Sentinels {
			if !s.Running() {
				continue
			}
			a, err := ls.primaryAddr(s)
			if err != nil {
				return err
			}
			if a == old.Addr() || (addr != "" && a != addr) {
				return fmt.Errorf("sentinel %s names %s", s.Addr(), a)
			}
			addr = a
		}
		for _, d := range ls.Data {
			if d.Addr() == addr {
				promoted = d
			}
		}
		if promoted == nil {
			return fmt.Errorf("the new primary %s is not one of the test's servers", addr)
		}
		role, err := promoted.Admin().Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if role[0] != "master" {
			return fmt.Errorf("%s is a %v", promoted.Addr(), role[0])
		}
		return nil
	})
	return promoted
}

// WaitReplicated returns once every running replica has received what the
// primary had written when it was called.
func (ls *LocalSentinel) WaitReplicated() {
	ls.t.Helper()
	p := ls.Primary()
	var reps []*Server
	for _, d := range ls.Data {
		if d != p && d.Running() {
			reps = append(reps, d)
		}
	}
	p.WaitReplicated(reps...)
}
