package cachehandler

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/httpwrap"
)

// route is the middleware of one route: the cache, the handler and the
// route's TTL for responses without freshness (0: none).
type route struct {
	c    *Cache
	next http.Handler
	ttl  time.Duration
}

// forwarding is what the cache knows about one forward to the handler.
type forwarding struct {
	k       keySet
	stale   *cacheEntry // the stored entry in hand, if any (stale or to revalidate)
	fwd     string      // Cache-Status fwd: uri-miss, vary-miss, stale, request, miss
	detail  string      // Cache-Status detail, if any
	store   bool        // the response may be stored
	token   string      // fill lock token held, if any
	gen     string      // the URL's purge generation when the fill began (stores hand it back)
	reqTime time.Time
	bg      bool // a background refresh, not a client's request
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := rt.c
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace:
		c.pass(w, r, rt.next)
		return
	default:
		c.serveUnsafe(w, r, rt.next)
		return
	}
	u, ok := c.cacheURL(r)
	if !ok {
		c.bypass(w, r, rt.next)
		return
	}
	reqTime := c.opt.Now()
	rcc := c.requestDirectives(r)
	k := c.keysForURL(&u)
	lk, err := c.lookup(r, k, shareHits)
	if err != nil {
		c.fail(r, err)
		if bounded.Gone(r.Context()) {
			return // the client left: nobody to answer
		}
		if rcc.onlyIfCached {
			c.served(r, ServeMiss, "only-if-cached", 0)
			c.gatewayTimeout(w)
			return
		}
		c.forward(w, r, rt, &forwarding{k: k, fwd: "miss", detail: "redis-error", reqTime: reqTime})
		return
	}
	k = k.forVariant(lk.vkey)
	e, fwd := lk.entry, lk.fwd
	if e != nil && r.Header.Get("Authorization") != "" && e.flags&entryFlagAuthOK == 0 {
		e, fwd = nil, "request"
	}
	var stale *cacheEntry
	if e != nil {
		kind, why := c.verdict(e, rcc, reqTime)
		switch kind {
		case useFresh, useStale:
			c.serveEntry(w, r, e, reqTime, "hit", ttlNow)
			if kind == useFresh {
				c.served(r, ServeHit, "", int64(len(e.body)))
			} else {
				c.served(r, ServeStale, "max-stale", int64(len(e.body)))
			}
			return
		case useSWR:
			c.serveEntry(w, r, e, reqTime, "hit", ttlNow, "detail=stale-while-revalidate")
			c.served(r, ServeStale, "stale-while-revalidate", int64(len(e.body)))
			c.refresh(r, rt, k, e)
			return
		}
		fwd, stale = why, e
	}
	// A Range request the entry cannot answer goes to the handler as it
	// is, and its response, whole or partial, is not stored (see doc.go).
	f := &forwarding{k: k, stale: stale, fwd: fwd, store: !rcc.noStore && r.Method == http.MethodGet && !wantsRange(r), reqTime: reqTime}
	if rcc.onlyIfCached {
		c.served(r, ServeMiss, "only-if-cached", 0)
		c.gatewayTimeout(w)
		return
	}
	if !f.store {
		c.forward(w, r, rt, f)
		return
	}
	c.fill(w, r, rt, f)
}

func (c *Cache) requestDirectives(r *http.Request) ccDirectives {
	rcc := ccRequest(r.Header)
	if c.opt.IgnoreClientNoCache {
		rcc.noCache = false
		if rcc.maxAge == 0 {
			rcc.maxAge = -1
		}
	}
	return rcc
}

func (c *Cache) gatewayTimeout(w http.ResponseWriter) {
	w.Header().Set("Cache-Status", c.status("detail=only-if-cached"))
	http.Error(w, "Gateway Timeout: not in cache", http.StatusGatewayTimeout)
}

// lookupResult is what Redis holds for a request.
type lookupResult struct {
	entry *cacheEntry // shared with concurrent lookups: read only
	fwd   string      // the Cache-Status fwd if the entry is not used
	vkey  string      // the variant's key, when the URL's variant index was read
}

// lookup reads the entry r selects: one round trip when the URL has no
// Vary or this process already knows its Vary names, two otherwise.
// Corrupt or foreign data is a miss (and an OnError call).
func (c *Cache) lookup(r *http.Request, k keySet, share lookupShare) (lookupResult, error) {
	ctx := r.Context()
	hint := c.hint(k.hash)
	ks := [2]string{k.base}
	if hint != nil {
		ks[1] = k.variantKey(hint, r)
	}
	got, err := c.fetch(ctx, ks, share)
	if err != nil {
		return lookupResult{}, err
	}
	base := &got.v[0]
	if base.raw == nil {
		return lookupResult{fwd: "uri-miss"}, nil
	}
	corrupt := func(key string, err error, fwd string) (lookupResult, error) {
		c.fail(r, fmt.Errorf("cachehandler: %s: %w", key, err))
		return lookupResult{fwd: fwd}, nil
	}
	switch {
	case base.entry != nil:
		if hint != nil {
			c.dropHint(k.hash)
		}
		return lookupResult{entry: base.entry, fwd: "stale"}, nil
	case base.names == nil:
		return corrupt(k.base, base.err, "uri-miss")
	}
	names := base.names
	v, vk := &got.v[1], ks[1]
	if !slices.Equal(names, hint) {
		c.setHint(k.hash, names)
		vk = k.variantKey(names, r)
		vv, err := c.fetch(ctx, [2]string{vk}, share)
		if err != nil {
			return lookupResult{}, err
		}
		v = &vv.v[0]
	}
	if v.raw == nil {
		return lookupResult{fwd: "vary-miss", vkey: vk}, nil
	}
	if v.entry == nil {
		err := v.err
		if err == nil {
			err = entryErrCorrupt // a variant index where an entry belongs
		}
		lk, err := corrupt(vk, err, "vary-miss")
		lk.vkey = vk
		return lk, err
	}
	return lookupResult{entry: v.entry, fwd: "stale", vkey: vk}, nil
}

// pass runs next for a method the cache neither stores nor invalidates,
// keeping Cache-Tag from the client.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, next http.Handler) {
	hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: func(hw *httpwrap.Writer, _ int) {
		hw.Header().Del("Cache-Tag")
	}})
	next.ServeHTTP(hw, r)
	c.served(r, ServeBypass, "method", hw.Written())
}
