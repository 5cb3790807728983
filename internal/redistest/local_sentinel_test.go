package redistest

import (
	"context"
	"testing"
)

// TestLocalSentinel: a primary, a replica and three sentinels come up; a
// failover client writes; SENTINEL FAILOVER promotes the replica, which has
// the write, and the client follows it, also after the old primary dies.
func TestLocalSentinel(t *testing.T) {
	ls := StartSentinel(t, 1, 3)
	ctx := context.Background()
	c := ls.Client(nil)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := ls.Primary()
	if old != ls.Data[0] {
		t.Fatalf("the sentinels name %s, want %s", old.Addr(), ls.Data[0].Addr())
	}
	ls.WaitReplicated()
	promoted := ls.Failover()
	if promoted != ls.Data[1] {
		t.Fatalf("promoted %s, want the replica %s", promoted.Addr(), ls.Data[1].Addr())
	}
	old.Kill()
	Eventually(t, "the client to write to the new primary", func() bool {
		return c.Set(ctx, "k2", "v2", 0).Err() == nil
	})
	if v, err := promoted.Admin().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("k on the new primary: %q, %v", v, err)
	}
	if v, err := promoted.Admin().Get(ctx, "k2").Result(); err != nil || v != "v2" {
		t.Fatalf("k2 on the new primary: %q, %v", v, err)
	}
}
