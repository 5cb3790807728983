package cachehandler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// testKeys returns the keys under prefix.
func testKeys(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var ks []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		ks = append(ks, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return ks
}

// testDoHost sends method path to h with the Host header host.
func testDoHost(h http.Handler, method, host, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestHostsPinCache: 1,000 requests with made-up Host headers through a
// cache pinned to one host are all served by the handler, and none of them
// sends a command to Redis or leaves a key; the pinned host is cached as
// before, under any spelling of it.
func TestHostsPinCache(t *testing.T) {
	b := redistest.Start(t)
	rdb, scan := b.Client(), b.Client() // the cache's, counted; the test's
	n := redistest.Count(rdb)
	c, errs := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.Hosts = []string{"Shop.example"} })
	origin := testStatic(200, "page", "Cache-Control", "max-age=60", "Cache-Tag", "page")
	h := c.Middleware(origin)

	const hostile = 1000
	for i := range hostile {
		method := http.MethodGet
		if i%10 == 9 {
			method = http.MethodPost // an unsafe method invalidates nothing either
		}
		w := testDoHost(h, method, fmt.Sprintf("evil%d.example", i), "/page")
		if w.Code != 200 || w.Body.String() != "page" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body)
		}
		if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=bypass; detail=unknown-host" {
			t.Fatalf("request %d: Cache-Status %q", i, got)
		}
		if w.Header().Get("Cache-Tag") != "" {
			t.Fatalf("request %d: Cache-Tag sent to the client", i)
		}
	}
	if got := origin.calls.Load(); got != hostile {
		t.Fatalf("handler ran %d times for %d requests", got, hostile)
	}
	if n.N() != 0 {
		t.Fatalf("%d requests with unknown hosts made %d Redis round trips: %v", hostile, n.N(), n.Commands()[:min(5, len(n.Commands()))])
	}
	if ks := testKeys(t, scan, b.Prefix); len(ks) != 0 {
		t.Fatalf("%d requests with unknown hosts wrote %d keys: %v", hostile, len(ks), ks[:min(5, len(ks))])
	}
	t.Logf("%d requests with made-up Host headers: %d handler runs, %d Redis round trips, 0 keys", hostile, origin.calls.Load(), n.N())

	// The pinned host still caches, however the client spells it.
	for i, host := range []string{"shop.example", "SHOP.EXAMPLE", "shop.example:80"} {
		w := testDoHost(h, http.MethodGet, host, "/page")
		want := "hit"
		if i == 0 {
			want = "fwd=uri-miss; stored"
		}
		if !strings.Contains(w.Header().Get("Cache-Status"), want) {
			t.Fatalf("Host %q: Cache-Status %q, want %q", host, w.Header().Get("Cache-Status"), want)
		}
	}
	if got := origin.calls.Load(); got != hostile+1 {
		t.Fatalf("handler ran %d times, want %d", got, hostile+1)
	}
	if len(testKeys(t, scan, b.Prefix)) == 0 || n.N() == 0 {
		t.Fatal("the pinned host wrote nothing")
	}
	if errs.count() != 0 {
		t.Fatalf("OnError called %d times", errs.count())
	}
}

// TestHostsUnpinned is what happens without the option: each made-up Host
// is a render and an entry of its own.
func TestHostsUnpinned(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), nil)
	origin := testStatic(200, "page", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	const hosts = 20
	for i := range hosts {
		testDoHost(h, http.MethodGet, fmt.Sprintf("evil%d.example", i), "/page")
	}
	ks := testKeys(t, rdb, b.Prefix+"cache:{")
	t.Logf("without Hosts, %d made-up Host headers: %d renders, %d entries", hosts, origin.calls.Load(), len(ks))
	if origin.calls.Load() != hosts || len(ks) != hosts {
		t.Fatalf("%d renders and %d entries, want %d of each", origin.calls.Load(), len(ks), hosts)
	}
}

// TestCanonicalHost: names mapped to one host share its entries, Purge
// and unsafe methods map their URLs the same way, and a host the function
// refuses costs no Redis call, in Purge too.
func TestCanonicalHost(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	n := redistest.Count(rdb)
	canonical := func(r *http.Request) (string, bool) {
		switch strings.ToLower(r.Host) {
		case "example.com", "www.example.com":
			return "example.com", true
		}
		return "", false
	}
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.CanonicalHost = canonical })
	origin := testStatic(200, "page", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	ctx := context.Background()

	status := func(host string) string {
		return testDoHost(h, http.MethodGet, host, "/p").Header().Get("Cache-Status")
	}
	if s := status("www.example.com"); !strings.Contains(s, "stored") {
		t.Fatalf("first request: %q", s)
	}
	if s := status("example.com"); !strings.Contains(s, "hit") {
		t.Fatalf("the canonical host did not share the entry: %q", s)
	}
	if err := c.Purge(ctx, "https://www.example.com/p"); err != nil {
		t.Fatal(err)
	}
	if s := status("example.com"); !strings.Contains(s, "uri-miss") {
		t.Fatalf("Purge of the www URL left the entry: %q", s)
	}
	// A successful POST on one name invalidates the shared entry.
	if s := status("example.com"); !strings.Contains(s, "hit") {
		t.Fatalf("not cached again: %q", s)
	}
	post := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }}
	testDoHost(c.Middleware(post), http.MethodPost, "www.example.com", "/p")
	if s := status("example.com"); !strings.Contains(s, "uri-miss") {
		t.Fatalf("POST on the www name left the entry: %q", s)
	}

	n.Reset()
	if s := status("evil.example"); s != "redisware; fwd=bypass; detail=unknown-host" {
		t.Fatalf("refused host: %q", s)
	}
	if err := c.Purge(ctx, "https://evil.example/p"); err == nil || !strings.Contains(err.Error(), "does not serve") {
		t.Fatalf("Purge of a refused host: %v", err)
	}
	if n.N() != 0 {
		t.Fatalf("a refused host cost %d round trips: %v", n.N(), n.Commands())
	}
}

// TestPurgeHosts: with Hosts, Purge accepts any spelling of a listed host
// and refuses the others without a Redis call.
func TestPurgeHosts(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	n := redistest.Count(rdb)
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.Hosts = []string{"example.com", "localhost:8080"} })
	h := c.Middleware(testStatic(200, "page", "Cache-Control", "max-age=60"))
	ctx := context.Background()
	for _, tc := range []struct{ host, purge string }{
		{"example.com", "https://EXAMPLE.com:443/p"},
		{"localhost:8080", "http://localhost:8080/p"},
	} {
		testDoHost(h, http.MethodGet, tc.host, "/p")
		if err := c.Purge(ctx, tc.purge); err != nil {
			t.Fatalf("Purge(%q): %v", tc.purge, err)
		}
		if s := testDoHost(h, http.MethodGet, tc.host, "/p").Header().Get("Cache-Status"); !strings.Contains(s, "uri-miss") {
			t.Fatalf("Purge(%q) left %s's entry: %q", tc.purge, tc.host, s)
		}
	}
	n.Reset()
	for _, u := range []string{"https://localhost/p", "http://example.org/p"} {
		if err := c.Purge(ctx, u); err == nil {
			t.Fatalf("Purge(%q) of an unlisted host succeeded", u)
		}
	}
	if n.N() != 0 {
		t.Fatalf("Purge of unlisted hosts cost %d round trips", n.N())
	}
}

func TestHostsValidated(t *testing.T) {
	rdb, _ := redistest.New(t)
	anyHost := func(*http.Request) (string, bool) { return "x", true }
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"path", Options{Hosts: []string{"example.com/x"}}, "not a host"},
		{"empty entry", Options{Hosts: []string{""}}, "not a host"},
		{"user", Options{Hosts: []string{"u@example.com"}}, "not a host"},
		{"empty port", Options{Hosts: []string{"example.com:"}}, "not a host"},
		{"scheme", Options{Hosts: []string{"https://example.com"}}, "not a host"},
		{"pattern", Options{Hosts: []string{"*.example.com"}}, "CanonicalHost"},
		{"both", Options{Hosts: []string{"example.com"}, CanonicalHost: anyHost}, "both"},
		{"ipv6 with port", Options{Hosts: []string{"[::1]:8080", "127.0.0.1"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(rdb, tc.o)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
}
