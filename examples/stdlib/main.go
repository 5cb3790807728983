// Command stdlib is the README's example on net/http's ServeMux: sessions
// on every route, a rate-limited login, a cached product page, a live event
// stream and a health check, all on one Redis client.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 SESSION_KEY=$(openssl rand -hex 32) go run ./examples/stdlib
package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

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

	h, err := newHandler(rdb, sessionKey(), "")
	if err != nil {
		fail(err)
	}
	slog.Info("listening", "addr", ":8080", "redis", opt.Addr)
	fail(http.ListenAndServe(":8080", h))
}

// newHandler builds the whole application; prefix starts every Redis key
// (tests use their own, the program the packages' defaults).
func newHandler(rdb redis.UniversalClient, key []byte, prefix string) (http.Handler, error) {
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

	mux := http.NewServeMux()
	mux.Handle("GET /products/{id}", cache.Middleware(http.HandlerFunc(product)))
	mux.Handle("POST /login", limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(5).Named("login"))(http.HandlerFunc(login)))
	mux.Handle("GET /events", pubsub.SSE(rdb, func(*http.Request) ([]string, error) { return []string{prefix + "orders"}, nil }))
	mux.Handle("GET /healthz", middleware.Health(rdb, time.Second))

	return middleware.Chain(middleware.ClientIP(), sessions.Middleware)(mux), nil
}

func product(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	fmt.Fprintf(w, "product %s\n", r.PathValue("id"))
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
	slog.Error("stdlib example", "err", err)
	os.Exit(1)
}
