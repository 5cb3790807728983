package cachehandler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestPurgeDuringFill: a purge of a URL that lands while a fill of it is in
// the handler (which may have read what the purge removed) keeps that fill
// from storing; its client still gets the response.
func TestPurgeDuringFill(t *testing.T) {
	b := redistest.Start(t)
	testPurgeDuringFill(t, b.Client(), b.Prefix)
}

// testPurgeDuringFill runs TestPurgeDuringFill's cases on rdb (also on
// a Cluster, from TestClusterCache).
func testPurgeDuringFill(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	clock := testNewClock()
	c, errs := testCache(t, rdb, prefix, clock, nil)
	other, _ := testCache(t, rdb, prefix, clock, nil) // another instance
	ctx := context.Background()
	purge := func(t *testing.T, url string) {
		if err := c.Purge(ctx, url); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		vary bool
		// refill: the URL is cached when the racing fill begins (the
		// client asks with no-cache); else it is cold.
		refill bool
		// setup runs before the racing fill; purge while it is in the
		// handler.
		setup, purge func(t *testing.T, url string)
		// stored: what the racing response's Cache-Status says; purged:
		// whether the next request misses.
		stored, purged bool
	}{
		{name: "no purge: stored", stored: true},
		{name: "no purge, refill: stored", refill: true, stored: true},
		{name: "Purge", purge: purge, purged: true},
		{name: "Purge, refill", refill: true, purge: purge, purged: true},
		{name: "Purge of a Vary'd URL", vary: true, purge: purge, purged: true},
		{name: "PurgeTags, refill", refill: true, purge: func(t *testing.T, url string) {
			if err := c.PurgeTags(ctx, "t:"+url); err != nil {
				t.Fatal(err)
			}
		}, purged: true},
		{name: "POST invalidation", purge: func(t *testing.T, url string) {
			if w := testDo(c.Middleware(testStatic(204, "")), "POST", url); w.Code != 204 {
				t.Fatalf("POST: %d", w.Code)
			}
		}, purged: true},
		// Another instance's purge is not seen here before the header
		// goes out, so the header says "stored", but the store refuses.
		{name: "Purge by another instance", purge: func(t *testing.T, url string) {
			if err := other.Purge(ctx, url); err != nil {
				t.Fatal(err)
			}
		}, stored: true, purged: true},
		// The generation the fill read expires (deleted here, as by its
		// expiry): refused, the safe side.
		{name: "generation expires", setup: purge, purge: func(t *testing.T, url string) {
			if err := rdb.Del(ctx, c.keysFor(url).genKey()).Err(); err != nil {
				t.Fatal(err)
			}
		}, stored: true, purged: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://example.com/race/" + strconv.Itoa(i)
			var version atomic.Int64
			race := int64(1) // the handler run that races the purge
			if tt.refill {
				race = 2
			}
			entered, release := make(chan struct{}), make(chan struct{})
			origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
				v := version.Add(1)
				if v == race {
					close(entered) // read the data the purge will remove
					select {
					case <-release:
					case <-time.After(30 * time.Second): // safety net: fail, don't hang
					}
				}
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Cache-Tag", "t:"+url)
				if tt.vary {
					w.Header().Set("Vary", "Accept")
				}
				_, _ = w.Write([]byte("v" + strconv.FormatInt(v, 10)))
			}}
			h := c.Middleware(origin)
			wantStatus := "redisware; fwd=uri-miss"
			var kv []string
			if tt.refill {
				testDo(h, "GET", url, "Accept", "text/html")
				wantStatus = "redisware; fwd=request; fwd-status=200"
				kv = []string{"Cache-Control", "no-cache"}
			}
			if tt.stored {
				wantStatus += "; stored"
			}
			if tt.setup != nil {
				tt.setup(t, url)
			}
			done := make(chan *httptest.ResponseRecorder)
			go func() { done <- testDo(h, "GET", url, append(kv, "Accept", "text/html")...) }()
			<-entered
			if tt.purge != nil {
				tt.purge(t, url)
			}
			close(release)
			w := <-done
			wantBody := "v" + strconv.FormatInt(race, 10)
			if w.Code != 200 || w.Body.String() != wantBody || w.Header().Get("Cache-Status") != wantStatus {
				t.Fatalf("racing fill: %d %q %q, want 200 %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"), wantBody, wantStatus)
			}
			w = testDo(h, "GET", url, "Accept", "text/html")
			wantStatus = "redisware; hit; ttl=60"
			if tt.purged {
				wantBody, wantStatus = "v"+strconv.FormatInt(race+1, 10), "redisware; fwd=uri-miss; stored"
			}
			if w.Body.String() != wantBody || w.Header().Get("Cache-Status") != wantStatus {
				t.Fatalf("next GET: %q %q, want %q %q", w.Body.String(), w.Header().Get("Cache-Status"), wantBody, wantStatus)
			}
			if tt.purged { // and the refill is stored as before
				if w := testDo(h, "GET", url, "Accept", "text/html"); w.Body.String() != wantBody || w.Header().Get("Cache-Status") != "redisware; hit; ttl=60" {
					t.Fatalf("after the refill: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
				}
			}
		})
	}
	if n := errs.count(); n != 0 {
		t.Fatalf("%d errors reported: %v", n, errs.errs)
	}
}

// TestPurgeDuringRefresh: a background stale-while-revalidate refresh that
// is in the handler when its URL is purged does not store.
func TestPurgeDuringRefresh(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, errs := testCache(t, b.Client(), b.Prefix, clock, nil)
	other, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		purger *Cache // nil: no purge
		status string // of the request after the refresh
	}{
		{"no purge: refreshed", nil, "redisware; hit; ttl=10"},
		{"Purge", c, "redisware; fwd=uri-miss; stored"},
		{"Purge by another instance", other, "redisware; fwd=uri-miss; stored"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://example.com/swr-race/" + strconv.Itoa(i)
			var version atomic.Int64
			entered, release := make(chan struct{}), make(chan struct{})
			origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
				v := version.Add(1)
				if v == 2 {
					close(entered)
					select {
					case <-release:
					case <-time.After(30 * time.Second): // safety net: fail, don't hang
					}
				}
				w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
				_, _ = w.Write([]byte("v" + strconv.FormatInt(v, 10)))
			}}
			h := c.Middleware(origin)
			testDo(h, "GET", url)
			clock.Add(20 * time.Second)
			if w := testDo(h, "GET", url); w.Body.String() != "v1" {
				t.Fatalf("stale hit: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
			}
			<-entered
			if tt.purger != nil {
				if err := tt.purger.Purge(ctx, url); err != nil {
					t.Fatal(err)
				}
			}
			close(release)
			c.bg.Wait() // the refresh ran the handler (entered), so it held the lock
			wantBody := "v2"
			if tt.purger != nil {
				wantBody = "v3"
			}
			if w := testDo(h, "GET", url); w.Body.String() != wantBody || w.Header().Get("Cache-Status") != tt.status {
				t.Fatalf("after the refresh: %q %q, want %q %q", w.Body.String(), w.Header().Get("Cache-Status"), wantBody, tt.status)
			}
		})
	}
	if n := errs.count(); n != 0 {
		t.Fatalf("%d errors reported: %v", n, errs.errs)
	}
}
