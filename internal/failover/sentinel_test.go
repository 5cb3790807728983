package failover

import (
	"fmt"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestSentinelFailover runs the packages on a go-redis failover client
// (redis.NewFailoverClient) of a primary, a replica and three sentinels of
// its own, under load, through two failovers: SENTINEL FAILOVER on a live
// primary (promoting the replica at once), then the old primary killed;
// and the primary killed (a crash), then SENTINEL FAILOVER. The packages
// answer by their failure policies meanwhile and from the new primary
// after, with no restart.
func TestSentinelFailover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		killFirst bool
	}{
		{"promote, then kill the old primary", false},
		{"kill the primary, then promote", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := redistest.StartSentinel(t, 1, 3)
			run(t, scenario{
				rdb:        ls.Client(nil),
				prefix:     "rwtest:failover:",
				replicated: func(*testing.T) { ls.WaitReplicated() },
				failover: func(t *testing.T, _ *load) string {
					old := ls.Primary()
					if tc.killFirst {
						old.Kill()
						promoted := ls.Failover()
						return fmt.Sprintf("primary %s killed (SIGKILL), then SENTINEL FAILOVER promoted %s", old.Addr(), promoted.Addr())
					}
					promoted := ls.Failover()
					old.Kill()
					return fmt.Sprintf("SENTINEL FAILOVER promoted %s; the old primary %s then killed (SIGKILL)", promoted.Addr(), old.Addr())
				},
			})
		})
	}
}
