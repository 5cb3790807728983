package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RoundTripsHeader carries the number of Redis round trips a request made
// before its response header went out (a cache store after the response is
// not in it; the live feed's line for the request has the full count).
const RoundTripsHeader = "X-Redis-Round-Trips"

// observe counts the Redis round trips of each action (the requests the
// page's buttons make), reports them in RoundTripsHeader and announces the
// action on the live feed with its status and full count. Page loads,
// health checks and the event stream pass through untouched.
func (d *demo) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAction(r) {
			next.ServeHTTP(w, r)
			return
		}
		n := new(atomic.Int64)
		cw := &countingWriter{ResponseWriter: w, n: n}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), roundTripsKey{}, n)))
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s → %d", r.Method, r.URL.RequestURI(), cw.status())
		for _, h := range []string{"Cache-Status", "RateLimit"} {
			if v := cw.Header().Get(h); v != "" {
				fmt.Fprintf(&b, " · %s: %s", h, v)
			}
		}
		fmt.Fprintf(&b, " · %d Redis round trips", n.Load())
		d.announce(b.String())
	})
}

// isAction reports whether r is one of the demo's actions, announced on
// the feed.
func isAction(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	for _, p := range []string{"/session/", "/ratelimit/", "/cache/", "/aside/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// announce appends text to the live feed. Its Redis call is not counted
// as a round trip of the request it describes.
func (d *demo) announce(text string) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := d.feed.Append(ctx, eventsMessage{Text: text, At: time.Now().UTC()}); err != nil {
		slog.Warn("demo: announce", "err", err)
	}
}

type roundTripsKey struct{}

// countingWriter adds RoundTripsHeader to the response header as it goes out.
type countingWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	code int
}

func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		w.Header().Set(RoundTripsHeader, fmt.Sprint(w.n.Load()))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *countingWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// roundTripCounter is a go-redis hook that counts, for requests under
// observe, one round trip per command or pipeline, as the library's
// round-trip budget counts them. Commands a new connection sends to set
// itself up are not counted.
type roundTripCounter struct{}

func (roundTripCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (roundTripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n, ok := ctx.Value(roundTripsKey{}).(*atomic.Int64); ok && !connectionSetup(cmd) {
			n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (roundTripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if n, ok := ctx.Value(roundTripsKey{}).(*atomic.Int64); ok && !(len(cmds) > 0 && connectionSetup(cmds[0])) {
			n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// connectionSetup reports whether cmd is one go-redis sends on a new
// connection before any request's command.
func connectionSetup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "readonly":
		return true
	case "client":
		if args := cmd.Args(); len(args) > 1 {
			sub, _ := args[1].(string)
			return strings.EqualFold(sub, "setinfo")
		}
	}
	return false
}
