package cachehandler

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/observe"
	"github.com/redisware/redisware/internal/pipe"
	"github.com/redisware/redisware/internal/script"
	"golang.org/x/sync/singleflight"
)

// Cache is a shared HTTP response cache in Redis. It is safe for concurrent
// use; build one with New and share it between routes.
type Cache struct {
	rdb redis.UniversalClient
	opt Options
	// sf has a group per lookupShare: requests share a lookup only with
	// requests of the same kind.
	sf [lookupShares]singleflight.Group
	// guard: the breaker and Options.Timeout around every request's call.
	guard   bounded.Guard
	send    pipe.Sender // one command at a time, autopipelined
	scripts *script.Runner

	fills fillNotices
	bg    sync.WaitGroup

	mu         sync.Mutex
	closed     bool                             // Close was called: no new background refreshes
	hints      map[string][]string              // URL hash → Vary names last seen
	pending    map[string]*pendingFill          // URL hash → this process's fill
	refreshing map[string]bool                  // URL hash → background refresh running
	storing    map[string]map[*storing]struct{} // URL hash → this process's forwards that may store

	// waits counts the waits of requests for another request's fill (a
	// request collapsed into a fill waits once, or again after a
	// resubscription).
	waits atomic.Int64
}

// maxHints bounds the Vary hint map; past it a new URL evicts another.
const maxHints = 10000

// New returns a cache storing in rdb. It reports an error for a nil client
// or invalid options.
func New(rdb redis.UniversalClient, o Options) (*Cache, error) {
	if rdb == nil {
		return nil, errors.New("cachehandler: nil Redis client")
	}
	opt, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	guard, err := observe.NewGuard(rdb, observe.GuardOptions{Name: "cachehandler", Breaker: opt.Breaker, Timeout: opt.Timeout,
		Logger: opt.Logger, Now: opt.Now, OnCall: opt.Observer.OnRedisCall, OnBreaker: opt.Observer.OnBreaker})
	if err != nil {
		return nil, err
	}
	send, err := pipe.New(rdb, opt.NoAutoPipeline)
	if err != nil {
		return nil, fmt.Errorf("cachehandler: %w", err)
	}
	c := &Cache{
		rdb:        rdb,
		send:       send,
		opt:        opt,
		guard:      guard,
		scripts:    script.NewRunner(send),
		hints:      map[string][]string{},
		pending:    map[string]*pendingFill{},
		refreshing: map[string]bool{},
		storing:    map[string]map[*storing]struct{}{},
	}
	c.fills.c = c
	return c, nil
}

// Middleware caches the responses of next that carry explicit freshness
// (s-maxage, max-age or Expires).
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return &route{c: c, next: next}
}

// WithTTL returns a middleware that also caches, for ttl, the responses of
// its handler that set no freshness of their own (only statuses RFC 9110
// calls heuristically cacheable, such as 200, 301, 404). Explicit freshness
// and every rule against storing still win. Panics if ttl is not positive.
func (c *Cache) WithTTL(ttl time.Duration) func(http.Handler) http.Handler {
	if ttl <= 0 {
		panic("cachehandler: WithTTL with a non-positive TTL")
	}
	return func(next http.Handler) http.Handler {
		return &route{c: c, next: next, ttl: ttl}
	}
}

// Close stops the fill subscription, wakes the requests waiting for other
// instances' fills and waits for background refreshes. The middleware
// keeps working afterwards, without waiting for other instances' fills and
// without refreshing stale-while-revalidate hits in the background.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.fills.close()
	c.bg.Wait()
	return err
}

// isBaseKey reports whether s is a URL base key this cache wrote:
// <prefix>{<32 hex>}.
func (c *Cache) isBaseKey(s string) bool {
	rest, ok := strings.CutPrefix(s, c.opt.Prefix+"{")
	if !ok || len(rest) != 33 || rest[32] != '}' {
		return false
	}
	for i := 0; i < 32; i++ {
		if !(rest[i] >= '0' && rest[i] <= '9' || rest[i] >= 'a' && rest[i] <= 'f') {
			return false
		}
	}
	return true
}

func (c *Cache) hint(hash string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hints[hash]
}

func (c *Cache) setHint(hash string, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.hints[hash]; !ok && len(c.hints) >= maxHints {
		for h := range c.hints { // evict one, in map order: random enough
			delete(c.hints, h)
			break
		}
	}
	c.hints[hash] = names
}

func (c *Cache) dropHint(hash string) {
	c.mu.Lock()
	delete(c.hints, hash)
	c.mu.Unlock()
}

// fail reports err to OnError, or logs it. Calls the open breaker refused
// are not reported: the breaker logs the outage, which must not turn into
// a log line per request. Nor are the failures of a request whose client
// went away (no news of Redis), and a lookup's failure that concurrent
// requests shared is reported once.
func (c *Cache) fail(r *http.Request, err error) {
	if err == nil || errors.Is(err, breaker.ErrOpen) {
		return
	}
	if bounded.Gone(r.Context()) {
		c.opt.Logger.LogAttrs(r.Context(), slog.LevelDebug, "cachehandler: client gone", slog.Any("err", err))
		return
	}
	if sf := (*sharedFailure)(nil); errors.As(err, &sf) && sf.reported.Swap(true) {
		// Another request sharing the same lookup reported it.
		c.opt.Logger.LogAttrs(r.Context(), slog.LevelDebug, "cachehandler: bypassing the cache (shared lookup failed)", slog.Any("err", err))
		return
	}
	if c.opt.OnError != nil {
		c.opt.OnError(r.Context(), err)
		return
	}
	level := slog.LevelWarn
	if breaker.Quiet(err) {
		level = slog.LevelDebug // the breaker's lines report the outage
	}
	c.opt.Logger.LogAttrs(r.Context(), level, "cachehandler: bypassing the cache",
		slog.Any("err", err), slog.String("method", r.Method), slog.String("path", r.URL.Path))
}
