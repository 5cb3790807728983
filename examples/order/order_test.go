package order

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

// app is one stack of the four middlewares around a mux with a public page
// (GET /page, cacheable for a minute by anyone), a personal page (GET /me,
// which shows the user) and a login (POST /login).
type app struct {
	renders  atomic.Int64 // GET /page and GET /me handler runs
	sessions *session.Manager
	limiter  *ratelimit.Limiter
	cache    *cachehandler.Cache
	mux      *http.ServeMux
}

func newApp(t *testing.T, rdb redis.UniversalClient, prefix string, meCacheControl string) *app {
	t.Helper()
	a := &app{mux: http.NewServeMux()}
	var err1, err2, err3 error
	a.sessions, err1 = session.New(rdb, session.Options{Keys: [][]byte{[]byte(strings.Repeat("k", 32))}, Insecure: true, Prefix: prefix + "session:"})
	a.limiter, err2 = ratelimit.New(rdb, ratelimit.Options{Prefix: prefix + "ratelimit:"})
	a.cache, err3 = cachehandler.New(rdb, cachehandler.Options{Prefix: prefix + "cache:"})
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = a.cache.Close() })
	a.mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		a.renders.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintln(w, "the same page for everyone")
	})
	a.mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		a.renders.Add(1)
		w.Header().Set("Cache-Control", meCacheControl)
		fmt.Fprintf(w, "hello %s\n", session.FromContext(r.Context()).UserID())
	})
	a.mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Login(r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	return a
}

// visitor is a browser: a cookie jar on one server.
type visitor struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newVisitor(t *testing.T, srv *httptest.Server) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, c: &http.Client{Jar: jar}, url: srv.URL}
}

func (v *visitor) login(user string) {
	v.t.Helper()
	res, err := v.c.PostForm(v.url+"/login", url.Values{"user": {user}})
	if err != nil {
		v.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		v.t.Fatalf("login %s: %d", user, res.StatusCode)
	}
}

func (v *visitor) get(path string) (status int, cacheStatus, body string) {
	v.t.Helper()
	res, err := v.c.Get(v.url + path)
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, res.Header.Get("Cache-Status"), b.String()
}

// TestCacheInsideSessions: with the cache outside the session middleware,
// every response carries the Vary: Cookie that sessions add, so each
// visitor's cookie selects a variant of its own and a public page renders
// once per visitor; inside, it renders once.
func TestCacheInsideSessions(t *testing.T) {
	const visitors = 4
	for _, tc := range []struct {
		name        string
		chain       func(a *app) func(http.Handler) http.Handler
		wantRenders int64
	}{
		{"documented: ClientIP, ratelimit, sessions, cache", func(a *app) func(http.Handler) http.Handler {
			return middleware.Chain(middleware.ClientIP(), a.limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(1000)), a.sessions.Middleware, a.cache.Middleware)
		}, 1},
		{"wrong: cache outside sessions", func(a *app) func(http.Handler) http.Handler {
			return middleware.Chain(middleware.ClientIP(), a.limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(1000)), a.cache.Middleware, a.sessions.Middleware)
		}, visitors},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, prefix := redistest.New(t)
			a := newApp(t, rdb, prefix, "private")
			srv := httptest.NewServer(tc.chain(a)(a.mux))
			t.Cleanup(srv.Close)
			var statuses []string
			for i := range visitors {
				v := newVisitor(t, srv)
				v.login(fmt.Sprintf("user%d", i))
				code, cs, body := v.get("/page")
				if code != http.StatusOK || body != "the same page for everyone\n" {
					t.Fatalf("visitor %d: %d %q", i, code, body)
				}
				statuses = append(statuses, cs)
			}
			t.Logf("%d visitors with different session cookies: %d renders of GET /page; Cache-Status: %q",
				visitors, a.renders.Load(), statuses)
			if got := a.renders.Load(); got != tc.wantRenders {
				t.Fatalf("%d renders, want %d", got, tc.wantRenders)
			}
		})
	}
}

// TestPersonalPagesArePrivate: inside the session middleware the cache no
// longer sees that a response depends on the session, so a page that shows
// the user must say private (or no-store): marked public, the second user
// is shown the first one's page.
func TestPersonalPagesArePrivate(t *testing.T) {
	for _, tc := range []struct {
		cacheControl string
		wantSecond   string
	}{
		{"private", "hello bob\n"},
		{"public, max-age=60", "hello ada\n"}, // the leak this test documents
	} {
		t.Run(tc.cacheControl, func(t *testing.T) {
			rdb, prefix := redistest.New(t)
			a := newApp(t, rdb, prefix, tc.cacheControl)
			srv := httptest.NewServer(middleware.Chain(a.sessions.Middleware, a.cache.Middleware)(a.mux))
			t.Cleanup(srv.Close)
			ada, bob := newVisitor(t, srv), newVisitor(t, srv)
			ada.login("ada")
			bob.login("bob")
			if _, _, body := ada.get("/me"); body != "hello ada\n" {
				t.Fatalf("ada sees %q", body)
			}
			_, cs, body := bob.get("/me")
			t.Logf("GET /me marked %q: bob sees %q (Cache-Status %q)", tc.cacheControl, body, cs)
			if body != tc.wantSecond {
				t.Fatalf("bob sees %q, want %q", body, tc.wantSecond)
			}
		})
	}
}

// TestLimitBeforeSessions: a limiter outside the session middleware turns a
// flood away before any session is loaded; inside, every refused request
// still costs the session's load.
func TestLimitBeforeSessions(t *testing.T) {
	const refused = 10
	for _, tc := range []struct {
		name    string
		limitIn bool // limiter inside sessions
		maxRT   int64
		minRT   int64
	}{
		{"documented: ratelimit, then sessions", false, 1, 0},
		{"wrong: sessions, then ratelimit", true, refused + 1, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := redistest.Start(t)
			rdb := b.Client()
			counter := redistest.Count(rdb)
			a := newApp(t, rdb, b.Prefix, "private")
			limit := a.limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(3))
			chain := middleware.Chain(middleware.ClientIP(), limit, a.sessions.Middleware, a.cache.Middleware)
			if tc.limitIn {
				chain = middleware.Chain(middleware.ClientIP(), a.sessions.Middleware, limit, a.cache.Middleware)
			}
			srv := httptest.NewServer(chain(a.mux))
			t.Cleanup(srv.Close)
			v := newVisitor(t, srv)
			v.login("ada") // 1 of 3
			for i := range 2 {
				if code, _, _ := v.get("/page"); code != http.StatusOK {
					t.Fatalf("request %d: %d", i+2, code)
				}
			}
			counter.Reset()
			for i := range refused {
				if code, _, _ := v.get("/page"); code != http.StatusTooManyRequests {
					t.Fatalf("request %d: %d, want 429", i+4, code)
				}
			}
			got := counter.N()
			t.Logf("%d refused requests of a logged-in visitor: %d Redis round trips %v", refused, got, counter.Commands())
			if got < tc.minRT || got > tc.maxRT {
				t.Fatalf("%d round trips, want %d to %d", got, tc.minRT, tc.maxRT)
			}
		})
	}
}

// TestTrustedProxies: behind a proxy, ClientIP needs the proxy's prefix,
// or every client shares the proxy's address and its limit; trusting more
// than the proxy lets any client choose its address and escape the limit.
func TestTrustedProxies(t *testing.T) {
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	everyone := netip.MustParsePrefix("0.0.0.0/0")
	type req struct{ remote, xff string }
	viaProxy := func(n int) (rs []req) { // 3 clients, n requests each, through 10.0.0.1
		for i := range 3 * n {
			rs = append(rs, req{"10.0.0.1:4000", fmt.Sprintf("198.51.100.%d", i%3+1)})
		}
		return rs
	}
	spoofer := func(n int) (rs []req) { // one client, no proxy, a new made-up address each time
		for i := range n {
			rs = append(rs, req{"203.0.113.9:5000", fmt.Sprintf("192.0.2.%d", i+1)})
		}
		return rs
	}
	for _, tc := range []struct {
		name        string
		trusted     []netip.Prefix
		reqs        []req
		wantAllowed int
	}{
		{"behind a proxy, nothing trusted: 3 clients share one limit", nil, viaProxy(5), 5},
		{"behind a proxy, its prefix trusted: one limit each", []netip.Prefix{proxy}, viaProxy(5), 15},
		{"everyone trusted: a client forging X-Forwarded-For is never limited", []netip.Prefix{everyone}, spoofer(20), 20},
		{"only the proxy trusted: the forger is limited", []netip.Prefix{proxy}, spoofer(20), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb, prefix := redistest.New(t)
			lim, err := ratelimit.New(rdb, ratelimit.Options{Prefix: prefix + "ratelimit:"})
			if err != nil {
				t.Fatal(err)
			}
			ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
			h := middleware.Chain(middleware.ClientIP(tc.trusted...), lim.Handler(middleware.KeyByIP, ratelimit.PerMinute(5)))(ok)
			allowed := 0
			for _, q := range tc.reqs {
				r := httptest.NewRequest("GET", "/", nil)
				r.RemoteAddr = q.remote
				r.Header.Set("X-Forwarded-For", q.xff)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code == http.StatusOK {
					allowed++
				}
			}
			t.Logf("%d requests, %d allowed (limit: 5 per minute per client)", len(tc.reqs), allowed)
			if allowed != tc.wantAllowed {
				t.Fatalf("%d allowed, want %d", allowed, tc.wantAllowed)
			}
		})
	}
}

// onlyHosts answers 421 Misdirected Request for a Host the app does not
// serve, so the cache behind it keys entries by real hosts only.
func onlyHosts(next http.Handler, hosts ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range hosts {
			if strings.EqualFold(r.Host, h) {
				next.ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "unknown host", http.StatusMisdirectedRequest)
	})
}

// TestCacheHosts: the cache keys entries by scheme, Host and path, and the
// Host header is the client's to choose: behind a proxy that forwards any
// Host, each made-up host costs a render and an entry. Options.Hosts
// keeps them out of Redis (they are served uncached); answering them 421
// before the cache spares the renders too.
func TestCacheHosts(t *testing.T) {
	const hosts = 5
	for _, tc := range []struct {
		name        string
		option      bool // cachehandler.Options.Hosts
		refuse      bool // 421 before the cache
		wantRenders int64
		wantKeys    int
	}{
		{"any Host reaches the cache", false, false, hosts + 1, hosts + 1},
		{"Options.Hosts: unknown hosts served uncached", true, false, hosts + 1, 1},
		{"unknown hosts answered 421 before the cache", false, true, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := redistest.Start(t)
			rdb := b.Client()
			a := newApp(t, rdb, b.Prefix, "private")
			cache := a.cache
			if tc.option {
				var err error
				cache, err = cachehandler.New(rdb, cachehandler.Options{Prefix: b.Prefix + "cache:", Hosts: []string{"shop.example"}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cache.Close() })
			}
			var h http.Handler = cache.Middleware(a.mux)
			if tc.refuse {
				h = onlyHosts(h, "shop.example")
			}
			for i := range hosts + 1 {
				r := httptest.NewRequest("GET", "/page", nil)
				r.Host = "shop.example"
				if i > 0 {
					r.Host = fmt.Sprintf("evil%d.example", i)
				}
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			ctx := context.Background()
			var keys []string
			iter := rdb.Scan(ctx, 0, b.Prefix+"cache:*", 100).Iterator()
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			t.Logf("1 request for the real host and %d with made-up Host headers: %d renders, %d cache keys written",
				hosts, a.renders.Load(), len(keys))
			if a.renders.Load() != tc.wantRenders || len(keys) != tc.wantKeys {
				t.Fatalf("%d renders and %d keys, want %d and %d", a.renders.Load(), len(keys), tc.wantRenders, tc.wantKeys)
			}
		})
	}
}
