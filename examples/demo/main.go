// Command demo is the runnable showcase `make run` starts: every redisware
// package on one server, against REDIS_URL when it is set and an embedded
// miniredis otherwise.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/examples/internal/devredis"
	"github.com/redisware/redisware/middleware"
	rwotel "github.com/redisware/redisware/otel"
	"github.com/redisware/redisware/pubsub"
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

	rdb, closeRedis, err := devredis.Connect(nil, "REDIS_URL=redis://127.0.0.1:6379/0 make run")
	if err != nil {
		return err
	}
	defer closeRedis()

	// Event streams never finish on their own, so a graceful shutdown
	// would wait them out: streams ends them as soon as shutdown begins,
	// while ordinary requests get the grace period.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()

	rdb.AddHook(roundTripCounter{}) // counts each action's round trips for the page
	d := &demo{rdb: rdb, streams: streams}
	defer d.Close() // runs before closeRedis: defers run last-in first-out
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", middleware.Health(rdb, time.Second))
	if err := d.mountAll(mux); err != nil {
		return err
	}

	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           middleware.ClientIP()(d.observe(mux)),
		ReadHeaderTimeout: 5 * time.Second,
	}
	srv.RegisterOnShutdown(endStreams)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	slog.Info("demo ready: open "+browseURL(addr, ln.Addr()), "listening", ln.Addr().String())
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

// browseURL is the URL that opens the demo served on ln (listening as
// configured by addr): localhost unless addr names a host.
func browseURL(addr string, ln net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	port := "80"
	if tcp, ok := ln.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// demo is what the routes share: the client, the context that ends the
// event streams, the Telemetry behind /metrics, and what to close at
// shutdown.
type demo struct {
	rdb     redis.UniversalClient
	prefix  string // before every key the demo writes: "" but in tests
	streams context.Context
	tel     *rwotel.Telemetry
	closers []io.Closer
	feed    *pubsub.Stream[eventsMessage] // the live feed, set by mountEvents
}

// mountAll registers each package's demo routes.
func (d *demo) mountAll(mux *http.ServeMux) error {
	for _, mount := range []func(*http.ServeMux) error{
		d.mountMetrics, // first: the others observe into its Telemetry
		d.mountWeb,
		d.mountRatelimit,
		d.mountSession,
		d.mountEvents,
		d.mountCache,
	} {
		if err := mount(mux); err != nil {
			return err
		}
	}
	return nil
}

// Close closes what the routes opened (subscriptions, background
// refreshes), before the client they use is closed.
func (d *demo) Close() {
	for _, c := range slices.Backward(d.closers) {
		if err := c.Close(); err != nil {
			slog.Warn("demo: close", "err", err)
		}
	}
}
