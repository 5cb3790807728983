package cachehandler

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestClusterCache runs every script path (store with Vary, tags across
// slots, purge, invalidation, the fill announcement) on a Redis Cluster,
// where a script whose keys span slots fails. Skipped unless
// REDIS_CLUSTER_ADDRS names a cluster.
func TestClusterCache(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	clock := testNewClock()
	c, errs := testCache(t, rdb, prefix, clock, nil)
	c2, _ := testCache(t, rdb, prefix, clock, nil)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept")
		w.Header().Set("Cache-Tag", "all, "+r.URL.Path)
		_, _ = w.Write([]byte(r.URL.Path + " " + r.Header.Get("Accept")))
	}}
	h, h2 := c.Middleware(origin), c2.Middleware(origin)
	isHit := func(h http.Handler, path, accept string) bool {
		w := testDo(h, "GET", "http://example.com"+path, "Accept", accept)
		if w.Body.String() != path+" "+accept {
			t.Fatalf("%s: body %q", path, w.Body.String())
		}
		return strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit")
	}
	paths := []string{"/a", "/b", "/c", "/d"}
	for _, p := range paths {
		for _, a := range []string{"x", "y"} {
			if isHit(h, p, a) {
				t.Fatalf("%s %s: hit before fill", p, a)
			}
			if !isHit(h2, p, a) {
				t.Fatalf("%s %s: no hit after fill", p, a)
			}
		}
	}
	ctx := context.Background()
	if err := c.PurgeTags(ctx, "/a", "/b"); err != nil {
		t.Fatal(err)
	}
	if err := c.Purge(ctx, "http://example.com/c"); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got, want := isHit(h, p, "x"), p == "/d"; got != want {
			t.Errorf("%s after purges: hit=%v, want %v", p, got, want)
		}
	}
	testDo(c.Middleware(testStatic(204, "")), "DELETE", "http://example.com/d")
	if isHit(h, "/d", "y") {
		t.Error("/d survived a DELETE")
	}
	if err := c.PurgeTags(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	if isHit(h, "/a", "x") && isHit(h, "/b", "x") {
		t.Error("the shared tag did not purge")
	}

	// Stampede across two instances on the cluster: one handler run.
	slow := &testOrigin{}
	// Counted, so a waiter that looks again after a resubscription (and
	// waits twice) does no harm.
	release := whenWaiting(19, c, c2)
	slow.fn = func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("once"))
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hh := c.Middleware(slow)
			if i%2 == 1 {
				hh = c2.Middleware(slow)
			}
			testDo(hh, "GET", "http://example.com/cluster-stampede")
		}()
	}
	wg.Wait()
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("cluster stampede: handler ran %d times", n)
	}
	if n := errs.count(); n != 0 {
		t.Fatalf("%d Redis errors on the cluster: %v", n, errs.errs)
	}
}

// TestClusterPurgeDuringFill runs TestPurgeDuringFill's cases on a Redis
// Cluster: the lock, store and purge scripts touch the purge generation in
// the URL's slot. Skipped unless REDIS_CLUSTER_ADDRS names a cluster.
func TestClusterPurgeDuringFill(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	testPurgeDuringFill(t, rdb, prefix)
}
