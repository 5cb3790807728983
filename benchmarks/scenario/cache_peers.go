package scenario

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/cache/v9"
)

// goCacheTTL is how long the hand-written cache keeps a response: the
// origin's max-age, fixed rather than parsed.
const goCacheTTL = time.Hour

// goCacheEntry is what the hand-written cache stores (msgpack, compressed by
// go-redis/cache when large).
type goCacheEntry struct {
	Status int
	Header http.Header
	Body   []byte
}

// goCacheMiddleware is a response cache hand-written on go-redis/cache, the
// smallest that serves the scenario: GET responses keyed by host and URI,
// stored whatever they say for goCacheTTL, replayed with their status,
// headers and body. No RFC 9111 (no Age, no Vary, no revalidation, no
// refusing private or Set-Cookie responses), no fill lock across instances.
// With once, lookups go through cache.Once, which shares one Redis read and
// one fill among the concurrent requests of one key in the process;
// without, each request reads Redis and each miss fills.
func goCacheMiddleware(env Env, once bool) func(http.Handler) http.Handler {
	c := cache.New(&cache.Options{Redis: env.RDB})
	prefix := env.Prefix + "gocache:"
	fill := func(next http.Handler, r *http.Request) *goCacheEntry {
		rec := &captureWriter{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		return &goCacheEntry{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			key := prefix + r.Host + r.URL.RequestURI()
			var e goCacheEntry
			var err error
			if once {
				err = c.Once(&cache.Item{
					Ctx: r.Context(), Key: key, Value: &e, TTL: goCacheTTL,
					Do: func(*cache.Item) (any, error) { return fill(next, r), nil },
				})
			} else if err = c.Get(r.Context(), key, &e); errors.Is(err, cache.ErrCacheMiss) {
				f := fill(next, r)
				e, err = *f, c.Set(&cache.Item{Ctx: r.Context(), Key: key, Value: f, TTL: goCacheTTL})
			}
			if err != nil && e.Status == 0 {
				next.ServeHTTP(w, r) // Redis failed before anything was filled
				return
			}
			h := w.Header()
			for k, v := range e.Header {
				h[k] = v
			}
			h.Set("Content-Length", strconv.Itoa(len(e.Body)))
			w.WriteHeader(e.Status)
			_, _ = w.Write(e.Body)
		})
	}
}

// captureWriter records a response for the hand-written cache.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(p)
}
