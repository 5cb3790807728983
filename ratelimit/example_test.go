package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
)

// newRedis returns a client of an in-process Redis whose clock is fixed,
// so the examples' output is stable. Use your own client in real code.
func newRedis() (redis.UniversalClient, func()) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { _ = rdb.Close(); mr.Close() }
}

// Per-route limits on a net/http ServeMux: each route wraps its handler.
func Example() {
	rdb, done := newRedis()
	defer done()

	lim, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		panic(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })

	mux := http.NewServeMux()
	// Two requests per minute per client address on /hello; /free is not limited.
	mux.Handle("GET /hello", lim.Handler(middleware.KeyByIP, ratelimit.PerMinute(2))(hello))
	mux.Handle("GET /free", hello)

	for range 3 {
		r := httptest.NewRequest("GET", "/hello", nil)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		h := w.Header()
		fmt.Printf("%d RateLimit-Policy: %s RateLimit: %s Retry-After: %q\n",
			w.Code, h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit-Policy: "minute";q=2;w=60 RateLimit: "minute";r=1;t=30 Retry-After: ""
	// 200 RateLimit-Policy: "minute";q=2;w=60 RateLimit: "minute";r=0;t=30 Retry-After: ""
	// 429 RateLimit-Policy: "minute";q=2;w=60 RateLimit: "minute";r=0;t=30 Retry-After: "30"
}

// Limiting a code path: five login attempts per minute per account, and
// 100 per hour per client address, decided together.
func ExampleLimiter_Allow() {
	rdb, done := newRedis()
	defer done()
	lim, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := range 6 {
		res, err := lim.Allow(ctx, "login:alice@example.com", ratelimit.PerMinute(5))
		if err != nil {
			// Redis failed; res holds the decision of Options.Failure.
			fmt.Println("limiter:", err)
		}
		if !res.Allowed {
			fmt.Printf("attempt %d: wait %v\n", i+1, res.RetryAfter)
			continue
		}
		fmt.Printf("attempt %d: ok, %d left\n", i+1, res.Limits[0].Remaining)
	}
	// Output:
	// attempt 1: ok, 4 left
	// attempt 2: ok, 3 left
	// attempt 3: ok, 2 left
	// attempt 4: ok, 1 left
	// attempt 5: ok, 0 left
	// attempt 6: wait 12s
}

// A request can cost more than one unit: here an export costs 10 of the
// route's 20 per minute.
func ExampleWithCost() {
	rdb, done := newRedis()
	defer done()
	lim, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		panic(err)
	}
	export := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	costly := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("format") == "csv" {
				r = r.WithContext(ratelimit.WithCost(r.Context(), 10))
			}
			next.ServeHTTP(w, r)
		})
	}
	h := middleware.Chain(costly, lim.Handler(middleware.KeyByIP, ratelimit.PerMinute(20)))(export)
	for _, url := range []string{"/export?format=csv", "/export", "/export?format=csv", "/export"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", url, nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "minute";r=10;t=3
	// 200 "minute";r=9;t=3
	// 429 "minute";r=9;t=3
	// 200 "minute";r=8;t=3
}

// When Redis is down, FailLocal keeps limiting with an in-process limiter.
func ExampleOptions_failLocal() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}) // nothing listens there
	defer rdb.Close()
	lim, err := ratelimit.New(rdb, ratelimit.Options{
		Failure: ratelimit.FailLocal,
		OnError: func(context.Context, error) {}, // quiet for the example; the default logs
	})
	if err != nil {
		panic(err)
	}
	for range 3 {
		res, err := lim.Allow(context.Background(), "k", ratelimit.PerHour(2))
		fmt.Println(res.Allowed, res.Source, err != nil)
	}
	// Output:
	// true local true
	// true local true
	// false local true
}
