// Command quickstart is the README's program: sessions, a rate-limited
// login, a cached page, live events and a health check on one Redis.
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
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
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	app, err := newApp(rdb, securecookie.GenerateRandomKey(32), "") // a random key: cookies die on restart
	if err != nil {
		log.Fatal(err)
	}
	log.Print("open http://localhost:8080/products/42")
	log.Fatal(http.ListenAndServe("localhost:8080", app))
}

// newApp builds the handler; every Redis key starts with prefix ("" for the defaults).
func newApp(rdb redis.UniversalClient, key []byte, prefix string) (http.Handler, error) {
	// Insecure lets the cookie work on http://localhost; production serves HTTPS without it.
	sessions, err1 := session.New(rdb, session.Options{Keys: [][]byte{key}, Insecure: true, Prefix: prefix + "session:"})
	limiter, err2 := ratelimit.New(rdb, ratelimit.Options{Prefix: prefix + "ratelimit:"})
	cache, err3 := cachehandler.New(rdb, cachehandler.Options{Prefix: prefix + "cache:"})
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /products/{id}", cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60") // one render serves every visitor for a minute
		fmt.Fprintf(w, "product %s, rendered at %s\n", r.PathValue("id"), time.Now().Format(time.TimeOnly))
	})))
	login := limiter.Handler(middleware.KeyByIP, ratelimit.PerMinute(5).Named("login"))
	mux.Handle("POST /login", login(sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Check the password first; Login then renews the session ID.
		if err := session.FromContext(r.Context()).Login(r.FormValue("user")); err != nil {
			http.Error(w, "user: 1 to 512 bytes", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "logged in")
	}))))
	mux.Handle("GET /events", pubsub.SSE(rdb, func(*http.Request) ([]string, error) { return []string{prefix + "orders"}, nil }))
	mux.Handle("GET /healthz", middleware.Health(rdb, time.Second))
	return middleware.ClientIP()(mux), nil
}
