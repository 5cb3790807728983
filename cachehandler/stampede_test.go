package cachehandler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestStampedeAcrossInstances sends 200 concurrent requests for one cold URL
// to two instances with separate clients; the handler holds the fill until
// the 199 other requests are all waiting, and must run once.
func TestStampedeAcrossInstances(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c1, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	c2, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	const n = 200
	allWaiting := whenWaiting(n-1, c1, c2)
	stuck := make(chan struct{})
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-allWaiting:
		case <-time.After(30 * time.Second): // safety net: fail, don't hang
			close(stuck)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("filled once"))
	}}
	handlers := []http.Handler{c1.Middleware(origin), c2.Middleware(origin)}
	results := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = testDo(handlers[i%2], "GET", "http://example.com/stampede")
		}()
	}
	wg.Wait()
	select {
	case <-stuck:
		t.Fatalf("only %d of %d requests waited for the fill", c1.waits.Load()+c2.waits.Load(), n-1)
	default:
	}
	statuses := map[string]int{}
	for i, w := range results {
		if w.Code != 200 || w.Body.String() != "filled once" {
			t.Fatalf("response %d: %d %q", i, w.Code, w.Body.String())
		}
		statuses[w.Header().Get("Cache-Status")]++
	}
	if calls := origin.calls.Load(); calls != 1 {
		t.Fatalf("handler ran %d times, want 1; Cache-Status counts: %v", calls, statuses)
	}
	if statuses["redisware; fwd=uri-miss; stored"] != 1 || statuses["redisware; fwd=uri-miss; collapsed; ttl=60"] != n-1 {
		t.Fatalf("Cache-Status counts: %v", statuses)
	}
}

// TestFillWaitBounded: when the filler takes longer than FillWait, a waiter
// stops waiting and runs the handler itself.
func TestFillWaitBounded(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c1, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	c2, _ := testCache(t, b.Client(), b.Prefix, clock, func(o *Options) { o.FillWait = time.Millisecond })
	entered, release := make(chan struct{}), make(chan struct{})
	slow := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("slow"))
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testDo(c1.Middleware(slow), "GET", "http://example.com/bounded")
	}()
	<-entered
	fast := testStatic(200, "fast", "Cache-Control", "max-age=60")
	w := testDo(c2.Middleware(fast), "GET", "http://example.com/bounded")
	close(release)
	<-done
	if w.Body.String() != "fast" || fast.calls.Load() != 1 {
		t.Fatalf("waiter: %q, its handler ran %d times", w.Body.String(), fast.calls.Load())
	}
}

func TestRoundTrips(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	rdb := b.Client()
	counter := redistest.Count(rdb)
	c, _ := testCache(t, rdb, b.Prefix, clock, nil)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Cache-Tag", "rt")
		if strings.Contains(r.URL.Path, "vary") {
			w.Header().Set("Vary", "Accept-Encoding")
		}
		_, _ = w.Write([]byte("x"))
	}}
	h := c.Middleware(origin)
	testDo(h, "GET", "http://example.com/warm") // loads the scripts

	// Each case has its own URL (stored first where it needs a hit), so
	// any one of them runs alone.
	tests := []struct {
		name   string
		path   string
		stored bool // the URL is stored before the counted request
		want   int64
	}{
		{"miss that stores", "/rt-miss", false, 3},
		{"fresh hit", "/rt-hit", true, 1},
		{"miss that stores, with Vary", "/rt-vary-miss", false, 3},
		{"fresh hit, with Vary", "/rt-vary-hit", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.stored {
				testDo(h, "GET", "http://example.com"+tt.path, "Accept-Encoding", "gzip")
			}
			counter.Reset()
			testDo(h, "GET", "http://example.com"+tt.path, "Accept-Encoding", "gzip")
			if got := counter.N(); got != tt.want {
				t.Fatalf("round trips = %d, want %d: %v", got, tt.want, counter.Commands())
			}
			t.Logf("%d round trips: %v", counter.N(), counter.Commands())
		})
	}

	t.Run("an instance learning a URL's Vary names", func(t *testing.T) {
		rdb2 := b.Client()
		counter2 := redistest.Count(rdb2)
		c2, _ := testCache(t, rdb2, b.Prefix, clock, nil)
		h2 := c2.Middleware(origin)
		c3, _ := testCache(t, rdb2, b.Prefix, clock, nil)
		testDo(h, "GET", "http://example.com/rt-learn-vary", "Accept-Encoding", "gzip") // stored by another instance
		counter2.Reset()
		testDo(c3.Middleware(origin), "GET", "http://example.com/rt-learn-vary", "Accept-Encoding", "gzip")
		if got := counter2.N(); got != 2 {
			t.Fatalf("first hit in an instance: %d round trips, want 2 (index, then variant): %v", got, counter2.Commands())
		}
		for _, step := range []struct {
			name, enc string
			want      int64
		}{
			{"first lookup misses: index, variant, lock, store", "br", 4},
			{"hit of it: index and variant at once", "br", 1},
			{"hit of another variant", "gzip", 1},
		} {
			counter2.Reset()
			testDo(h2, "GET", "http://example.com/rt-learn-vary", "Accept-Encoding", step.enc)
			if got := counter2.N(); got != step.want {
				t.Fatalf("%s: %d round trips, want %d: %v", step.name, got, step.want, counter2.Commands())
			}
		}
	})

	t.Run("100 concurrent hits", func(t *testing.T) {
		testDo(h, "GET", "http://example.com/rt-concurrent") // stored
		gated := b.Client()
		gate := &testGateAll{}
		gated.AddHook(gate)
		gatedCount := redistest.Count(gated)
		if err := gated.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		open := make(chan struct{})
		gate.gate.Store(&open)
		gc, _ := testCache(t, gated, b.Prefix, clock, nil)
		hc := gc.Middleware(origin)
		const n = 100
		var arrived atomic.Int64
		front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == n {
				close(open) // the first GET was held until every request came in
			}
			hc.ServeHTTP(w, r)
		})
		gatedCount.Reset()
		var wg sync.WaitGroup
		var hits atomic.Int64
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if w := testDo(front, "GET", "http://example.com/rt-concurrent"); strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
					hits.Add(1)
				}
			}()
		}
		wg.Wait()
		if hits.Load() != n {
			t.Fatalf("%d of %d were hits", hits.Load(), n)
		}
		if got := gatedCount.N(); got > 10 {
			t.Fatalf("%d concurrent hits cost %d round trips", n, got)
		}
		t.Logf("%d concurrent hits cost %d round trips", n, gatedCount.N())
	})
}

// TestStampedePerVariant: concurrent fills of two variants of one URL, across
// two instances, each run the handler once and do not wait for each other.
func TestStampedePerVariant(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c1, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	c2, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	const perVariant = 10
	var allWaiting <-chan struct{} // set before the concurrent requests start
	stuck := make(chan struct{}, 2)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "identity" {
			select {
			case <-allWaiting:
			case <-time.After(30 * time.Second): // safety net: fail, don't hang
				stuck <- struct{}{}
			}
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Encoding")))
	}}
	const url = "http://example.com/variants"
	testDo(c1.Middleware(origin), "GET", url, "Accept-Encoding", "identity") // writes the variant index
	allWaiting = whenWaiting(c1.waits.Load()+c2.waits.Load()+2*(perVariant-1), c1, c2)
	handlers := []http.Handler{c1.Middleware(origin), c2.Middleware(origin)}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := 0; i < 2*perVariant; i++ {
		enc := []string{"gzip", "br"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := testDo(handlers[(i/2)%2], "GET", url, "Accept-Encoding", enc); w.Body.String() != enc {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	if len(stuck) > 0 {
		t.Fatalf("only %d requests waited", c1.waits.Load()+c2.waits.Load())
	}
	if calls := origin.calls.Load(); calls != 3 || wrong.Load() != 0 {
		t.Fatalf("handler ran %d times (want 3: identity, gzip, br); %d wrong bodies", calls, wrong.Load())
	}
}

// TestCollapsedOlderEntryHonoursNoCache: a request with no-cache whose fill
// another instance holds must not be answered, after its wait, from the
// entry that was stored before it arrived.
func TestCollapsedOlderEntryHonoursNoCache(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, func(o *Options) { o.FillWait = time.Millisecond })
	origin := testStatic(200, "x", "Cache-Control", "max-age=60")
	h := c.Middleware(origin)
	const url = "http://example.com/older"
	testDo(h, "GET", url)
	clock.Add(time.Second)
	// Another instance holds the fill lock and never announces.
	ctx := context.Background()
	if err := b.Client().Set(ctx, c.keysFor(url).lockKey(), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	w := testDo(h, "GET", url, "Cache-Control", "no-cache")
	if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=request; fwd-status=200; stored" {
		t.Fatalf("Cache-Status %q: the client's no-cache was not honoured", got)
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

// TestStampedeColdVariants: one instance, a cold URL asked for in two
// variants at once. The first fill stores one variant; the waiters for the
// other then coalesce on their own variant's fill, so the handler runs
// once per variant.
func TestStampedeColdVariants(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	const n = 20 // n/2 per variant
	// Every request but the first fill's waits; then the other variant's
	// requests wait for its fill.
	firstRound, secondRound := whenWaiting(n-1, c), whenWaiting(n-1+n/2-1, c)
	stuck := make(chan struct{}, n)
	origin := &testOrigin{}
	origin.fn = func(w http.ResponseWriter, r *http.Request) {
		gate := firstRound
		if origin.calls.Load() > 1 {
			gate = secondRound
		}
		select {
		case <-gate:
		case <-time.After(30 * time.Second): // safety net: fail, don't hang
			stuck <- struct{}{}
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Encoding")))
	}
	h := c.Middleware(origin)
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := 0; i < n; i++ {
		enc := []string{"gzip", "br"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := testDo(h, "GET", "http://example.com/cold-variants", "Accept-Encoding", enc); w.Body.String() != enc {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	if len(stuck) > 0 {
		t.Fatalf("only %d waits", c.waits.Load())
	}
	if calls := origin.calls.Load(); calls != 2 || wrong.Load() != 0 {
		t.Fatalf("handler ran %d times, want 2 (one per variant); %d wrong bodies", calls, wrong.Load())
	}
}

// TestCloseReleasesSubscription: Close wakes the requests waiting for
// another instance's fill (they run the handler at once) and releases the
// Pub/Sub connection.
func TestCloseReleasesSubscription(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.FillWait = time.Hour })
	origin := testStatic(200, "x", "Cache-Control", "max-age=60")
	const url = "http://example.com/close"
	ctx := context.Background()
	if err := rdb.Set(ctx, c.keysFor(url).lockKey(), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	waiting := whenWaiting(1, c)
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- testDo(c.Middleware(origin), "GET", url) }()
	<-waiting
	numsub := func() int64 {
		m, err := rdb.PubSubNumSub(ctx, c.fillChannel()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[c.fillChannel()]
	}
	if n := numsub(); n != 1 {
		t.Fatalf("%d subscribers while waiting, want 1", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-done:
		if w.Body.String() != "x" || origin.calls.Load() != 1 {
			t.Fatalf("woken waiter: %q, handler ran %d times", w.Body.String(), origin.calls.Load())
		}
	case <-time.After(30 * time.Second): // safety net: fail, don't hang
		t.Fatal("Close did not wake the waiter")
	}
	// The server drops the subscriber when it sees the connection close,
	// which it does on its own time: wait for it, bounded.
	redistest.Eventually(t, "the fill subscription to end after Close", func() bool { return numsub() == 0 })
}

// testGateAll holds every command and pipeline while a gate is set,
// until that gate is closed.
type testGateAll struct{ gate atomic.Pointer[chan struct{}] }

func (h *testGateAll) wait() {
	if g := h.gate.Load(); g != nil {
		<-*g
	}
}

func (h *testGateAll) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *testGateAll) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.wait()
		return next(ctx, cmd)
	}
}
func (h *testGateAll) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.wait()
		return next(ctx, cmds)
	}
}

// TestConcurrentHitsKeepVariants: concurrent hits on two variants of one
// URL share Redis reads only within a variant; nobody gets the other's,
// whether the instance still has to learn the URL's Vary names (first
// round) or knows them and reads index and variant together (second).
func TestConcurrentHitsKeepVariants(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Encoding")))
	}}
	const url = "http://example.com/hot-variants"
	filler, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	for _, enc := range []string{"gzip", "br"} {
		testDo(filler.Middleware(origin), "GET", url, "Accept-Encoding", enc)
	}
	gated := b.Client()
	hook := &testGateAll{}
	gated.AddHook(hook)
	c, _ := testCache(t, gated, b.Prefix, clock, nil)
	h := c.Middleware(origin)
	for round := 1; round <= 2; round++ {
		const n = 100
		open := make(chan struct{})
		hook.gate.Store(&open)
		var arrived atomic.Int64
		front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == n {
				close(open) // Redis answers once every request is in
			}
			h.ServeHTTP(w, r)
		})
		var wg sync.WaitGroup
		var wrong, hits atomic.Int64
		for i := 0; i < n; i++ {
			enc := []string{"gzip", "br"}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := testDo(front, "GET", url, "Accept-Encoding", enc)
				if w.Body.String() != enc {
					wrong.Add(1)
				}
				if strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
					hits.Add(1)
				}
			}()
		}
		wg.Wait()
		if wrong.Load() != 0 || hits.Load() != n || origin.calls.Load() != 2 {
			t.Fatalf("round %d: %d wrong bodies, %d of %d hits, handler ran %d times", round, wrong.Load(), hits.Load(), n, origin.calls.Load())
		}
	}
}

// TestNoRefreshAfterClose: once closed, a stale-while-revalidate hit is
// still served but starts no background refresh for Close to miss.
func TestNoRefreshAfterClose(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	origin := testStatic(200, "x", "Cache-Control", "max-age=10, stale-while-revalidate=60")
	h := c.Middleware(origin)
	const url = "http://example.com/closed-swr"
	testDo(h, "GET", url)
	clock.Add(20 * time.Second)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	w := testDo(h, "GET", url)
	if w.Header().Get("Cache-Status") != "redisware; hit; ttl=-10; detail=stale-while-revalidate" {
		t.Fatalf("Cache-Status %q", w.Header().Get("Cache-Status"))
	}
	if err := c.Close(); err != nil { // waits for any refresh; there must be none
		t.Fatal(err)
	}
	if n := origin.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}
