package cachehandler

import (
	"context"
	"fmt"
	"net/http"
)

// refresh revalidates e in the background after a stale-while-revalidate
// hit. One refresher runs per URL in this process, and the fill lock makes
// it one across all instances.
func (c *Cache) refresh(r *http.Request, rt *route, k keySet, e *cacheEntry) {
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
		defer cancel()
		defer func() {
			if v := recover(); v != nil {
				c.fail(req, fmt.Errorf("cachehandler: background refresh: handler panicked: %v", v))
			}
			c.mu.Lock()
			delete(c.refreshing, k.fill)
			c.mu.Unlock()
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
		f := &forwarding{k: k, stale: e, fwd: "stale", store: true, token: token, gen: gen, reqTime: c.opt.Now(), bg: true}
		c.forward(&discardWriter{header: http.Header{}}, req, rt, f)
	}()
}
