package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/redisware/redisware/cachehandler"
)

// mountCache registers the response-cache demo: GET /cache/slow takes about
// a second to render and says it may be cached for 10 s, so the first
// request is slow and the next ones are instant hits until it goes stale;
// Cache-Status and Age in the response tell which happened. POST
// /cache/slow invalidates it, and POST /cache/purge purges by tag.
func (d *demo) mountCache(mux *http.ServeMux) error {
	rdb := d.rdb
	c, err := cachehandler.New(rdb, cachehandler.Options{
		Prefix: d.prefix + "demo:cache:",
		// The page fetches with cache: "no-store", so the browser's own
		// cache stays out of the way; browsers then send no-cache, which
		// would make every load a refill.
		IgnoreClientNoCache: true,
		Observer:            d.tel.Cachehandler(),
	})
	if err != nil {
		return err
	}
	d.closers = append(d.closers, c)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			// Any successful unsafe request invalidates its URL.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-time.After(time.Second): // an expensive page
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=10, stale-while-revalidate=20")
		w.Header().Set("Cache-Tag", "demo-slow")
		fmt.Fprintf(w, "rendered at %s, after 1 s of work\n\nRepeat the request and watch the Cache-Status and Age response headers:\n"+
			"  curl -si http://%s/cache/slow | grep -E 'Cache-Status|Age|rendered'\n",
			time.Now().Format("15:04:05.000"), r.Host)
	})
	mux.Handle("GET /cache/slow", c.Middleware(slow))
	mux.Handle("POST /cache/slow", c.Middleware(slow))
	mux.HandleFunc("POST /cache/purge", func(w http.ResponseWriter, r *http.Request) {
		if err := c.PurgeTags(r.Context(), "demo-slow"); err != nil {
			http.Error(w, "purge failed", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return nil
}
