// Command demo is the runnable showcase `make run` starts: every redisware
// package on one server, against REDIS_URL when it is set and an embedded
// miniredis otherwise.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/middleware"
)

func main() {
	if err := run(); err != nil {
		slog.Error("demo", "err", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rdb, closeRedis, err := connect()
	if err != nil {
		return err
	}
	defer closeRedis()

	// Event streams never finish on their own, so a graceful shutdown
	// would wait them out: streams ends them as soon as shutdown begins,
	// while ordinary requests get the grace period.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", middleware.Health(rdb, time.Second))
	if err := mountAll(mux, rdb, streams); err != nil {
		return err
	}

	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           middleware.ClientIP()(mux),
		ReadHeaderTimeout: 5 * time.Second,
	}
	srv.RegisterOnShutdown(endStreams)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("demo listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// connect returns a client of REDIS_URL, or of an embedded miniredis when
// REDIS_URL is unset, and says which.
func connect() (redis.UniversalClient, func(), error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		opt.ContextTimeoutEnabled = true // go-redis then ends calls at redisware\'s timeouts itself
		rdb := redis.NewClient(opt)
		slog.Info("using Redis from REDIS_URL", "addr", opt.Addr)
		return rdb, func() { _ = rdb.Close() }, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	slog.Info("REDIS_URL is unset: using an embedded miniredis", "addr", mr.Addr())
	return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
}

// mountAll registers each package's demo routes; streams ends the
// long-lived event streams when it is done.
func mountAll(mux *http.ServeMux, rdb redis.UniversalClient, streams context.Context) error {
	mux.HandleFunc("GET /{$}", index)
	for _, mount := range []func(*http.ServeMux, redis.UniversalClient) error{
		mountRatelimit,
		mountSession,
		func(mux *http.ServeMux, rdb redis.UniversalClient) error { return mountEvents(mux, rdb, streams) },
		mountCache,
	} {
		if err := mount(mux, rdb); err != nil {
			return err
		}
	}
	return nil
}

func index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(indexHTML))
}

const indexHTML = `<!doctype html>
<title>redisware demo</title>
<h1>redisware demo</h1>
<ul>
<li><a href="/healthz">/healthz</a>: Redis health</li>
<li><a href="/session/">/session/</a>: log in and out, a visit counter, log out everywhere</li>
<li><a href="/events/">/events/</a>: a live event feed (pubsub + Server-Sent Events)</li>
<li><a href="/aside/item?id=1">/aside/item?id=1</a>: cache-aside over a slow fetch</li>
<li><a href="/cache/slow">/cache/slow</a>: a 1 s endpoint served from the cache; see Cache-Status and Age</li>
<li><a href="/ratelimit/ping">/ratelimit/ping</a>: 5 requests per 10 s per client; the body echoes the RateLimit headers</li>
</ul>
`
