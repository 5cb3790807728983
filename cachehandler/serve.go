package cachehandler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redisware/redisware/internal/httpwrap"
)

// httpRoute is the middleware of one route: the cache, the handler and the
// route's TTL for responses without freshness (0: none).
type httpRoute struct {
	c    *Cache
	next http.Handler
	ttl  time.Duration
}

// httpFill is what the cache knows about one forward to the handler.
type httpFill struct {
	k       httpKeys
	stale   *cacheEntry // the stored entry in hand, if any (stale or to revalidate)
	fwd     string      // Cache-Status fwd: uri-miss, vary-miss, stale, request, miss
	detail  string      // Cache-Status detail, if any
	store   bool        // the response may be stored
	token   string      // fill lock token held, if any
	gen     string      // the URL's purge generation when the fill began (stores hand it back)
	reqTime time.Time
}

// What the cache may do with a stored entry for one request.
const (
	httpUseFresh = iota // serve it
	httpUseStale        // serve it stale: the client's max-stale allows
	httpUseSWR          // serve it stale and refresh in the background
	httpForward         // go to the handler
)

// verdict applies the freshness rules (RFC 9111 §4.2, §5.2.1; RFC 5861).
func (c *Cache) verdict(e *cacheEntry, rcc ccDirectives, now time.Time) (int, string) {
	age := e.age(now)
	ttl := e.fresh - age
	switch {
	case e.flags&entryFlagNoCache != 0:
		return httpForward, "stale"
	case rcc.noCache || rcc.maxAge == 0:
		return httpForward, "request"
	case rcc.maxAge > 0 && age > time.Duration(rcc.maxAge)*time.Second:
		return httpForward, "request"
	case rcc.minFresh >= 0 && ttl < time.Duration(rcc.minFresh)*time.Second:
		return httpForward, "request"
	case ttl > 0:
		return httpUseFresh, ""
	}
	if e.flags&entryFlagMustRevalidate == 0 {
		stale := -ttl
		if rcc.maxStaleAny || (rcc.maxStale >= 0 && stale <= time.Duration(rcc.maxStale)*time.Second) {
			return httpUseStale, ""
		}
		if e.swr > 0 && stale <= e.swr {
			return httpUseSWR, ""
		}
	}
	return httpForward, "stale"
}

// sieOK reports whether stale-if-error lets e be served at now. Never for
// an entry that must-revalidate, proxy-revalidate, s-maxage or no-cache
// forbid serving unvalidated (RFC 9111 §4.2.4, §5.2.2.4).
func (c *Cache) sieOK(e *cacheEntry, now time.Time) bool {
	return e != nil && e.flags&(entryFlagMustRevalidate|entryFlagNoCache) == 0 && e.sie > 0 && -e.ttl(now) <= e.sie
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

func (rt *httpRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	reqTime := c.opt.Now()
	rcc := c.requestDirectives(r)
	k := c.keysFor(httpNormalURL(httpRequestURL(r)))
	lk, err := c.lookup(r, k, "hit")
	if err != nil {
		c.fail(r, err)
		if rcc.onlyIfCached {
			c.gatewayTimeout(w)
			return
		}
		c.forward(w, r, rt, &httpFill{k: k, fwd: "miss", detail: "redis-error", reqTime: reqTime})
		return
	}
	k = k.forVariant(lk.vkey)
	f := &httpFill{k: k, fwd: lk.fwd, store: !rcc.noStore && r.Method == http.MethodGet, reqTime: reqTime}
	e := lk.entry
	if e != nil && r.Header.Get("Authorization") != "" && e.flags&entryFlagAuthOK == 0 {
		e, f.fwd = nil, "request"
	}
	if e != nil {
		kind, fwd := c.verdict(e, rcc, reqTime)
		switch kind {
		case httpUseFresh, httpUseStale:
			c.serveEntry(w, r, e, reqTime, c.status("hit", httpTTLParam(e.ttl(reqTime))))
			return
		case httpUseSWR:
			c.serveEntry(w, r, e, reqTime, c.status("hit", httpTTLParam(e.ttl(reqTime)), "detail=stale-while-revalidate"))
			c.refresh(r, rt, k, e)
			return
		}
		f.fwd, f.stale = fwd, e
	}
	if rcc.onlyIfCached {
		c.gatewayTimeout(w)
		return
	}
	if !f.store {
		c.forward(w, r, rt, f)
		return
	}
	c.fill(w, r, rt, f)
}

func (c *Cache) gatewayTimeout(w http.ResponseWriter) {
	w.Header().Set("Cache-Status", c.status("detail=only-if-cached"))
	http.Error(w, "Gateway Timeout: not in cache", http.StatusGatewayTimeout)
}

// httpLookup is what Redis holds for a request.
type httpLookup struct {
	entry *cacheEntry
	fwd   string // the Cache-Status fwd if the entry is not used
	vkey  string // the variant's key, when the URL's variant index was read
}

// lookup reads the entry r selects: one round trip when the URL has no
// Vary or this process already knows its Vary names, two otherwise.
// Corrupt or foreign data is a miss (and an ErrorHandler call).
func (c *Cache) lookup(r *http.Request, k httpKeys, ns string) (httpLookup, error) {
	ctx := r.Context()
	hint := c.hint(k.hash)
	ks := []string{k.base}
	if hint != nil {
		ks = append(ks, k.variantKey(hint, r))
	}
	vals, err := c.fetch(ctx, ks, ns)
	if err != nil {
		return httpLookup{}, err
	}
	base := vals[0]
	if base == nil {
		return httpLookup{fwd: "uri-miss"}, nil
	}
	corrupt := func(key string, err error, fwd string) (httpLookup, error) {
		c.fail(r, fmt.Errorf("cachehandler: %s: %w", key, err))
		return httpLookup{fwd: fwd}, nil
	}
	switch entryKind(base) {
	case entryKindEntry:
		if hint != nil {
			c.dropHint(k.hash)
		}
		e, err := entryDecode(base)
		if err != nil {
			return corrupt(k.base, err, "uri-miss")
		}
		return httpLookup{entry: e, fwd: "stale"}, nil
	case entryKindVariant:
		names, err := entryDecodeVariants(base)
		if err != nil {
			return corrupt(k.base, err, "uri-miss")
		}
		var v []byte
		vk := k.variantKey(names, r)
		if slices.Equal(names, hint) {
			v = vals[1]
		} else {
			c.setHint(k.hash, names)
			vv, err := c.fetch(ctx, []string{vk}, ns)
			if err != nil {
				return httpLookup{}, err
			}
			v = vv[0]
		}
		if v == nil {
			return httpLookup{fwd: "vary-miss", vkey: vk}, nil
		}
		e, err := entryDecode(v)
		if err != nil {
			lk, err := corrupt(vk, err, "vary-miss")
			lk.vkey = vk
			return lk, err
		}
		return httpLookup{entry: e, fwd: "stale", vkey: vk}, nil
	}
	return corrupt(k.base, entryErrCorrupt, "uri-miss")
}

// fill forwards a miss so that one request across all instances runs the
// handler: in this process the first request leads and the others wait for
// it; across processes the leader that takes the lock fills, the others
// wait for its announcement. Waits are bounded by FillWait; then the
// request runs the handler itself.
func (c *Cache) fill(w http.ResponseWriter, r *http.Request, rt *httpRoute, f *httpFill) {
	p, leader := c.joinPending(f.k.fill)
	if !leader {
		switch c.await(r, p.done, c.opt.FillWait) {
		case httpAwaitGone:
			return
		case httpAwaitFilled:
			if c.afterFill(w, r, rt, f, "after", func() {}) {
				return
			}
		}
		// Store with the generation the leader read before its handler
		// ran (older than this request's handler run: the safe side).
		if g := p.gen.Load(); g != nil {
			f.gen = *g
		} else {
			f.store = false // the leader could not reach Redis
		}
		c.forward(w, r, rt, f)
		return
	}
	end := sync.OnceFunc(func() { c.endPending(f.k.fill, p) })
	defer end()
	token, gen, won, err := c.tryLock(r.Context(), f.k)
	if err != nil {
		c.fail(r, err)
		if now := c.opt.Now(); c.sieOK(f.stale, now) {
			c.serveEntry(w, r, f.stale, now, c.status("fwd="+f.fwd, httpTTLParam(f.stale.ttl(now)), "detail=redis-error"))
			return
		}
		f.store = false // Redis is failing: do not add writes
		c.forward(w, r, rt, f)
		return
	}
	f.gen = gen
	p.gen.Store(&gen)
	if won {
		f.token = token
		c.forward(w, r, rt, f)
		return
	}
	if !c.awaitFill(w, r, rt, f, end) {
		c.forward(w, r, rt, f)
	}
}

// awaitFill waits for another instance's fill of f and answers r from its
// entry. It reports whether r is answered (or its client gone); if not, the
// caller runs the handler. A resubscription after an outage of the fill
// subscription wakes the wait early, since the announcement may have been
// lost meanwhile: it looks for the entry once more and, if there is none
// yet, waits on for the rest of FillWait.
func (c *Cache) awaitFill(w http.ResponseWriter, r *http.Request, rt *httpRoute, f *httpFill, end func()) bool {
	var deadline time.Time // FillWait from the first wait
	for {
		fw, err := c.fills.wait(r.Context(), f.k.fill)
		if err != nil {
			if !errors.Is(err, httpErrClosed) {
				c.fail(r, err)
			}
			return false
		}
		// The fill may have ended before the subscription was confirmed,
		// or while it was down.
		if c.afterFill(w, r, rt, f, "", end) {
			return true
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.opt.FillWait)
		}
		switch c.await(r, fw.done, time.Until(deadline)) {
		case httpAwaitGone:
			return true
		case httpAwaitTimeout:
			return false
		}
		if !fw.again {
			return c.afterFill(w, r, rt, f, "", end)
		}
	}
}

const (
	httpAwaitFilled = iota
	httpAwaitTimeout
	httpAwaitGone // the client went away
)

// await waits at most d for ch to close.
func (c *Cache) await(r *http.Request, ch <-chan struct{}, d time.Duration) int {
	if c.testHookWait != nil {
		c.testHookWait()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return httpAwaitFilled
	case <-t.C:
		return httpAwaitTimeout
	case <-r.Context().Done():
		return httpAwaitGone
	}
}

// afterFill answers r once a fill it waited for has ended, and reports
// whether it did: from the entry the fill stored, if r may use it, or,
// when the fill was of the URL and stored another variant than r's, by
// joining the fill of r's own variant (after end lets this process's
// waiters for the URL go), so a cold URL asked for in several variants
// costs one handler run per variant, not one per request.
func (c *Cache) afterFill(w http.ResponseWriter, r *http.Request, rt *httpRoute, f *httpFill, ns string, end func()) bool {
	served, vkey := c.serveCollapsed(w, r, f, ns)
	if served {
		return true
	}
	if vkey == "" || f.k.fill != f.k.hash {
		return false // no variant learnt, or already this variant's fill
	}
	g := *f
	g.k = f.k.forVariant(vkey)
	end()
	c.fill(w, r, rt, &g)
	return true
}

// serveCollapsed answers r from the entry another request just filled, if
// there is one r may use, and reports whether it did; when r's variant is
// missing it returns the variant's key. The fill answered any request to
// revalidate.
func (c *Cache) serveCollapsed(w http.ResponseWriter, r *http.Request, f *httpFill, ns string) (served bool, vkey string) {
	lk, err := c.lookup(r, f.k, ns)
	if err != nil {
		c.fail(r, err)
		return false, ""
	}
	e := lk.entry
	if e == nil {
		return false, lk.vkey
	}
	if r.Header.Get("Authorization") != "" && e.flags&entryFlagAuthOK == 0 {
		return false, ""
	}
	rcc := c.requestDirectives(r)
	now := c.opt.Now()
	if !e.responseTime.Before(f.reqTime) {
		// Filled (or revalidated) after r arrived: it answers r's no-cache
		// or max-age=0, and the response's own no-cache. An older entry
		// (one found while another instance is still filling) does not.
		rcc.noCache = false
		if rcc.maxAge == 0 {
			rcc.maxAge = -1
		}
		e.flags &^= entryFlagNoCache
	}
	if kind, _ := c.verdict(e, rcc, now); kind != httpUseFresh && kind != httpUseStale {
		return false, ""
	}
	c.serveEntry(w, r, e, now, c.status("fwd="+f.fwd, "collapsed", httpTTLParam(e.ttl(now))))
	return true, ""
}

// forward runs the handler once for r, streaming its response to w while
// capturing it, and stores it when allowed. With a stale entry in hand it
// revalidates (a 304 freshens the entry, which then answers r) and applies
// stale-if-error to 5xx responses.
func (c *Cache) forward(w http.ResponseWriter, r *http.Request, rt *httpRoute, f *httpFill) {
	released := false
	defer func() {
		if f.token != "" && !released {
			c.fail(r, c.release(r.Context(), f.k, f.token))
		}
	}()
	var st *httpStoring
	if f.store {
		st = c.trackStore(f.k.hash)
		defer c.untrackStore(f.k.hash, st)
	}
	req := r
	revalidating := f.stale != nil && f.store && f.stale.hasValidator()
	// A fill asks with the cache's validators or none: the client's own
	// would get it a 304 that cannot be stored, and every request waiting
	// for the fill would then run the handler. The client gets the full
	// response instead; the waiters get their 304s from the entry.
	if f.store && (revalidating || r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "") {
		req = r.Clone(r.Context())
		req.Header.Del("If-None-Match")
		req.Header.Del("If-Modified-Since")
	}
	if revalidating {
		if et := f.stale.header.Get("Etag"); et != "" {
			req.Header.Set("If-None-Match", et)
		}
		if lm := f.stale.header.Get("Last-Modified"); lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}
	outer := w.Header().Clone() // fields set by middleware outside the cache
	var target http.ResponseWriter = w
	var gate *httpGate
	if f.stale != nil {
		gate = &httpGate{ResponseWriter: w, header: w.Header().Clone()}
		target = gate
	}
	var (
		d        httpDecision
		respTime time.Time
		tagLines []string
	)
	hw := httpwrap.New(target, httpwrap.Options{
		Capture:      f.store,
		CaptureLimit: c.opt.MaxBodyBytes,
		BeforeHeader: func(hw *httpwrap.Writer, status int) {
			h := hw.Header()
			respTime = c.opt.Now()
			tagLines = slices.Clone(h.Values("Cache-Tag"))
			if gate != nil {
				gate.swallowNext = (status == http.StatusNotModified && revalidating) ||
					(status >= 500 && c.sieOK(f.stale, respTime))
				if gate.swallowNext {
					h.Del("Cache-Tag")
					return
				}
			}
			params := []string{"fwd=" + f.fwd}
			if f.stale != nil {
				params = append(params, "fwd-status="+strconv.Itoa(status))
			}
			if f.store {
				d = c.decide(req, status, httpOwnHeader(h, outer), f.reqTime, respTime, rt.ttl)
				// Purged by this process since the handler began: it
				// may have read what the purge removed, and the store
				// script would refuse (as it does after a purge by
				// another instance, which this process does not see).
				d.ok = d.ok && !st.wasPurged()
				if d.ok {
					params = append(params, "stored")
				}
			}
			if f.detail != "" {
				params = append(params, "detail="+f.detail)
			}
			h.Del("Cache-Tag")
			h.Add("Cache-Status", c.status(params...))
		},
	})
	rt.next.ServeHTTP(hw, req)
	if !hw.WroteHeader() {
		hw.WriteHeader(http.StatusOK)
	}
	ctx := r.Context()
	if gate != nil && gate.swallowed {
		now := c.opt.Now()
		if gate.status == http.StatusNotModified {
			h304 := httpOwnHeader(gate.header, outer)
			if !httpSelects(h304, f.stale.header) {
				// RFC 9111 §4.3.4: a 304 naming another representation
				// updates nothing, and the stored body may not answer r.
				// Ask again without conditions (the retry owns the lock).
				released = true
				g := *f
				g.stale = nil
				c.forward(w, r, rt, &g)
				return
			}
			if len(tagLines) > 0 {
				h304["Cache-Tag"] = tagLines
			}
			fd := c.freshen(req, f.stale, h304, f.reqTime, respTime, rt.ttl)
			e := f.stale
			params := []string{"fwd=" + f.fwd, "fwd-status=304"}
			if fd.ok {
				e = &fd.e
			}
			if fd.ok && !st.wasPurged() {
				stored, err := c.store(ctx, r, f.k, e, fd.tags, fd.ttl, f.token, f.gen)
				if err != nil {
					c.fail(r, err)
				} else {
					released = true
					if stored {
						params = append(params, "stored")
					}
				}
			}
			c.serveEntry(w, r, e, now, c.status(params...))
			return
		}
		c.serveEntry(w, r, f.stale, now, c.status("fwd="+f.fwd, "fwd-status="+strconv.Itoa(gate.status),
			httpTTLParam(f.stale.ttl(now)), "detail=stale-if-error"))
		return
	}
	if f.store && d.ok && !hw.Overflowed() && httpComplete(req, d.e.header, hw.Written()) {
		d.e.body = bytes.Clone(hw.Body())
		// Not stored if the URL was purged since the fill began; the
		// Cache-Status sent said "stored" unless this process saw it.
		if _, err := c.store(ctx, r, f.k, &d.e, d.tags, d.ttl, f.token, f.gen); err != nil {
			c.fail(r, err)
		} else {
			released = true
		}
	}
}

// httpOwnHeader returns h without the fields that middleware outside the
// cache had set before the handler ran and the handler left unchanged:
// those belong to this exchange (a request ID, say), not to the response.
func httpOwnHeader(h, outer http.Header) http.Header {
	if len(outer) == 0 {
		return h
	}
	own := h.Clone()
	for k, v := range outer {
		if slices.Equal(own[k], v) {
			delete(own, k)
		}
	}
	return own
}

// refresh revalidates e in the background after a stale-while-revalidate
// hit. One refresher runs per URL in this process, and the fill lock makes
// it one across all instances.
func (c *Cache) refresh(r *http.Request, rt *httpRoute, k httpKeys, e *cacheEntry) {
	c.mu.Lock()
	if c.refreshing[k.fill] || c.closed {
		c.mu.Unlock()
		return
	}
	c.refreshing[k.fill] = true
	c.bg.Add(1)
	c.mu.Unlock()

	// The refresh outlives the request, but not its lock: past LockTTL
	// another instance may refresh, so this one's context ends.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.opt.LockTTL)
	req := r.Clone(ctx)
	req.Method = http.MethodGet
	for _, n := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		req.Header.Del(n)
	}
	go func() {
		won := false
		defer cancel()
		defer func() {
			if v := recover(); v != nil {
				c.fail(req, fmt.Errorf("cachehandler: background refresh: handler panicked: %v", v))
			}
			c.mu.Lock()
			delete(c.refreshing, k.fill)
			c.mu.Unlock()
			if c.testHookRefresh != nil {
				c.testHookRefresh(won)
			}
			c.bg.Done()
		}()
		token, gen, ok, err := c.tryLock(ctx, k)
		if err != nil {
			c.fail(req, err)
			return
		}
		if !ok {
			return
		}
		won = true
		f := &httpFill{k: k, stale: e, fwd: "stale", store: true, token: token, gen: gen, reqTime: c.opt.Now()}
		c.forward(&httpDiscard{header: http.Header{}}, req, rt, f)
	}()
}

// pass runs next for a method the cache neither stores nor invalidates,
// keeping Cache-Tag from the client.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, next http.Handler) {
	hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: func(hw *httpwrap.Writer, _ int) {
		hw.Header().Del("Cache-Tag")
	}})
	next.ServeHTTP(hw, r)
}

// serveUnsafe runs next for an unsafe method and, when it succeeds (2xx or
// 3xx), invalidates the request URI and the same-origin Location and
// Content-Location (RFC 9111 §4.4) before the response goes out, so the
// client's next read cannot see the old entry.
func (c *Cache) serveUnsafe(w http.ResponseWriter, r *http.Request, next http.Handler) {
	hw := httpwrap.New(w, httpwrap.Options{BeforeHeader: func(hw *httpwrap.Writer, status int) {
		hw.Header().Del("Cache-Tag")
		if status >= 200 && status < 400 {
			c.invalidate(r, hw.Header())
		}
	}})
	next.ServeHTTP(hw, r)
	if !hw.WroteHeader() {
		hw.WriteHeader(http.StatusOK)
	}
}

func (c *Cache) invalidate(r *http.Request, h http.Header) {
	u := httpRequestURL(r)
	ks := []httpKeys{c.keysFor(httpNormalURL(u))}
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		abs := u.ResolveReference(ref)
		if httpSameOrigin(abs, u) { // RFC 9111 §4.4: same origin only
			ks = append(ks, c.keysFor(httpNormalURL(abs)))
		}
	}
	err := redisDo(c, context.WithoutCancel(r.Context()), func(ctx context.Context, a purgeArgs) error {
		return a.c.purgeKeys(ctx, a.ks)
	}, purgeArgs{c, ks})
	if err != nil {
		c.fail(r, fmt.Errorf("cachehandler: invalidate: %w", err))
	}
}

// purgeArgs are what a Redis call of purgeKeys needs.
type purgeArgs struct {
	c  *Cache
	ks []httpKeys
}

// httpComplete reports whether a captured body is whole: the request was
// not cancelled (a handler that stops early on a cancelled context leaves a
// truncated body) and the length matches a declared Content-Length.
func httpComplete(r *http.Request, h http.Header, written int64) bool {
	if r.Context().Err() != nil {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		return err == nil && n == written
	}
	return true
}
