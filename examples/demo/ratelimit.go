package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
)

// mountRatelimit registers GET /ratelimit/ping: 5 requests per 10 seconds
// per client address. Each answer echoes the rate limit headers in its
// body, so `curl` shows them counting down, then the 429.
func (d *demo) mountRatelimit(mux *http.ServeMux) error {
	rdb := d.rdb
	lim, err := ratelimit.New(rdb, ratelimit.Options{
		Prefix:        d.prefix + ratelimit.DefaultPrefix,
		Observer:      d.tel.Ratelimit(),
		LegacyHeaders: true,
		LimitedHandler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			writeRateLimitHeaders(w, "rate limited: try again after Retry-After seconds")
		}),
	})
	if err != nil {
		return err
	}
	ping := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeRateLimitHeaders(w, "pong")
	})
	limit := ratelimit.Per(5, 10*time.Second).Named("ping")
	mux.Handle("GET /ratelimit/ping", lim.Handler(middleware.KeyByIP, limit)(ping))
	return nil
}

func writeRateLimitHeaders(w http.ResponseWriter, msg string) {
	fmt.Fprintln(w, msg)
	for _, name := range []string{"RateLimit-Policy", "RateLimit", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if v := w.Header().Get(name); v != "" {
			fmt.Fprintf(w, "%s: %s\n", name, v)
		}
	}
}
