package cachehandler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
)

// Cache is a shared HTTP response cache in Redis. It is safe for concurrent
// use; build one with New and share it between routes.
type Cache struct {
	rdb redis.UniversalClient
	opt Options
	sf  singleflight.Group
	// guard: the breaker and Options.Timeout around every request's call.
	guard bounded.Guard

	fills httpFills
	bg    sync.WaitGroup

	mu         sync.Mutex
	closed     bool                                 // Close was called: no new background refreshes
	hints      map[string][]string                  // URL hash → Vary names last seen
	pending    map[string]*httpPendingFill          // URL hash → this process's fill
	refreshing map[string]bool                      // URL hash → background refresh running
	storing    map[string]map[*httpStoring]struct{} // URL hash → this process's forwards that may store

	// Test hooks: called when a request starts waiting for a fill, and
	// when a background refresh ends (won reports whether it held the lock).
	testHookWait    func()
	testHookRefresh func(won bool)
}

// httpPendingFill is one process-wide fill of a URL: the first request of
// this process that misses leads it, the others wait on done. gen is the
// URL's purge generation the leader read with the lock (nil until then, or
// when it could not): a waiter that runs the handler after all stores
// with it.
type httpPendingFill struct {
	done chan struct{}
	gen  atomic.Pointer[string]
}

// httpStoring is one forward of this process whose response may be stored;
// purged is set when this process purges its URL meanwhile, so that its
// Cache-Status does not claim "stored" (the store script would refuse).
type httpStoring struct{ purged atomic.Bool }

// wasPurged reports whether s's URL was purged by this process since s
// began; false for nil (a forward that does not store).
func (s *httpStoring) wasPurged() bool { return s != nil && s.purged.Load() }

// trackStore registers a forward of the URL hash that may store.
func (c *Cache) trackStore(hash string) *httpStoring {
	s := &httpStoring{}
	c.mu.Lock()
	m := c.storing[hash]
	if m == nil {
		m = map[*httpStoring]struct{}{}
		c.storing[hash] = m
	}
	m[s] = struct{}{}
	c.mu.Unlock()
	return s
}

func (c *Cache) untrackStore(hash string, s *httpStoring) {
	c.mu.Lock()
	if m := c.storing[hash]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(c.storing, hash)
		}
	}
	c.mu.Unlock()
}

// markPurged tells this process's running forwards of the URL hashes that
// their URL was purged (the purge scripts have run).
func (c *Cache) markPurged(hashes []string) {
	c.mu.Lock()
	for _, h := range hashes {
		for s := range c.storing[h] {
			s.purged.Store(true)
		}
	}
	c.mu.Unlock()
}

// httpMaxHints bounds the Vary hint map; past it a new URL evicts another.
const httpMaxHints = 10000

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
	c := &Cache{
		rdb:        rdb,
		opt:        opt,
		guard:      bounded.Guard{Breaker: &breaker.Breaker{}, Timeout: opt.Timeout, Direct: bounded.HonoursDeadlines(rdb)},
		hints:      map[string][]string{},
		pending:    map[string]*httpPendingFill{},
		refreshing: map[string]bool{},
		storing:    map[string]map[*httpStoring]struct{}{},
	}
	c.fills.c = c
	return c, nil
}

// Middleware caches the responses of next that carry explicit freshness
// (s-maxage, max-age or Expires).
func (c *Cache) Middleware(next http.Handler) http.Handler {
	return &httpRoute{c: c, next: next}
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
		return &httpRoute{c: c, next: next, ttl: ttl}
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

// Purge removes every stored variant of rawURL, an absolute URL
// ("https://example.com/products/42"); its query is normalised as request
// keys are. Requests are keyed by the scheme they arrived with (https only
// when the server itself terminated TLS), so Purge removes the URL under
// both http and https: behind a TLS-terminating proxy the entries are
// keyed http.
//
// Purge takes no Options.Timeout and bypasses the breaker: an
// administrative call is bounded by ctx alone, with any client (one that
// ignores deadlines is abandoned when ctx ends, and its error returned).
func (c *Cache) Purge(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("cachehandler: purge: %q is not an absolute http(s) URL", rawURL)
	}
	norm := httpNormalURL(u) // the default port is gone from here on
	other := "https://" + strings.TrimPrefix(norm, "http://")
	if strings.HasPrefix(norm, "https://") {
		other = "http://" + strings.TrimPrefix(norm, "https://")
	}
	ks := []httpKeys{c.keysFor(norm), c.keysFor(other)}
	err = bounded.Until(ctx, c.guard.Direct, func(ctx context.Context, a purgeArgs) error {
		return a.c.purgeKeys(ctx, a.ks)
	}, purgeArgs{c, ks})
	if err != nil {
		return fmt.Errorf("cachehandler: purge: %w", err)
	}
	return nil
}

// PurgeTags removes every entry whose response named one of tags in its
// Cache-Tag header. It costs two round trips whatever the number of tags
// and never scans the keyspace: one pipeline reads the tag sets, a second
// runs one purge script per URL (each inside that URL's hash slot, so it
// runs on Cluster) and removes the purged members from the tag sets.
// Tag sets span hash slots, so no single script could do both. Like Purge,
// it is bounded by ctx alone.
func (c *Cache) PurgeTags(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	return bounded.Until(ctx, c.guard.Direct, func(ctx context.Context, a purgeTagsArgs) error {
		return a.c.purgeTags(ctx, a.tags)
	}, purgeTagsArgs{c, tags})
}

// purgeTagsArgs are what a Redis call of purgeTags needs.
type purgeTagsArgs struct {
	c    *Cache
	tags []string
}

func (c *Cache) purgeTags(ctx context.Context, tags []string) error {
	tagKeys := make([]string, len(tags))
	cmds := make([]*redis.StringSliceCmd, len(tags))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tags {
			tagKeys[i] = c.httpTagKey(t)
			cmds[i] = p.ZRange(ctx, tagKeys[i], 0, -1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cachehandler: purge tags: %w", err)
	}
	var (
		calls  []httpScriptCall
		hashes []string
	)
	ttl := c.genTTL().Milliseconds()
	seen := map[string]bool{}
	members := make([][]string, len(tags))
	for i, cmd := range cmds {
		for _, base := range cmd.Val() {
			members[i] = append(members[i], base)
			if seen[base] || !c.httpIsBaseKey(base) {
				continue
			}
			seen[base] = true
			calls = append(calls, httpScriptCall{httpPurgeScript, []string{base, base + ":variants", base + ":gen"}, []any{ttl}})
			hashes = append(hashes, base[len(c.opt.Prefix)+1:len(base)-1])
		}
	}
	if len(calls) == 0 {
		return nil
	}
	err = c.runScriptsThen(ctx, calls, func(p redis.Pipeliner) {
		for i, m := range members {
			if len(m) > 0 {
				args := make([]any, len(m))
				for j := range m {
					args[j] = m[j]
				}
				p.ZRem(ctx, tagKeys[i], args...)
			}
		}
	}, nil)
	if err != nil {
		return fmt.Errorf("cachehandler: purge tags: %w", err)
	}
	c.markPurged(hashes)
	return nil
}

// runScriptsThen is runScripts followed by more commands in the same
// pipeline. When first is not nil, it is set to the command of calls[0]
// (of the pipeline that was answered).
func (c *Cache) runScriptsThen(ctx context.Context, calls []httpScriptCall, more func(p redis.Pipeliner), first **redis.Cmd) error {
	send := func(eval bool) (bool, error) {
		cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, sc := range calls {
				var cmd *redis.Cmd
				if eval {
					cmd = sc.s.Eval(ctx, p, sc.keys, sc.args...)
				} else {
					cmd = sc.s.EvalSha(ctx, p, sc.keys, sc.args...)
				}
				if i == 0 && first != nil {
					*first = cmd
				}
			}
			more(p)
			return nil
		})
		for _, cmd := range cmds {
			if e := cmd.Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
				return true, e
			}
		}
		return false, err
	}
	noscript, err := send(false)
	if noscript {
		_, err = send(true)
	}
	return err
}

// httpIsBaseKey reports whether s is a URL base key this cache wrote:
// <prefix>{<32 hex>}.
func (c *Cache) httpIsBaseKey(s string) bool {
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
	if _, ok := c.hints[hash]; !ok && len(c.hints) >= httpMaxHints {
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

// joinPending makes the caller the leader of this process's fill of hash,
// or returns the fill already led.
func (c *Cache) joinPending(hash string) (p *httpPendingFill, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[hash]; ok {
		return p, false
	}
	p = &httpPendingFill{done: make(chan struct{})}
	c.pending[hash] = p
	return p, true
}

func (c *Cache) endPending(hash string, p *httpPendingFill) {
	c.mu.Lock()
	if c.pending[hash] == p {
		delete(c.pending, hash)
	}
	c.mu.Unlock()
	close(p.done)
}

// fail reports err to the ErrorHandler. Calls the open breaker refused are
// not reported: the failures that opened it were, and an outage must not
// turn into a log line per request.
func (c *Cache) fail(r *http.Request, err error) {
	if err != nil && !errors.Is(err, breaker.ErrOpen) {
		c.opt.ErrorHandler(r, err)
	}
}
