package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
)

// Per-route limits with chi: r.With adds the limiter to one route only.
// One Limiter serves every route.
func ExampleLimiter_Handler_chi() {
	rdb, done := newRedis()
	defer done()
	lim, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		panic(err)
	}

	r := chi.NewRouter()
	r.Use(middleware.ClientIP()) // resolve the client address once
	// 10 per second with bursts of 20, and 1000 per hour, per client.
	r.With(lim.Handler(middleware.KeyByIP,
		ratelimit.PerSecond(10).WithBurst(20),
		ratelimit.PerHour(1000),
	)).Get("/api", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "api") })
	// A stricter, separately named budget for logins, per client and path.
	r.With(lim.Handler(middleware.JoinKeys(middleware.KeyByIP, middleware.KeyByPath),
		ratelimit.PerMinute(5).Named("login"),
	)).Post("/login", func(w http.ResponseWriter, r *http.Request) {})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {}) // not limited

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/api", nil))
	fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"))
	fmt.Println(w.Header().Get("RateLimit"))

	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"))
	fmt.Println(w.Header().Get("RateLimit"))
	// Output:
	// 200 "second";q=10;w=1, "hour";q=1000;w=3600
	// "second";r=19;t=1
	// 200 "login";q=5;w=60
	// "login";r=4;t=12
}
