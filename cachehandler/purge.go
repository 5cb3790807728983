package cachehandler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/httpwrap"
	"github.com/redisware/redisware/internal/script"
)

// Purge removes every stored variant of rawURL, an absolute URL
// ("https://example.com/products/42"); its query is normalised as request
// keys are. Requests are keyed by the scheme they arrived with (https only
// when the server itself terminated TLS), so Purge removes the URL under
// both http and https: behind a TLS-terminating proxy the entries are
// keyed http. With Options.Hosts or CanonicalHost, the URL's host is
// mapped as a request's would be (Purge("https://www.example.com/") removes
// the entry of "https://example.com/" when CanonicalHost maps one to the
// other), and a host the cache does not serve, of which nothing is
// stored, is an error.
//
// Purge takes no Options.Timeout and bypasses the breaker: an
// administrative call is bounded by ctx alone, with any client (one that
// ignores deadlines is abandoned when ctx ends, and its error returned).
func (c *Cache) Purge(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("cachehandler: purge: %q is not an absolute http(s) URL", rawURL)
	}
	us, ok := c.purgeURLs(u)
	if !ok {
		return fmt.Errorf("cachehandler: purge: %q: the cache does not serve its host (Options.Hosts, CanonicalHost)", rawURL)
	}
	ks := make([]keySet, len(us))
	for i, u := range us {
		ks[i] = c.keysFor(normalURL(u))
	}
	start := c.purgeStart()
	err = bounded.Until(ctx, c.guard.Direct, func(ctx context.Context, a purgeArgs) error {
		return a.c.purgeKeys(ctx, a.ks)
	}, purgeArgs{c, ks})
	c.purged(ctx, PurgeURL, start, err)
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
	start := c.purgeStart()
	err := bounded.Until(ctx, c.guard.Direct, func(ctx context.Context, a purgeTagsArgs) error {
		return a.c.purgeTags(ctx, a.tags)
	}, purgeTagsArgs{c, tags})
	c.purged(ctx, PurgeTags, start, err)
	return err
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
			tagKeys[i] = c.tagKey(t)
			cmds[i] = p.ZRange(ctx, tagKeys[i], 0, -1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cachehandler: purge tags: %w", err)
	}
	var (
		ops    []script.Op
		hashes []string
	)
	ttl := c.genTTL().Milliseconds()
	seen := map[string]bool{}
	members := make([][]string, len(tags))
	for i, cmd := range cmds {
		for _, base := range cmd.Val() {
			members[i] = append(members[i], base)
			if seen[base] || !c.isBaseKey(base) {
				continue
			}
			seen[base] = true
			ops = append(ops, script.Op{Script: purgeScript, Keys: []string{base, base + ":variants", base + ":gen"}, Args: []any{ttl}})
			hashes = append(hashes, base[len(c.opt.Prefix)+1:len(base)-1])
		}
	}
	if len(ops) == 0 {
		return nil
	}
	// The same round trip drops the purged members from the tag sets.
	for i, m := range members {
		if len(m) == 0 {
			continue
		}
		args := make([]any, len(m))
		for j := range m {
			args[j] = m[j]
		}
		key := tagKeys[i]
		ops = append(ops, script.Op{Plain: func(ctx context.Context, p redis.Pipeliner) redis.Cmder {
			return p.ZRem(ctx, key, args...)
		}})
	}
	if err := c.scripts.Exec(ctx, ops); err != nil {
		return fmt.Errorf("cachehandler: purge tags: %w", err)
	}
	c.markPurged(hashes)
	return nil
}

// storing is one forward of this process whose response may be stored;
// purged is set when this process purges its URL meanwhile, so that its
// Cache-Status does not claim "stored" (the store script would refuse).
type storing struct{ purged atomic.Bool }

// wasPurged reports whether s's URL was purged by this process since s
// began; false for nil (a forward that does not store).
func (s *storing) wasPurged() bool { return s != nil && s.purged.Load() }

// trackStore registers a forward of the URL hash that may store.
func (c *Cache) trackStore(hash string) *storing {
	s := &storing{}
	c.mu.Lock()
	m := c.storing[hash]
	if m == nil {
		m = map[*storing]struct{}{}
		c.storing[hash] = m
	}
	m[s] = struct{}{}
	c.mu.Unlock()
	return s
}

func (c *Cache) untrackStore(hash string, s *storing) {
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

// serveUnsafe runs next for an unsafe method and, when it succeeds (2xx or
// 3xx), invalidates the request URI and the same-origin Location and
// Content-Location (RFC 9111 §4.4) before the response goes out, so the
// client's next read cannot see the old entry.
func (c *Cache) serveUnsafe(w http.ResponseWriter, r *http.Request, next http.Handler) {
	cu, ok := c.cacheURL(r)
	if !ok { // nothing of an unknown host is cached: nothing to invalidate
		c.bypass(w, r, next)
		return
	}
	u := &cu
	hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: func(hw *httpwrap.Writer, status int) {
		hw.Header().Del("Cache-Tag")
		if status >= 200 && status < 400 {
			c.invalidate(r, u, hw.Header())
		}
	}})
	next.ServeHTTP(hw, r)
	if !hw.WroteHeader() {
		hw.WriteHeader(http.StatusOK)
	}
	c.served(r, ServeBypass, "method", hw.Written())
}

// invalidate purges u, the URL r is cached under, and the same-origin URLs
// in h's Location and Content-Location, resolved against r's own URL and
// then cached under u's host.
func (c *Cache) invalidate(r *http.Request, u *url.URL, h http.Header) {
	ks := []keySet{c.keysFor(normalURL(u))}
	req := requestURL(r)
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		abs := req.ResolveReference(ref)
		if sameOrigin(abs, req) { // RFC 9111 §4.4: same origin only
			abs.Host = u.Host
			ks = append(ks, c.keysFor(normalURL(abs)))
		}
	}
	start := c.purgeStart()
	err := redisDo(context.WithoutCancel(r.Context()), c, "invalidate", func(ctx context.Context, a purgeArgs) error {
		return a.c.purgeKeys(ctx, a.ks)
	}, purgeArgs{c, ks})
	c.purged(r.Context(), PurgeInvalidate, start, err)
	if err != nil {
		c.fail(r, fmt.Errorf("cachehandler: invalidate: %w", err))
	}
}

// purgeArgs are what a Redis call of purgeKeys needs.
type purgeArgs struct {
	c  *Cache
	ks []keySet
}
