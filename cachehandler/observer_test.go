package cachehandler

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// recorder is an Observer that keeps what it is told, as short strings.
type recorder struct {
	mu      sync.Mutex
	events  []string
	calls   []string
	breaker []middleware.BreakerEvent
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) observer() Observer {
	return Observer{
		OnServe: func(_ context.Context, e ServeEvent) {
			s := "serve " + e.Outcome.String()
			if e.Reason != "" {
				s += " " + e.Reason
			}
			r.add(fmt.Sprintf("%s %d", s, e.BodyBytes))
		},
		OnStore: func(_ context.Context, e StoreEvent) {
			s := "store "
			if e.Stored {
				s += "stored"
			} else {
				s += "not " + e.Reason
			}
			if e.Revalidated {
				s += " revalidated"
			}
			r.add(fmt.Sprintf("%s %d", s, e.BodyBytes))
		},
		OnWait: func(_ context.Context, e WaitEvent) {
			if e.Duration < 0 {
				r.add("wait with a negative duration")
			}
			r.add("wait " + e.Outcome.String())
		},
		OnPurge: func(_ context.Context, e PurgeEvent) {
			if e.Duration < 0 {
				r.add("purge with a negative duration")
			}
			s := "purge " + e.Kind.String()
			if e.Err != nil {
				s += " failed"
			}
			r.add(s)
		},
		OnRedisCall: func(_ context.Context, c middleware.RedisCall) {
			s := c.Operation
			if c.Err != nil {
				s += " failed"
			}
			r.mu.Lock()
			r.calls = append(r.calls, s)
			r.mu.Unlock()
		},
		OnBreaker: func(e middleware.BreakerEvent) {
			r.mu.Lock()
			r.breaker = append(r.breaker, e)
			r.mu.Unlock()
		},
	}
}

// take returns and forgets the events and the calls.
func (r *recorder) take() (events, calls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	events, calls = r.events, r.calls
	r.events, r.calls = nil, nil
	return events, calls
}

// TestObserver drives every way a request can be answered, stored or not,
// and purged, and checks each was reported as what it was.
func TestObserver(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	var rec recorder
	c, _ := testCache(t, b.Client(), b.Prefix, clock, func(o *Options) {
		o.Observer = rec.observer()
		o.MaxBodyBytes = 64
		o.Hosts = []string{"example.com"}
	})
	ctx := context.Background()
	failing := false
	mux := http.NewServeMux()
	mux.Handle("/fresh", testStatic(200, "hello", "Cache-Control", "max-age=60", "Cache-Tag", "t"))
	mux.Handle("/no-store", testStatic(200, "x", "Cache-Control", "no-store"))
	mux.Handle("/big", testStatic(200, strings.Repeat("b", 100), "Cache-Control", "max-age=60"))
	mux.Handle("/swr", testStatic(200, "swr", "Cache-Control", "max-age=10, stale-while-revalidate=100"))
	mux.HandleFunc("/etag", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("tagged"))
	})
	mux.HandleFunc("/sie", func(w http.ResponseWriter, r *http.Request) {
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=100")
		_, _ = w.Write([]byte("ok"))
	})
	h := c.Middleware(mux)
	const site = "http://example.com"

	for _, step := range []struct {
		name   string
		do     func()
		events []string
		calls  []string // nil: not checked
	}{
		{"miss, stored", func() { testDo(h, "GET", site+"/fresh") },
			[]string{"store stored 5", "serve miss uri-miss 5"}, []string{"lookup", "lock", "store"}},
		{"hit", func() { testDo(h, "GET", site+"/fresh") },
			[]string{"serve hit 5"}, []string{"lookup"}},
		{"no-store", func() { testDo(h, "GET", site+"/no-store") },
			[]string{"store not no-store 1", "serve miss uri-miss 1"}, nil},
		{"too large", func() { testDo(h, "GET", site+"/big") },
			[]string{"store not too-large 100", "serve miss uri-miss 100"}, nil},
		{"only-if-cached", func() { testDo(h, "GET", site+"/nowhere", "Cache-Control", "only-if-cached") },
			[]string{"serve miss only-if-cached 0"}, []string{"lookup"}},
		{"fills", func() {
			testDo(h, "GET", site+"/swr")
			testDo(h, "GET", site+"/etag")
			testDo(h, "GET", site+"/sie")
		}, []string{"store stored 3", "serve miss uri-miss 3", "store stored 6", "serve miss uri-miss 6", "store stored 2", "serve miss uri-miss 2"}, nil},
		{"stale-while-revalidate, refreshed in the background", func() {
			clock.Add(20 * time.Second)
			testDo(h, "GET", site+"/swr")
			c.bg.Wait()
		}, []string{"serve stale stale-while-revalidate 3", "store stored 3"}, nil},
		{"revalidated", func() { testDo(h, "GET", site+"/etag") },
			[]string{"store stored revalidated 6", "serve revalidated 6"}, nil},
		{"stale-if-error", func() { failing = true; testDo(h, "GET", site+"/sie") },
			[]string{"serve stale stale-if-error 2"}, nil},
		{"unsafe method", func() { testDo(h, "POST", site+"/fresh") },
			[]string{"purge invalidate", "serve bypass method 5"}, []string{"invalidate"}},
		{"OPTIONS", func() { testDo(h, "OPTIONS", site+"/fresh") },
			[]string{"serve bypass method 5"}, []string{}},
		{"a host the cache does not serve", func() { testDo(h, "GET", "http://evil.example/fresh") },
			[]string{"serve bypass unknown-host 5"}, []string{}},
		{"purges", func() {
			if err := c.Purge(ctx, site+"/swr"); err != nil {
				t.Fatal(err)
			}
			if err := c.PurgeTags(ctx, "t"); err != nil {
				t.Fatal(err)
			}
		}, []string{"purge url", "purge tags"}, []string{}},
	} {
		step.do()
		events, calls := rec.take()
		if strings.Join(events, "|") != strings.Join(step.events, "|") {
			t.Fatalf("%s: events\n %q\nwant\n %q", step.name, events, step.events)
		}
		if step.calls != nil && strings.Join(calls, "|") != strings.Join(step.calls, "|") {
			t.Fatalf("%s: calls %q, want %q", step.name, calls, step.calls)
		}
		for _, call := range calls {
			if strings.HasSuffix(call, "failed") {
				t.Fatalf("%s: calls %q", step.name, calls)
			}
		}
	}
}

// TestObserverCollapsed: a request that waits for another's fill reports
// its wait, then its answer from the entry the fill stored.
func TestObserverCollapsed(t *testing.T) {
	b := redistest.Start(t)
	var rec recorder
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), func(o *Options) { o.Observer = rec.observer() })
	waiting := whenWaiting(1, c)
	h := c.Middleware(&testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-waiting:
		case <-time.After(30 * time.Second): // safety net: the test then fails on its events
		}
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("once"))
	}})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { testDo(h, "GET", "http://example.com/collapsed") })
	}
	wg.Wait()
	events, _ := rec.take()
	slices.Sort(events)
	want := []string{"serve collapsed 4", "serve miss uri-miss 4", "store stored 4", "wait filled"}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// TestObserverOutage: with Redis down the cache is bypassed and says so;
// failed calls carry their errors, and the breaker's changes come with the
// outage's length and the requests it refused.
func TestObserverOutage(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	clock := testNewClock()
	var rec recorder
	c, _ := testCache(t, b.ClientAt(p.Addr()), b.Prefix, clock, func(o *Options) {
		o.Observer = rec.observer()
		o.Timeout = time.Second
	})
	c.guard.Breaker.Now = clock.Now
	h := c.Middleware(testStatic(200, "origin", "Cache-Control", "max-age=60"))
	p.Down()
	for range 7 { // five failures open the breaker, which refuses two lookups
		testDo(h, "GET", "http://example.com/down")
	}
	events, calls := rec.take()
	if len(events) != 7 || len(calls) != 5 {
		t.Fatalf("events %q, calls %q", events, calls)
	}
	for _, e := range events {
		if e != "serve bypass redis-error 6" {
			t.Fatalf("events %q", events)
		}
	}
	for _, call := range calls {
		if call != "lookup failed" {
			t.Fatalf("calls %q", calls)
		}
	}
	p.Up()
	var waited time.Duration
	for i := 0; i < 4; i++ { // the first probe may meet a connection the outage closed
		clock.Add(time.Second)
		waited += time.Second
		if w := testDo(h, "GET", "http://example.com/up"); strings.Contains(w.Header().Get("Cache-Status"), "stored") {
			break
		}
	}
	rec.mu.Lock()
	changes := rec.breaker
	rec.mu.Unlock()
	if len(changes) != 2 || changes[0] != (middleware.BreakerEvent{Kind: middleware.BreakerOpened}) ||
		changes[1].Kind != middleware.BreakerClosed || changes[1].Outage != waited || changes[1].Refused != 2 {
		t.Fatalf("breaker changes %v: want opened, then closed after %v with 2 refused", changes, waited)
	}
}
