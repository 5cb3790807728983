package session

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// testIncrNowConcurrent holds n requests of one session after their load
// until all have loaded, then each adds 1 to "now" with IncrNow and to
// "est" with Incr. IncrNow's numbers are the stored ones, 1 to n once
// each; Incr's are all the same estimate, 1, while Redis holds n.
func testIncrNowConcurrent(t *testing.T, e *env, n int) {
	c := e.newSessionCookie("other", "x")
	b := newBarrier(n)
	var (
		mu         sync.Mutex
		now, est   []int64
		done       sync.WaitGroup
		failed     sync.Map
		afterGet   sync.Map
		roundTrips = e.n
	)
	roundTrips.Reset()
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			rec := b.serve(e, func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				v, err := s.IncrNow(r.Context(), "now", 1)
				if err != nil {
					failed.Store(err.Error(), true)
					return
				}
				if got, _, _ := Get[int64](s, "now"); got != v {
					afterGet.Store(fmt.Sprintf("Get after IncrNow = %d, IncrNow returned %d", got, v), true)
				}
				x, err := s.Incr("est", 1)
				if err != nil {
					failed.Store(err.Error(), true)
				}
				mu.Lock()
				now, est = append(now, v), append(est, x)
				mu.Unlock()
			}, c)
			if rec.Code != http.StatusOK {
				failed.Store(fmt.Sprint("status ", rec.Code), true)
			}
		}()
	}
	done.Wait()
	failed.Range(func(k, _ any) bool { t.Error(k); return true })
	afterGet.Range(func(k, _ any) bool { t.Error(k); return true })
	// Commands, not round trips: the autopipeliner gathers concurrent
	// requests' commands into fewer round trips.
	if got := roundTrips.Sent(); got != int64(3*n) {
		t.Errorf("%d requests sent %d commands, want 3 each: load, IncrNow, save", n, got)
	}
	slices.Sort(now)
	for i, v := range now {
		if v != int64(i+1) {
			t.Fatalf("IncrNow returned %v; want each of 1..%d once", now, n)
		}
	}
	for _, x := range est {
		if x != 1 {
			t.Fatalf("Incr's estimates %v; want 1 for every request (each loaded 0)", est)
		}
	}
	vals, _, _ := e.read(c)
	if vals["now"] != fmt.Sprint(n) || vals["est"] != fmt.Sprint(n) {
		t.Fatalf("stored now=%s est=%s, want %d each", vals["now"], vals["est"], n)
	}
	t.Logf("%d concurrent requests: IncrNow returned 1..%d once each; Incr returned %d for all (Redis holds %d)", n, n, est[0], n)
}

func TestIncrNowConcurrent(t *testing.T) {
	// Loads queue for the client's pool: a generous timeout keeps a slow
	// machine from failing them.
	e := newEnv(t, Options{Timeout: 30 * time.Second})
	e.warm()
	testIncrNowConcurrent(t, e, 200)
}

func TestIncrNowCluster(t *testing.T) {
	rdb, prefix := redistest.Cluster(t)
	raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(os.Getenv(redistest.EnvClusterAddrs), ",")})
	t.Cleanup(func() { _ = raw.Close() })
	e := newEnvWith(t, nil, rdb, raw, prefix, Options{Timeout: 30 * time.Second})
	e.warm()
	testIncrNowConcurrent(t, e, 50)
}

// TestIncrNowCases: where this request's value is the one that will be
// stored, IncrNow costs no round trip; pending Incr goes with it; failures
// leave the estimate and the pending increments as they were.
func TestIncrNowCases(t *testing.T) {
	e := newEnv(t, Options{})
	e.warm()
	ctx := context.Background()

	t.Run("new session", func(t *testing.T) {
		e.n.Reset()
		_, c := e.serve(func(w http.ResponseWriter, r *http.Request) {
			s := FromContext(r.Context())
			for want := int64(1); want <= 3; want++ {
				if v, err := s.IncrNow(r.Context(), "n", 1); err != nil || v != want {
					t.Errorf("IncrNow = %d, %v; want %d", v, err, want)
				}
			}
		}, nil)
		if e.n.N() != 1 {
			t.Fatalf("a new session cost %d round trips, want 1 (its create): %v", e.n.N(), e.n.Commands())
		}
		if vals, _, _ := e.read(c); vals["n"] != "3" {
			t.Fatalf("stored n = %s", vals["n"])
		}
	})

	t.Run("after Put", func(t *testing.T) {
		c := e.newSessionCookie("n", 10)
		e.n.Reset()
		e.serve(func(w http.ResponseWriter, r *http.Request) {
			s := FromContext(r.Context())
			_ = s.Put("n", 20)
			if v, err := s.IncrNow(r.Context(), "n", 1); err != nil || v != 21 {
				t.Errorf("IncrNow = %d, %v; want 21", v, err)
			}
		}, c)
		if e.n.N() != 2 {
			t.Fatalf("%d round trips, want load and save: %v", e.n.N(), e.n.Commands())
		}
		if vals, _, _ := e.read(c); vals["n"] != "21" {
			t.Fatalf("stored n = %s", vals["n"])
		}
	})

	t.Run("pending Incr goes with it", func(t *testing.T) {
		c := e.newSessionCookie("n", 10)
		e.n.Reset()
		e.serve(func(w http.ResponseWriter, r *http.Request) {
			s := FromContext(r.Context())
			_, _ = s.Incr("n", 5)
			if v, err := s.IncrNow(r.Context(), "n", 1); err != nil || v != 16 {
				t.Errorf("IncrNow = %d, %v; want 16", v, err)
			}
			if v, _ := s.Incr("n", 2); v != 18 {
				t.Errorf("Incr after IncrNow = %d, want 18", v)
			}
		}, c)
		if e.n.N() != 3 {
			t.Fatalf("%d round trips, want load, IncrNow, save: %v", e.n.N(), e.n.Commands())
		}
		if vals, _, _ := e.read(c); vals["n"] != "18" {
			t.Fatalf("stored n = %s, want 18 (nothing applied twice)", vals["n"])
		}
	})

	t.Run("not an integer", func(t *testing.T) {
		c := e.newSessionCookie("n", 1)
		key := e.m.key(e.cookieID(c))
		rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
			s := FromContext(r.Context())
			_, _ = s.Incr("n", 4)
			// Another request stores a string meanwhile.
			if err := e.raw.HSet(ctx, key, valuePrefix+"n", `"x"`).Err(); err != nil {
				t.Error(err)
			}
			if _, err := s.IncrNow(r.Context(), "n", 1); err == nil || !strings.Contains(err.Error(), "not an integer") {
				t.Errorf("IncrNow of a string: %v", err)
			}
			if v, _, _ := Get[int](s, "n"); v != 5 {
				t.Errorf("the estimate changed to %d", v)
			}
		}, c)
		// The pending Incr is still saved, and fails as Incr does.
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want the save of the pending Incr to fail", rec.Code)
		}
	})

	t.Run("session gone", func(t *testing.T) {
		c := e.newSessionCookie("n", 1)
		key := e.m.key(e.cookieID(c))
		e.serve(func(w http.ResponseWriter, r *http.Request) {
			if err := e.raw.Del(ctx, key).Err(); err != nil {
				t.Error(err)
			}
			if _, err := FromContext(r.Context()).IncrNow(r.Context(), "n", 1); err == nil || !strings.Contains(err.Error(), "no longer exists") {
				t.Errorf("IncrNow of a destroyed session: %v", err)
			}
		}, c)
		if e.exists(key) {
			t.Fatal("IncrNow recreated a destroyed session")
		}
	})

	t.Run("resent call applies once", func(t *testing.T) {
		c := e.newSessionCookie("n", 1)
		key := e.m.key(e.cookieID(c))
		run := func() []any {
			res, err := e.m.scripts.Run(ctx, incrScript, []string{key}, ms(e.clock.Now()), msd(e.m.o.IdleTimeout),
				msd(e.m.o.Lifetime), valuePrefix+"n", 1, "same-nonce").Slice()
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		first, again := run(), run()
		if fmt.Sprint(first) != "[1 2]" || fmt.Sprint(again) != "[1 2]" {
			t.Fatalf("replies %v then %v; want [1 2] twice", first, again)
		}
		if vals, _, _ := e.read(c); vals["n"] != "2" {
			t.Fatalf("stored n = %s after a resent call, want 2", vals["n"])
		}
	})
}
