package cachehandler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// testNewClock returns the shared fake clock at a fixed start.
func testNewClock() *redistest.Clock {
	return redistest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// testErrors records what the cache reports to OnError.
type testErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *testErrors) handle(_ context.Context, err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *testErrors) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.errs)
}

// testCache builds a cache on rdb under the test's prefix with a test
// clock and bounds no test can reach on a loaded machine (a Redis call that
// outlived Timeout would be answered by the failure policy, and a count of
// handler runs would then depend on the machine's speed); tests of
// timeouts set their own.
func testCache(t testing.TB, rdb redis.UniversalClient, prefix string, clock *redistest.Clock, mod func(*Options)) (*Cache, *testErrors) {
	t.Helper()
	errs := &testErrors{}
	o := Options{
		Prefix:   prefix + "cache:",
		Now:      clock.Now,
		Timeout:  time.Minute,
		FillWait: time.Minute,
		OnError:  errs.handle,
		Logger:   slog.New(slog.DiscardHandler), // tests of logs set their own
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, errs
}

// testOrigin is a handler that counts its calls and answers with fn.
type testOrigin struct {
	calls atomic.Int64
	fn    func(w http.ResponseWriter, r *http.Request)
}

func (o *testOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	o.fn(w, r)
}

// testStatic answers status with the header pairs and body.
func testStatic(status int, body string, kv ...string) *testOrigin {
	return &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}}
}

// testDo sends method url with header pairs kv through h.
func testDo(h http.Handler, method, url string, kv ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, url, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestNewValidates(t *testing.T) {
	rdb, _ := redistest.New(t)
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		o    Options
	}{
		{"nil client", nil, Options{}},
		{"negative body", rdb, Options{MaxBodyBytes: -1}},
		{"negative timeout", rdb, Options{Timeout: -time.Second}},
		{"bad name", rdb, Options{Name: "has space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.rdb, tt.o); err == nil {
				t.Fatal("New accepted a bad configuration")
			}
		})
	}
	if _, err := New(rdb, Options{}); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
}

func TestStoreRules(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	date := clock.Now().Format(http.TimeFormat)
	tests := []struct {
		name   string
		req    []string // request header pairs
		status int
		resp   []string // response header pairs
		ttl    time.Duration
		stored bool
	}{
		{"max-age", nil, 200, []string{"Cache-Control", "max-age=60"}, 0, true},
		{"s-maxage", nil, 200, []string{"Cache-Control", "s-maxage=60"}, 0, true},
		{"expires", nil, 200, []string{"Date", date, "Expires", clock.Now().Add(time.Minute).Format(http.TimeFormat)}, 0, true},
		{"expires in the past", nil, 200, []string{"Date", date, "Expires", clock.Now().Add(-time.Minute).Format(http.TimeFormat)}, 0, false},
		{"route TTL", nil, 200, nil, time.Minute, true},
		{"route TTL, uncacheable status", nil, 500, nil, time.Minute, false},
		{"no freshness", nil, 200, nil, 0, false},
		{"404 with max-age", nil, 404, []string{"Cache-Control", "max-age=60"}, 0, true},
		{"no-store", nil, 200, []string{"Cache-Control", "max-age=60, no-store"}, 0, false},
		{"private", nil, 200, []string{"Cache-Control", "private, max-age=60"}, 0, false},
		{"set-cookie", nil, 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "id=1"}, 0, false},
		{"authorization", []string{"Authorization", "Bearer x"}, 200, []string{"Cache-Control", "max-age=60"}, 0, false},
		{"authorization, public", []string{"Authorization", "Bearer x"}, 200, []string{"Cache-Control", "public, max-age=60"}, 0, true},
		{"authorization, s-maxage", []string{"Authorization", "Bearer x"}, 200, []string{"Cache-Control", "s-maxage=60"}, 0, true},
		{"authorization, must-revalidate", []string{"Authorization", "Bearer x"}, 200, []string{"Cache-Control", "max-age=60, must-revalidate"}, 0, true},
		{"vary star", nil, 200, []string{"Cache-Control", "max-age=60", "Vary", "*"}, 0, false},
		{"partial content", nil, 206, []string{"Cache-Control", "max-age=60"}, 0, false},
		{"request no-store", []string{"Cache-Control", "no-store"}, 200, []string{"Cache-Control", "max-age=60"}, 0, false},
		{"no-cache without validator", nil, 200, []string{"Cache-Control", "max-age=60, no-cache"}, 0, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := testStatic(tt.status, "body", tt.resp...)
			var h http.Handler = c.Middleware(origin)
			if tt.ttl > 0 {
				h = c.WithTTL(tt.ttl)(origin)
			}
			url := "http://example.com/rules/" + strconv.Itoa(i)
			first := testDo(h, "GET", url, tt.req...)
			if got := strings.Contains(first.Header().Get("Cache-Status"), "stored"); got != tt.stored {
				t.Errorf("first Cache-Status %q, stored want %v", first.Header().Get("Cache-Status"), tt.stored)
			}
			second := testDo(h, "GET", url, tt.req...)
			wantCalls := int64(2)
			if tt.stored {
				wantCalls = 1
			}
			if got := origin.calls.Load(); got != wantCalls {
				t.Fatalf("handler ran %d times, want %d (second Cache-Status %q)", got, wantCalls, second.Header().Get("Cache-Status"))
			}
			if second.Code != tt.status || second.Body.String() != "body" {
				t.Fatalf("second response %d %q", second.Code, second.Body.String())
			}
			if tt.stored && !strings.HasPrefix(second.Header().Get("Cache-Status"), "redisware; hit") {
				t.Fatalf("second Cache-Status %q", second.Header().Get("Cache-Status"))
			}
			if second.Header().Get("Set-Cookie") != "" && tt.stored {
				t.Fatal("Set-Cookie replayed")
			}
		})
	}
}

func TestFreshnessAgeAndStaleness(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	origin := testStatic(200, "hello", "Cache-Control", "max-age=60", "Connection", "X-Hop", "X-Hop", "secret", "Keep-Alive", "timeout=5",
		"Proxy-Authentication-Info", "nextnonce=x")
	h := c.Middleware(origin)
	const url = "http://example.com/age"
	steps := []struct {
		name      string
		advance   time.Duration
		req       []string
		status    string
		age       string
		wantCalls int64
	}{
		{"miss stores", 0, nil, "redisware; fwd=uri-miss; stored", "", 1},
		{"hit", 10 * time.Second, nil, "redisware; hit; ttl=50", "10", 1},
		{"max-age the entry is too old for", 0, []string{"Cache-Control", "max-age=5"}, "redisware; fwd=request; fwd-status=200; stored", "", 2},
		{"hit after refill", 20 * time.Second, nil, "redisware; hit; ttl=40", "20", 2},
		{"min-fresh not met", 0, []string{"Cache-Control", "min-fresh=50"}, "redisware; fwd=request; fwd-status=200; stored", "", 3},
		{"stale, max-stale accepts", 70 * time.Second, []string{"Cache-Control", "max-stale=20"}, "redisware; hit; ttl=-10", "70", 3},
		{"stale is refilled", 0, nil, "redisware; fwd=stale; fwd-status=200; stored", "", 4},
		{"no-cache revalidates", 0, []string{"Cache-Control", "no-cache"}, "redisware; fwd=request; fwd-status=200; stored", "", 5},
		{"Pragma no-cache revalidates", 0, []string{"Pragma", "no-cache"}, "redisware; fwd=request; fwd-status=200; stored", "", 6},
		{"max-age=0 revalidates", 0, []string{"Cache-Control", "max-age=0"}, "redisware; fwd=request; fwd-status=200; stored", "", 7},
		{"request no-store may be served a hit", 0, []string{"Cache-Control", "no-store"}, "redisware; hit; ttl=60", "0", 7},
	}
	for _, s := range steps {
		clock.Add(s.advance)
		w := testDo(h, "GET", url, s.req...)
		if got := w.Header().Get("Cache-Status"); got != s.status {
			t.Errorf("%s: Cache-Status %q, want %q", s.name, got, s.status)
		}
		if got := w.Header().Get("Age"); got != s.age {
			t.Errorf("%s: Age %q, want %q", s.name, got, s.age)
		}
		if got := origin.calls.Load(); got != s.wantCalls {
			t.Fatalf("%s: handler ran %d times, want %d", s.name, got, s.wantCalls)
		}
		if w.Body.String() != "hello" {
			t.Fatalf("%s: body %q", s.name, w.Body.String())
		}
		if s.age != "" { // a hit: hop-by-hop fields are not replayed
			for _, n := range []string{"X-Hop", "Keep-Alive", "Connection", "Proxy-Authentication-Info"} {
				if w.Header().Get(n) != "" {
					t.Errorf("%s: hit replays hop-by-hop %s", s.name, n)
				}
			}
		}
	}
}

func TestIgnoreClientNoCache(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), func(o *Options) { o.IgnoreClientNoCache = true })
	origin := testStatic(200, "x", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	testDo(h, "GET", "http://example.com/shield")
	for _, cc := range []string{"no-cache", "max-age=0"} {
		w := testDo(h, "GET", "http://example.com/shield", "Cache-Control", cc)
		if !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
			t.Errorf("%s: Cache-Status %q", cc, w.Header().Get("Cache-Status"))
		}
	}
	if n := origin.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestVaryVariants(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding, accept-language")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Encoding") + "|" + r.Header.Get("Accept-Language")))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/vary?b=2&a=1"
	tests := []struct {
		name   string
		req    []string
		body   string
		status string
		calls  int64
	}{
		{"gzip miss", []string{"Accept-Encoding", "gzip"}, "gzip|", "redisware; fwd=uri-miss; stored", 1},
		{"gzip hit", []string{"Accept-Encoding", "gzip"}, "gzip|", "redisware; hit; ttl=60", 1},
		{"br is another variant", []string{"Accept-Encoding", "br"}, "br|", "redisware; fwd=vary-miss; stored", 2},
		{"br hit", []string{"Accept-Encoding", "br"}, "br|", "redisware; hit; ttl=60", 2},
		{"language is another variant", []string{"Accept-Encoding", "gzip", "Accept-Language", "de"}, "gzip|de", "redisware; fwd=vary-miss; stored", 3},
		{"gzip still hit", []string{"Accept-Encoding", "gzip"}, "gzip|", "redisware; hit; ttl=60", 3},
		{"whitespace normalised, query sorted", []string{"Accept-Encoding", " gzip "}, "gzip|", "redisware; hit; ttl=60", 3},
	}
	for _, tt := range tests {
		u := url
		if strings.HasPrefix(tt.name, "whitespace") {
			u = "http://EXAMPLE.com:80/vary?a=1&b=2"
		}
		w := testDo(h, "GET", u, tt.req...)
		if w.Body.String() != tt.body || w.Header().Get("Cache-Status") != tt.status {
			t.Errorf("%s: body %q Cache-Status %q, want %q %q", tt.name, w.Body.String(), w.Header().Get("Cache-Status"), tt.body, tt.status)
		}
		if got := origin.calls.Load(); got != tt.calls {
			t.Fatalf("%s: handler ran %d times, want %d", tt.name, got, tt.calls)
		}
	}
	// A second instance, without the Vary hint, finds the variants too.
	c2, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	w := testDo(c2.Middleware(origin), "GET", url, "Accept-Encoding", "br")
	if w.Body.String() != "br|" || !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("second instance: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
	}
}

func TestHeadFromGet(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	origin := testStatic(200, "0123456789", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	if w := testDo(h, "HEAD", "http://example.com/head-cold"); strings.Contains(w.Header().Get("Cache-Status"), "stored") {
		t.Fatalf("HEAD miss stored: %q", w.Header().Get("Cache-Status"))
	}
	testDo(h, "GET", "http://example.com/head")
	w := testDo(h, "HEAD", "http://example.com/head")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "10" {
		t.Fatalf("HEAD hit: %d len %d Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	if !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("HEAD Cache-Status %q", w.Header().Get("Cache-Status"))
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (HEAD miss, GET fill)", n)
	}
}

func TestConditionalFromCache(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	lm := clock.Now().Add(-time.Hour).Format(http.TimeFormat)
	origin := testStatic(200, "body", "Cache-Control", "max-age=60", "ETag", `"v1"`, "Last-Modified", lm)
	h := c.Middleware(origin)
	testDo(h, "GET", "http://example.com/cond")
	tests := []struct {
		name string
		req  []string
		code int
	}{
		{"If-None-Match strong", []string{"If-None-Match", `"v1"`}, 304},
		{"If-None-Match weak", []string{"If-None-Match", `W/"v1"`}, 304},
		{"If-None-Match list", []string{"If-None-Match", `"v0", "v1"`}, 304},
		{"If-None-Match star", []string{"If-None-Match", `*`}, 304},
		{"If-None-Match other", []string{"If-None-Match", `"v2"`}, 200},
		{"If-Modified-Since later", []string{"If-Modified-Since", clock.Now().Format(http.TimeFormat)}, 304},
		{"If-Modified-Since earlier", []string{"If-Modified-Since", clock.Now().Add(-2 * time.Hour).Format(http.TimeFormat)}, 200},
		{"If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `"v2"`, "If-Modified-Since", clock.Now().Format(http.TimeFormat)}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testDo(h, "GET", "http://example.com/cond", tt.req...)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			if tt.code == 304 && (w.Body.Len() != 0 || w.Header().Get("Etag") != `"v1"`) {
				t.Fatalf("304 with body %q, ETag %q", w.Body.String(), w.Header().Get("Etag"))
			}
		})
	}
	if n := origin.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestRevalidationFreshens(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	var conditional atomic.Value
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			conditional.Store(inm)
			w.Header().Set("Cache-Control", "max-age=120")
			w.Header().Set("X-Freshened", "yes")
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("original"))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/reval"
	testDo(h, "GET", url)
	clock.Add(30 * time.Second)
	w := testDo(h, "GET", url)
	if got := conditional.Load(); got != `"v1"` {
		t.Fatalf("handler saw If-None-Match %v", got)
	}
	if w.Code != 200 || w.Body.String() != "original" || w.Header().Get("X-Freshened") != "yes" || w.Header().Get("Content-Type") != "text/plain" {
		t.Fatalf("after 304: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=stale; fwd-status=304; stored" {
		t.Fatalf("Cache-Status %q", got)
	}
	clock.Add(60 * time.Second)
	w = testDo(h, "GET", url)
	if got := w.Header().Get("Cache-Status"); got != "redisware; hit; ttl=60" || w.Header().Get("X-Freshened") != "yes" || w.Body.String() != "original" {
		t.Fatalf("after freshening: Cache-Status %q, %v %q", got, w.Header(), w.Body.String())
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestStaleWhileRevalidateOneRefreshAcrossInstances(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c1, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	c2, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	var version atomic.Int64
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		v := version.Add(1)
		if v > 1 {
			entered <- struct{}{}
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		_, _ = w.Write([]byte("v" + strconv.FormatInt(v, 10)))
	}}
	h1, h2 := c1.Middleware(origin), c2.Middleware(origin)
	const url = "http://example.com/swr"
	testDo(h1, "GET", url)
	clock.Add(20 * time.Second)

	w := testDo(h1, "GET", url) // stale served at once; c1 refreshes
	if w.Body.String() != "v1" || w.Header().Get("Cache-Status") != "redisware; hit; ttl=-10; detail=stale-while-revalidate" {
		t.Fatalf("instance 1: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
	}
	<-entered // c1's refresh holds the lock and is in the handler
	w = testDo(h2, "GET", url)
	if w.Body.String() != "v1" {
		t.Fatalf("instance 2 body %q", w.Body.String())
	}
	c2.bg.Wait() // instance 2's refresh attempt has ended
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times: instance 2 refreshed while instance 1 held the lock", n)
	}
	close(release)
	c1.bg.Wait()
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (fill + one refresh)", n)
	}
	w = testDo(h2, "GET", url)
	if w.Body.String() != "v2" || w.Header().Get("Cache-Status") != "redisware; hit; ttl=10" {
		t.Fatalf("after refresh: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
	}
}

// testFailLock is a go-redis hook that makes the fill lock's script
// fail, as if Redis went away between the lookup and the lock.
type testFailLock struct{ on atomic.Bool }

func (h *testFailLock) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *testFailLock) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && testIsLock(cmd) {
			err := errors.New("i/o timeout (injected)")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// testIsLock reports whether cmd runs the fill lock script (its first
// key is a lock).
func testIsLock(cmd redis.Cmder) bool {
	args := cmd.Args()
	if (cmd.Name() != "evalsha" && cmd.Name() != "eval") || len(args) < 4 {
		return false
	}
	k, _ := args[3].(string)
	return strings.Contains(k, "}:lock")
}

func (h *testFailLock) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestStaleIfError(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	rdb := b.Client()
	fail := &testFailLock{}
	rdb.AddHook(fail)
	c, errs := testCache(t, rdb, b.Prefix, clock, nil)
	var broken atomic.Bool
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		_, _ = w.Write([]byte("good"))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/sie"
	testDo(h, "GET", url)
	clock.Add(30 * time.Second)
	broken.Store(true)

	w := testDo(h, "GET", url)
	if w.Code != 200 || w.Body.String() != "good" || w.Header().Get("Cache-Status") != "redisware; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error" {
		t.Fatalf("handler 5xx: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
	}

	fail.on.Store(true) // Redis fails mid-request: the lock cannot be taken
	w = testDo(h, "GET", url)
	if w.Code != 200 || w.Body.String() != "good" || !strings.Contains(w.Header().Get("Cache-Status"), "detail=redis-error") {
		t.Fatalf("Redis down: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
	}
	if errs.count() == 0 {
		t.Fatal("the Redis failure was not reported")
	}
	fail.on.Store(false)

	clock.Add(time.Minute) // past stale-if-error: the error goes through
	if w := testDo(h, "GET", url); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("past the window: %d", w.Code)
	}
}

func TestOnlyIfCached(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	origin := testStatic(200, "x", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	w := testDo(h, "GET", "http://example.com/oic", "Cache-Control", "only-if-cached")
	if w.Code != http.StatusGatewayTimeout || origin.calls.Load() != 0 {
		t.Fatalf("cold only-if-cached: %d, handler ran %d", w.Code, origin.calls.Load())
	}
	testDo(h, "GET", "http://example.com/oic")
	w = testDo(h, "GET", "http://example.com/oic", "Cache-Control", "only-if-cached")
	if w.Code != 200 || origin.calls.Load() != 1 {
		t.Fatalf("warm only-if-cached: %d, handler ran %d", w.Code, origin.calls.Load())
	}
}

func TestUnsafeMethodInvalidates(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	get := testStatic(200, "x", "Cache-Control", "max-age=60")
	hGet := c.Middleware(get)
	tests := []struct {
		name        string
		method      string
		status      int
		resp        []string
		invalidated []string
		kept        []string
	}{
		{"POST invalidates its URI and Location", "POST", 201, []string{"Location", "/items/new"},
			[]string{"/items", "/items/new"}, []string{"/other"}},
		{"PUT invalidates Content-Location", "PUT", 200, []string{"Content-Location", "http://example.com/items/7?v=1"},
			[]string{"/items", "/items/7?v=1"}, []string{"/other"}},
		{"DELETE ignores another origin", "DELETE", 204, []string{"Location", "http://elsewhere.example/other"},
			[]string{"/items"}, []string{"/other"}},
		{"DELETE ignores another scheme", "DELETE", 204, []string{"Location", "https://example.com/other"},
			[]string{"/items"}, []string{"/other"}},
		{"default port and case are the same origin", "POST", 303, []string{"Location", "HTTP://Example.COM:80/other"},
			[]string{"/items", "/other"}, nil},
		{"failed PATCH invalidates nothing", "PATCH", 500, nil, nil, []string{"/items", "/other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range append(append([]string{}, tt.invalidated...), tt.kept...) {
				testDo(hGet, "GET", "http://example.com"+p)
			}
			unsafe := testStatic(tt.status, "", append([]string{"Cache-Tag", "t"}, tt.resp...)...)
			w := testDo(c.Middleware(unsafe), tt.method, "http://example.com/items")
			if w.Header().Get("Cache-Tag") != "" {
				t.Fatal("Cache-Tag sent to the client")
			}
			for _, p := range tt.invalidated {
				if w := testDo(hGet, "GET", "http://example.com"+p); strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
					t.Errorf("%s still cached", p)
				}
			}
			for _, p := range tt.kept {
				if w := testDo(hGet, "GET", "http://example.com"+p); !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
					t.Errorf("%s was invalidated: %q", p, w.Header().Get("Cache-Status"))
				}
			}
		})
	}
}

func TestPurgeAndTags(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	ctx := context.Background()
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept")
		w.Header().Set("Cache-Tag", "all, "+strings.TrimPrefix(r.URL.Path, "/p/"))
		_, _ = w.Write([]byte(r.URL.Path))
	}}
	h := c.Middleware(origin)
	hit := func(path, accept string) bool {
		w := testDo(h, "GET", "http://example.com"+path, "Accept", accept)
		if w.Header().Get("Cache-Tag") != "" {
			t.Fatalf("Cache-Tag sent to the client on %s", path)
		}
		return strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit")
	}
	fill := func() {
		for _, p := range []string{"/p/1", "/p/2", "/p/3"} {
			for _, a := range []string{"text/html", "application/json"} {
				hit(p, a)
			}
		}
	}
	tests := []struct {
		name   string
		purge  func() error
		purged []string
	}{
		{"tag of one URL", func() error { return c.PurgeTags(ctx, "1") }, []string{"/p/1"}},
		{"two tags", func() error { return c.PurgeTags(ctx, "2", "3", "unknown") }, []string{"/p/2", "/p/3"}},
		{"shared tag", func() error { return c.PurgeTags(ctx, "all") }, []string{"/p/1", "/p/2", "/p/3"}},
		{"one URL", func() error { return c.Purge(ctx, "http://example.com/p/2") }, []string{"/p/2"}},
		{"one URL named https", func() error { return c.Purge(ctx, "https://EXAMPLE.com:443/p/3") }, []string{"/p/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill()
			if err := tt.purge(); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"/p/1", "/p/2", "/p/3"} {
				want := true
				for _, q := range tt.purged {
					want = want && p != q
				}
				for _, a := range []string{"text/html", "application/json"} {
					if got := hit(p, a); got != want {
						t.Errorf("%s (%s): hit=%v, want %v", p, a, got, want)
					}
				}
			}
		})
	}
	if err := c.Purge(ctx, "/relative"); err == nil {
		t.Fatal("Purge accepted a relative URL")
	}
	// Every key written has an expiry.
	rdb := b.Client()
	keys, err := rdb.Keys(ctx, b.Prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	for _, k := range keys {
		if d, err := rdb.PTTL(ctx, k).Result(); err != nil || d <= 0 {
			t.Errorf("%s: PTTL %v %v", k, d, err)
		}
	}
}

func TestMaxBodyStreams(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), func(o *Options) { o.MaxBodyBytes = 1024 })
	big := strings.Repeat("x", 4096)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		for i := 0; i < 4; i++ {
			_, _ = w.Write([]byte(big[:1024]))
		}
	}}
	h := c.Middleware(origin)
	for i := 0; i < 2; i++ {
		w := testDo(h, "GET", "http://example.com/big")
		if w.Body.String() != big {
			t.Fatalf("body of %d bytes, want %d", w.Body.Len(), len(big))
		}
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times: the oversized body was stored", n)
	}
	small := testStatic(200, "small", "Cache-Control", "max-age=60", "Content-Length", "5000")
	testDo(c.Middleware(small), "GET", "http://example.com/declared")
	if w := testDo(c.Middleware(small), "GET", "http://example.com/declared"); strings.Contains(w.Header().Get("Cache-Status"), "hit") {
		t.Fatal("a response declaring a Content-Length over the limit was stored")
	}
}

func TestCorruptEntryIsAMiss(t *testing.T) {
	b := redistest.Start(t)
	c, errs := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	origin := testStatic(200, "fresh", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	const url = "http://example.com/corrupt"
	k := c.keysFor(url)
	ctx := context.Background()
	rdb := b.Client()
	good := entryEncode(nil, &cacheEntry{status: 200, header: http.Header{"A": {"b"}}, body: []byte("x")})
	for i, bad := range [][]byte{[]byte("garbage"), good[:len(good)-3], append([]byte("rwc\x09E"), good[5:]...), []byte("rwc\x01V")} {
		if err := rdb.Set(ctx, k.base, bad, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		before := errs.count()
		w := testDo(h, "GET", url)
		if w.Code != 200 || w.Body.String() != "fresh" {
			t.Fatalf("case %d: %d %q", i, w.Code, w.Body.String())
		}
		if errs.count() == before {
			t.Fatalf("case %d: corrupt entry not reported", i)
		}
		if w := testDo(h, "GET", url); !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
			t.Fatalf("case %d: not refilled: %q", i, w.Header().Get("Cache-Status"))
		}
	}
}

func TestRedisDownBypasses(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	clock := testNewClock()
	c, errs := testCache(t, b.ClientAt(p.Addr()), b.Prefix, clock, func(o *Options) { o.Timeout = time.Second })
	c.guard.Breaker.Now = clock.Now // the breaker's cool-down does not pass during the test
	origin := testStatic(200, "origin", "Cache-Control", "max-age=60", "Cache-Tag", "t")
	h := c.Middleware(origin)
	p.Down()
	for i := 0; i < 8; i++ {
		w := testDo(h, "GET", "http://example.com/down")
		if w.Code != 200 || w.Body.String() != "origin" || w.Header().Get("Cache-Tag") != "" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body.String())
		}
		if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=miss; detail=redis-error" {
			t.Fatalf("request %d: Cache-Status %q", i, got)
		}
	}
	// Five failures open the breaker; the calls it then refuses are not
	// reported again.
	if n := origin.calls.Load(); n != 8 || errs.count() != 5 {
		t.Fatalf("handler ran %d times, %d errors reported", n, errs.count())
	}
	if !c.guard.Breaker.Open() {
		t.Fatal("the breaker did not open")
	}
}

// TestRedisDownLogsAHandful: with no OnError, an outage of many requests
// logs the first failure and the breaker opening, not a line per request;
// Options.Breaker reaches the breaker.
func TestRedisDownLogsAHandful(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	clock := testNewClock()
	log, logs := redistest.Logger()
	c, _ := testCache(t, b.ClientAt(p.Addr()), b.Prefix, clock, func(o *Options) {
		o.Timeout = time.Second
		o.OnError = nil
		o.Logger = log
		o.Breaker = middleware.BreakerOptions{Threshold: 3, MinCooldown: time.Hour}
	})
	h := c.Middleware(testStatic(200, "origin", "Cache-Control", "max-age=60"))
	p.Down()
	for i := range 200 {
		if w := testDo(h, "GET", "http://example.com/down"); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	var above []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			above = append(above, l)
		}
	}
	if len(above) != 2 || !strings.Contains(above[0]+above[1], "breaker opened") || !strings.Contains(above[0]+above[1], "bypassing the cache") {
		t.Fatalf("200 requests in an outage logged %d lines above Debug, want the first failure and the breaker opening:\n%s", len(above), strings.Join(above, "\n"))
	}
	if c.guard.Breaker.Refused() < 190 {
		t.Fatalf("MinCooldown 1h: only %d requests refused", c.guard.Breaker.Refused())
	}
	if _, err := New(b.Client(), Options{Breaker: middleware.BreakerOptions{MinCooldown: -1}}); err == nil || !strings.Contains(err.Error(), "Options.Breaker") {
		t.Fatalf("a negative MinCooldown: %v", err)
	}
}

// TestSharedLookupFailureLoggedOnce: concurrent requests for one URL
// share a lookup; when it fails, one line reports it, not one per request.
func TestSharedLookupFailureLoggedOnce(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	log, logs := redistest.Logger()
	c, _ := testCache(t, b.PatientClientAt(p.Addr()), b.Prefix, testNewClock(), func(o *Options) {
		o.Timeout = time.Minute // until the hang, below
		o.OnError = nil
		o.Logger = log
		o.Breaker = middleware.BreakerOptions{Threshold: 1000} // stays closed
	})
	h := c.Middleware(testStatic(200, "origin", "Cache-Control", "max-age=60"))
	if w := testDo(h, "GET", "http://example.com/shared"); w.Code != 200 { // opens the connection the stall catches
		t.Fatal(w.Code)
	}
	// Only the hung lookups are to time out: the request before them had
	// a minute, which a loaded machine does not reach.
	c.guard.Timeout = 100 * time.Millisecond
	p.Hang()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if w := testDo(h, "GET", "http://example.com/shared"); w.Code != 200 {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("8 requests sharing a failed lookup logged %d Warn lines, want 1:\n%s", n, logs)
	}
}

// TestClientGone: a request whose client hung up while Redis is down is
// answered nothing, its handler does not run, and its failure is not
// reported to OnError. (The lookup itself runs detached from the request's
// cancellation, as concurrent requests share it, so what it finds is a
// genuine observation of Redis and counts toward the breaker as such.)
func TestClientGone(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	c, errs := testCache(t, b.ClientAt(p.Addr()), b.Prefix, testNewClock(), func(o *Options) { o.Timeout = time.Second })
	origin := testStatic(200, "origin", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	p.Down()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/gone", nil).WithContext(ctx))
		if w.Body.Len() != 0 || len(w.Header()) != 0 || origin.calls.Load() != 0 {
			t.Fatalf("a client that left: answered %d %v %q, handler ran %d times", w.Code, w.Header(), w.Body, origin.calls.Load())
		}
	}
	if errs.count() != 0 {
		t.Fatalf("clients hanging up: OnError told %d times", errs.count())
	}
}

// TestRedisStalledBypasses: on a half-open connection the client would wait
// out its own timeouts, an hour; the handler serves the request instead
// once Options.Timeout has passed.
func TestRedisStalledBypasses(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	c, errs := testCache(t, b.PatientClientAt(p.Addr()), b.Prefix, testNewClock(), func(o *Options) { o.Timeout = time.Minute })
	origin := testStatic(200, "origin", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	const url = "http://example.com/stalled"
	// Storing the response also opens the connection the stall catches.
	if w := testDo(h, "GET", url); !strings.Contains(w.Header().Get("Cache-Status"), "stored") {
		t.Fatalf("not stored: Cache-Status %q", w.Header().Get("Cache-Status"))
	}
	// Only the stalled lookup is to time out: the store before it had a
	// minute, which a loaded machine does not reach.
	c.guard.Timeout = 50 * time.Millisecond
	p.Stall()
	var w *httptest.ResponseRecorder
	redistest.Within(t, 10*time.Second, "a request on a stalled Redis", func() { w = testDo(h, "GET", url) })
	if w.Code != 200 || w.Body.String() != "origin" || origin.calls.Load() != 2 {
		t.Fatalf("%d %q, handler ran %d times; want the handler's answer", w.Code, w.Body.String(), origin.calls.Load())
	}
	if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=miss; detail=redis-error" {
		t.Fatalf("Cache-Status %q", got)
	}
	errs.mu.Lock()
	defer errs.mu.Unlock()
	if len(errs.errs) != 1 || !errors.Is(errs.errs[0], context.DeadlineExceeded) {
		t.Fatalf("errors reported: %v; want one deadline error", errs.errs)
	}
}

// TestPurgeStalledRedis: purges are bounded by their context with a
// client that ignores deadlines (an hour-long ReadTimeout here).
func TestPurgeStalledRedis(t *testing.T) {
	tests := []struct {
		name  string
		purge func(context.Context, *Cache) error
	}{
		{"Purge", func(ctx context.Context, c *Cache) error { return c.Purge(ctx, "http://example.com/x") }},
		{"PurgeTags", func(ctx context.Context, c *Cache) error { return c.PurgeTags(ctx, "t") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			c, _ := testCache(t, b.PatientClientAt(p.Addr()), b.Prefix, testNewClock(), nil)
			if err := tt.purge(context.Background(), c); err != nil { // opens the connection the stall catches
				t.Fatal(err)
			}
			p.Stall()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			var err error
			redistest.Within(t, 10*time.Second, tt.name+" on a stalled Redis", func() { err = tt.purge(ctx, c) })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v, want a deadline error", err)
			}
		})
	}
}

func TestFlushThroughCache(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	flushed := make(chan error, 1)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("part"))
		flushed <- http.NewResponseController(w).Flush()
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/flush", nil))
	if err := <-flushed; err != nil || !w.Flushed {
		t.Fatalf("flush: %v, flushed=%v", err, w.Flushed)
	}
}

// TestNoCacheResponseRevalidatesEveryUse: a response with no-cache and an
// ETag is stored, but every use asks the handler, which answers 304.
func TestNoCacheResponseRevalidatesEveryUse(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	var conditional atomic.Int64
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60, no-cache")
		w.Header().Set("ETag", `"n1"`)
		if r.Header.Get("If-None-Match") == `"n1"` {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("body"))
	}}
	h := c.Middleware(origin)
	for i := 0; i < 3; i++ {
		w := testDo(h, "GET", "http://example.com/nocache")
		if w.Code != 200 || w.Body.String() != "body" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body.String())
		}
	}
	if origin.calls.Load() != 3 || conditional.Load() != 2 {
		t.Fatalf("handler ran %d times, %d of them conditional; want 3 and 2", origin.calls.Load(), conditional.Load())
	}
}

func TestUpstreamAgeAndDate(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	start := clock.Now()
	tests := []struct {
		name   string
		resp   []string
		status string
		age    string
	}{
		{"Age from upstream counts", []string{"Cache-Control", "max-age=60", "Age", "30"}, "redisware; hit; ttl=29", "31"},
		{"Date in the past counts", []string{"Cache-Control", "max-age=60", "Date", clock.Now().Add(-20 * time.Second).Format(http.TimeFormat)}, "redisware; hit; ttl=39", "21"},
		{"Date centuries back is stale", []string{"Cache-Control", "max-age=60, stale-if-error=60", "Date", "Mon, 01 Jan 0001 00:00:00 GMT"}, "redisware; fwd=stale; fwd-status=200; stored", ""},
		{"Expires relative to Date", []string{"Date", clock.Now().Format(http.TimeFormat), "Expires", clock.Now().Add(90 * time.Second).Format(http.TimeFormat)}, "redisware; hit; ttl=89", "1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			h := c.Middleware(testStatic(200, "x", tt.resp...))
			url := "http://example.com/age/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			clock.Add(time.Second) // the entry has been resident a second
			w := testDo(h, "GET", url)
			if w.Header().Get("Cache-Status") != tt.status || w.Header().Get("Age") != tt.age {
				t.Fatalf("Cache-Status %q Age %q, want %q %q", w.Header().Get("Cache-Status"), w.Header().Get("Age"), tt.status, tt.age)
			}
		})
	}
}

func TestWithTTLPanicsOnNonPositive(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	defer func() {
		if recover() == nil {
			t.Fatal("WithTTL(0) did not panic")
		}
	}()
	c.WithTTL(0)
}

func TestEntryExpiry(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	// Without the stale grace, which TestRFC9111Section4_2_4StaleGraceExpiry covers.
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.StaleGrace = -1 })
	tests := []struct {
		name string
		resp []string
		want time.Duration
	}{
		{"freshness only", []string{"Cache-Control", "max-age=60"}, 60 * time.Second},
		{"validator keeps it for revalidation", []string{"Cache-Control", "max-age=60", "ETag", `"e"`}, 120 * time.Second},
		{"stale-while-revalidate", []string{"Cache-Control", "max-age=60, stale-while-revalidate=30"}, 90 * time.Second},
		{"stale-if-error wins when longer", []string{"Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=300"}, 360 * time.Second},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://example.com/expiry/" + strconv.Itoa(i)
			h := c.Middleware(testStatic(200, "x", tt.resp...))
			testDo(h, "GET", url)
			d, err := rdb.PTTL(ctx, c.keysFor(url).base).Result()
			if err != nil || d > tt.want || d < tt.want-5*time.Second {
				t.Fatalf("PTTL %v, %v; want about %v", d, err, tt.want)
			}
			if b.FastForward(tt.want + time.Second) {
				if w := testDo(h, "GET", url); w.Header().Get("Cache-Status") != "redisware; fwd=uri-miss; stored" {
					t.Fatalf("after expiry: %q", w.Header().Get("Cache-Status"))
				}
			}
		})
	}
}

func TestIncompleteBodyNotStored(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	tests := []struct {
		name   string
		cancel bool
		resp   []string
	}{
		{"short of Content-Length", false, []string{"Cache-Control", "max-age=60", "Content-Length", "10"}},
		{"client went away", true, []string{"Cache-Control", "max-age=60"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := testStatic(200, "trunc", tt.resp...)
			h := c.Middleware(origin)
			url := "http://example.com/incomplete/" + strconv.Itoa(i)
			for j := 0; j < 2; j++ {
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					cancel()
				}
				r := httptest.NewRequest("GET", url, nil).WithContext(ctx)
				h.ServeHTTP(httptest.NewRecorder(), r)
				cancel()
			}
			if n := origin.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times: an incomplete body was stored", n)
			}
		})
	}
}

// TestStaleNeverWhereForbidden: must-revalidate, proxy-revalidate, s-maxage
// and no-cache forbid serving the entry unvalidated, so neither
// stale-if-error, stale-while-revalidate nor the client's max-stale may.
func TestStaleNeverWhereForbidden(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	tests := []struct {
		name string
		cc   string
		req  []string
	}{
		{"must-revalidate, stale-if-error", "max-age=10, must-revalidate, stale-if-error=600", nil},
		{"proxy-revalidate, stale-if-error", "max-age=10, proxy-revalidate, stale-if-error=600", nil},
		{"s-maxage, stale-if-error", "s-maxage=10, stale-if-error=600", nil},
		{"no-cache, stale-if-error", "max-age=600, no-cache, stale-if-error=600", nil},
		{"must-revalidate, stale-while-revalidate", "max-age=10, must-revalidate, stale-while-revalidate=600", nil},
		{"must-revalidate, max-stale", "max-age=10, must-revalidate", []string{"Cache-Control", "max-stale"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var broken atomic.Bool
			origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
				if broken.Load() {
					http.Error(w, "down", http.StatusBadGateway)
					return
				}
				w.Header().Set("Cache-Control", tt.cc)
				w.Header().Set("ETag", `"e"`)
				_, _ = w.Write([]byte("good"))
			}}
			h := c.Middleware(origin)
			url := "http://example.com/forbidden/" + strconv.Itoa(i)
			if w := testDo(h, "GET", url); !strings.Contains(w.Header().Get("Cache-Status"), "stored") {
				t.Fatalf("not stored: %q", w.Header().Get("Cache-Status"))
			}
			clock.Add(30 * time.Second)
			broken.Store(true)
			w := testDo(h, "GET", url, tt.req...)
			if w.Code != http.StatusBadGateway || w.Body.String() == "good" {
				t.Fatalf("served unvalidated: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
			}
			if n := origin.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2", n)
			}
		})
	}
}

// TestSetsDropExpiredMembers: the variants set of a hot URL and a tag set
// shared by many URLs keep only members whose entries still live (tag sets
// with a grace period), so neither grows with every variant or URL ever
// stored; and a URL's tag membership lasts as long as its longest variant.
func TestSetsDropExpiredMembers(t *testing.T) {
	b := redistest.Start(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if !b.SetTime(t0) {
		t.Skip("the scripts read Redis TIME, which only miniredis lets a test move")
	}
	rdb := b.Client()
	clock := testNewClock()
	// No stale grace: the minutes below are counted without it.
	c, _ := testCache(t, rdb, b.Prefix, clock, func(o *Options) { o.StaleGrace = -1 })
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		maxAge := "60"
		if r.Header.Get("Accept") == "long" {
			maxAge = "3600"
		}
		w.Header().Set("Cache-Control", "max-age="+maxAge)
		w.Header().Set("Vary", "Accept")
		w.Header().Set("Cache-Tag", "shared")
		_, _ = w.Write([]byte("x"))
	}}
	h := c.Middleware(origin)
	advance := func(d time.Duration) {
		clock.Add(d)
		b.FastForward(d)
		t0 = t0.Add(d)
		b.SetTime(t0)
	}
	ctx := context.Background()
	card := func(key string) int64 {
		n, err := rdb.ZCard(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const hot = "http://example.com/hot"
	testDo(h, "GET", hot, "Accept", "long")
	for i := 0; i < 5; i++ {
		testDo(h, "GET", hot, "Accept", "short/"+strconv.Itoa(i))
		testDo(h, "GET", "http://example.com/cold/"+strconv.Itoa(i), "Accept", "x")
		advance(3 * time.Minute)
	}
	testDo(h, "GET", hot, "Accept", "short/last")
	if n := card(c.keysFor(hot).variantsKey()); n != 2 {
		t.Errorf("variants set of the hot URL holds %d members, want 2 (long, short/last)", n)
	}
	advance(3 * time.Minute) // only the long variant of the hot URL is left
	testDo(h, "GET", "http://example.com/cold/last", "Accept", "x")
	tag := c.tagKey("shared")
	if n := card(tag); n != 2 {
		t.Errorf("tag set holds %d members, want 2 (the hot URL, cold/last)", n)
	}
	if err := c.PurgeTags(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if w := testDo(h, "GET", hot, "Accept", "long"); strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatal("the long-lived variant survived PurgeTags")
	}
}

// TestRevalidation304ForAnotherRepresentation: a 304 whose ETag is not the
// stored one's does not freshen the entry (RFC 9111 §4.3.4); the cache asks
// again without conditions and stores what comes.
func TestRevalidation304ForAnotherRepresentation(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	var version atomic.Value
	version.Store(`"v1"`)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		et := version.Load().(string)
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", et)
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified) // wrongly: it names the new ETag
			return
		}
		_, _ = w.Write([]byte(et))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/reval-other"
	testDo(h, "GET", url)
	clock.Add(time.Minute)
	version.Store(`"v2"`)
	w := testDo(h, "GET", url)
	if w.Code != 200 || w.Body.String() != `"v2"` || w.Header().Get("Etag") != `"v2"` {
		t.Fatalf("after a 304 for another representation: %d %q ETag %q", w.Code, w.Body.String(), w.Header().Get("Etag"))
	}
	if n := origin.calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3 (fill, conditional, unconditional)", n)
	}
	if w := testDo(h, "GET", url); w.Body.String() != `"v2"` || !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("next request: %q %q", w.Body.String(), w.Header().Get("Cache-Status"))
	}
}

// TestFreshnessPrecedence: s-maxage, then max-age, then Expires, then (on
// a WithTTL route only) the route's TTL (RFC 9111 §4.2.1).
func TestFreshnessPrecedence(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	start := clock.Now()
	expires := start.Add(90 * time.Second).Format(http.TimeFormat)
	date := start.Format(http.TimeFormat)
	tests := []struct {
		name     string
		routeTTL time.Duration
		resp     []string
		status   string
	}{
		{"s-maxage over max-age", 0, []string{"Cache-Control", "max-age=60, s-maxage=30"}, "redisware; hit; ttl=30"},
		{"max-age over Expires", 0, []string{"Cache-Control", "max-age=30", "Date", date, "Expires", expires}, "redisware; hit; ttl=30"},
		{"Expires", 0, []string{"Date", date, "Expires", expires}, "redisware; hit; ttl=90"},
		{"invalid Expires is stale", time.Hour, []string{"Date", date, "Expires", "0", "ETag", `"e"`}, "redisware; fwd=stale; fwd-status=200; stored"},
		{"explicit freshness over the route TTL", time.Hour, []string{"Cache-Control", "max-age=30"}, "redisware; hit; ttl=30"},
		{"route TTL", time.Hour, nil, "redisware; hit; ttl=3600"},
		{"no route TTL, no freshness", 0, nil, "redisware; fwd=uri-miss"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			origin := testStatic(200, "x", tt.resp...)
			var h http.Handler = c.Middleware(origin)
			if tt.routeTTL > 0 {
				h = c.WithTTL(tt.routeTTL)(origin)
			}
			url := "http://example.com/precedence/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			if w := testDo(h, "GET", url); w.Header().Get("Cache-Status") != tt.status {
				t.Fatalf("Cache-Status %q, want %q", w.Header().Get("Cache-Status"), tt.status)
			}
		})
	}
}

// TestConditionalMissIsStored: a cold URL asked for conditionally (browsers
// revalidating after a purge) is filled with a full response, so the next
// conditional requests get 304 from the cache instead of each running the
// handler.
func TestConditionalMissIsStored(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	var sawConditional atomic.Bool
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			sawConditional.Store(true)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("body"))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/conditional-miss"
	cond := []string{"If-None-Match", `"v1"`, "If-Modified-Since", "Sun, 01 Mar 2026 11:00:00 GMT"}
	w := testDo(h, "GET", url, cond...)
	if w.Code != 200 || w.Body.String() != "body" || w.Header().Get("Cache-Status") != "redisware; fwd=uri-miss; stored" {
		t.Fatalf("filling request: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
	}
	w = testDo(h, "GET", url, cond...)
	if w.Code != http.StatusNotModified || !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("next conditional request: %d %q", w.Code, w.Header().Get("Cache-Status"))
	}
	if sawConditional.Load() || origin.calls.Load() != 1 {
		t.Fatalf("handler ran %d times, saw the client's conditions: %v", origin.calls.Load(), sawConditional.Load())
	}
	// A request that will not be stored keeps its conditions.
	w = testDo(h, "GET", "http://example.com/conditional-no-store", append(cond, "Cache-Control", "no-store")...)
	if w.Code != http.StatusNotModified || !sawConditional.Load() {
		t.Fatalf("no-store request: %d, handler saw the conditions: %v", w.Code, sawConditional.Load())
	}
}

// whenWaiting returns a channel closed once requests of the caches have
// begun n waits for fills between them (Cache.waits), observed by polling;
// it gives up after 30 s, leaving the channel open for the caller's own
// safety net to report.
func whenWaiting(n int64, cs ...*Cache) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			var sum int64
			for _, c := range cs {
				sum += c.waits.Load()
			}
			if sum >= n {
				close(ch)
				return
			}
		}
	}()
	return ch
}
