// Command cachingproxy puts the redisware response cache in front of any
// origin, as a shared cache: every method and every header the cache does
// not own is forwarded by httputil.ReverseProxy, and what the origin marks
// cacheable is served from Redis with Age and Cache-Status. When the origin
// cannot be reached, the proxy reports it to the cache
// (cachehandler.ReportUnreachable), so stored pages are served stale for a
// while (cachehandler.Options.StaleGrace) instead of a 502, except those
// marked must-revalidate, proxy-revalidate, s-maxage or no-cache.
//
//	go run ./examples/cachingproxy -origin https://example.com -listen :8081
//	curl -si localhost:8081/ | grep -E 'Cache-Status|Age'
//
// It uses the Redis named by REDIS_URL, or an embedded miniredis when
// REDIS_URL is unset, whose keys expire as on Redis (for trying it out).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/examples/internal/devredis"
)

func main() {
	if err := run(); err != nil {
		slog.Error("cachingproxy", "err", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", ":8081", "address to listen on")
	origin := flag.String("origin", "", "origin base URL, e.g. https://example.com (required)")
	flag.Parse()
	target, err := url.Parse(*origin)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return fmt.Errorf("-origin %q: need an absolute http(s) URL", *origin)
	}

	rdb, closeRedis, err := devredis.Connect(nil, "REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/cachingproxy -origin "+target.String())
	if err != nil {
		return err
	}
	defer closeRedis()
	h, c, err := newProxy(target, rdb, cachehandler.Options{Prefix: "cachingproxy:"})
	if err != nil {
		return err
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("caching proxy listening", "addr", *listen, "origin", target.String())
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

// newProxy returns the cache, configured by opt, in front of a reverse
// proxy to target. When the origin cannot be reached, the proxy tells the
// cache (cachehandler.ReportUnreachable), which then answers with its
// stored copy, stale, where the copy allows it; otherwise the client gets
// 504 for a timeout and 502 for any other failure to reach the origin.
func newProxy(target *url.URL, rdb redis.UniversalClient, opt cachehandler.Options) (http.Handler, *cachehandler.Cache, error) {
	c, err := cachehandler.New(rdb, opt)
	if err != nil {
		return nil, nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target) // every method, path, query and end-to-end header
			pr.SetXForwarded()
		},
		ErrorHandler: originError,
	}
	return c.Middleware(proxy), c, nil
}

// originError is the reverse proxy's ErrorHandler: it runs when no response
// came from the origin (refused, reset, timed out, unresolvable), which is
// what the cache calls an unreachable origin, as opposed to the origin's
// own 5xx, which the proxy relays.
func originError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil { // else the client went away, not the origin
		cachehandler.ReportUnreachable(r.Context())
	}
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	slog.LogAttrs(r.Context(), slog.LevelDebug, "cachingproxy: origin unreachable", slog.Any("err", err), slog.String("path", r.URL.Path))
	http.Error(w, http.StatusText(status), status)
}
