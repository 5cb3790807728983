// Command chi is the README's example on a chi router: the same
// application as examples/stdlib, with r.Use for what every route gets and
// r.With for per-route limits and caching.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 SESSION_KEY=$(openssl rand -hex 32) go run ./examples/chi
package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/securecookie"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/pubsub"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		fail(err)
	}
	opt.ContextTimeoutEnabled = true // go-redis then ends calls at redisware's timeouts itself
	rdb := redis.NewClient(opt)
	rdb.AddHook(middleware.Redial(0)) // notice a restarted Redis within 10 ms, not up to a second
	defer rdb.Close()

	h, err := newRouter(rdb, sessionKey(), "")
	if err != nil {
		fail(err)
	}
	slog.Info("listening", "addr", ":8080", "redis", opt.Addr)
	fail(http.ListenAndServe(":8080", h))
}

// newRouter builds the whole application; prefix starts every Redis key
// (tests use their own, the program the packages' defaults).
func newRouter(rdb redis.UniversalClient, key []byte, prefix string) (http.Handler, error) {
	sessions, err := session.New(rdb, session.Options{Keys: [][]byte{key}, Insecure: true, Prefix: prefix + "session:"})
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.New(rdb, ratelimit.Options{Prefix: prefix + "ratelimit:"})
	if err != nil {
		return nil, err
	}
	cache, err := cachehandler.New(rdb, cachehandler.Options{Prefix: prefix + "cache:"})
	if err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	r.Use(middleware.ClientIP(), sessions.Middleware)
	r.Get("/healthz", middleware.Health(rdb, time.Second).ServeHTTP)
	r.With(cache.Middleware).Get("/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "product %s\n", chi.URLParam(r, "id"))
	})
	r.With(cache.WithTTL(time.Minute)).Get("/report", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "a slow report, cached for a minute")
	})
	r.With(limiter.Handler(middleware.KeyByIP, ratelimit.PerSecond(10).WithBurst(20), ratelimit.PerHour(1000))).
		Get("/api", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "api") })
	r.With(limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(5).Named("login"))).Post("/login", login)
	r.Get("/events", pubsub.SSE(rdb, func(*http.Request) ([]string, error) { return []string{prefix + "orders"}, nil }).ServeHTTP)
	return r, nil
}

func login(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("user")
	if user == "" {
		http.Error(w, "user is required", http.StatusBadRequest)
		return
	}
	if err := session.FromContext(r.Context()).Login(user); err != nil {
		http.Error(w, "login failed", http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "hello %s\n", user)
}

// sessionKey reads the cookie signing key from SESSION_KEY (hex, at least
// 32 bytes), or makes a random one: cookies then die with the process.
func sessionKey() []byte {
	if k, err := hex.DecodeString(os.Getenv("SESSION_KEY")); err == nil && len(k) >= 32 {
		return k
	}
	slog.Warn("SESSION_KEY unset or shorter than 32 bytes: using a random key")
	return securecookie.GenerateRandomKey(32)
}

func fail(err error) {
	slog.Error("chi example", "err", err)
	os.Exit(1)
}
