package session

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestCluster runs the multi-key paths (Login, Destroy, DestroyUser,
// Sessions) on a real Redis Cluster, where a script with keys in two slots
// fails. It is skipped unless REDIS_CLUSTER_ADDRS names one.
func TestCluster(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(os.Getenv(redistest.EnvClusterAddrs), ",")})
	t.Cleanup(func() { _ = raw.Close() })
	e := newEnvWith(t, nil, rdb, raw, prefix, Options{})
	e.warm()

	c := e.newSessionCookie("n", 1)
	e.n.Reset()
	e.read(c)
	if e.n.N() != 1 {
		t.Fatalf("read-only: %d round trips %v", e.n.N(), e.n.Commands())
	}
	oldKey := e.m.key(e.cookieID(c))
	e.n.Reset()
	_, nc := e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		_ = s.Put("m", 2)
		_ = s.Login("ursula")
	}, c)
	if nc == nil || e.n.N() != 2 {
		t.Fatalf("Login: cookie %v, %d round trips %v", nc, e.n.N(), e.n.Commands())
	}
	if e.exists(oldKey) {
		t.Fatal("old key survived Login")
	}
	if vals, user, _ := e.read(nc); user != "ursula" || vals["n"] != "1" || vals["m"] != "2" {
		t.Fatalf("after Login: %v %q", vals, user)
	}

	// All 100 load before any saves, as in TestConcurrentIncr.
	b := newBarrier(100)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := b.serve(e, func(w http.ResponseWriter, r *http.Request) { _, _ = FromContext(r.Context()).Incr("n", 1) }, nc); rec.Code != http.StatusOK {
				t.Errorf("increment: status %d", rec.Code)
			}
		}()
	}
	wg.Wait()
	if vals, _, _ := e.read(nc); vals["n"] != "101" {
		t.Fatalf("n = %s after 100 concurrent increments", vals["n"])
	}

	cookies := []*http.Cookie{nc, e.login("ursula"), e.login("ursula")}
	if list, err := e.m.Sessions(t.Context(), "ursula"); err != nil || len(list) != 3 {
		t.Fatalf("Sessions = %v, %v", list, err)
	}
	if n, err := e.m.DestroyUser(t.Context(), "ursula"); err != nil || n != 3 {
		t.Fatalf("DestroyUser = %d, %v", n, err)
	}
	for _, c := range cookies {
		if e.exists(e.m.key(e.cookieID(c))) {
			t.Fatal("a session survived DestroyUser")
		}
	}
	_, gone := e.serve(func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Destroy() }, e.login("vic"))
	if gone == nil || gone.MaxAge >= 0 {
		t.Fatalf("Destroy cookie %v", gone)
	}
}
