package cachehandler

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pendingFill is one process-wide fill of a URL: the first request of
// this process that misses leads it, the others wait on done. gen is the
// URL's purge generation the leader read with the lock (nil until then, or
// when it could not): a waiter that runs the handler after all stores
// with it.
type pendingFill struct {
	done chan struct{}
	gen  atomic.Pointer[string]
}

// joinPending makes the caller the leader of this process's fill of hash,
// or returns the fill already led.
func (c *Cache) joinPending(hash string) (p *pendingFill, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[hash]; ok {
		return p, false
	}
	p = &pendingFill{done: make(chan struct{})}
	c.pending[hash] = p
	return p, true
}

func (c *Cache) endPending(hash string, p *pendingFill) {
	c.mu.Lock()
	if c.pending[hash] == p {
		delete(c.pending, hash)
	}
	c.mu.Unlock()
	close(p.done)
}

// fill forwards a miss so that one request across all instances runs the
// handler: in this process the first request leads and the others wait for
// it; across processes the leader that takes the lock fills, the others
// wait for its announcement. Waits are bounded by FillWait; then the
// request runs the handler itself.
func (c *Cache) fill(w http.ResponseWriter, r *http.Request, rt *route, f *forwarding) {
	p, leader := c.joinPending(f.k.fill)
	if !leader {
		switch c.await(r, p.done, c.opt.FillWait) {
		case awaitGone:
			return
		case awaitFilled:
			if c.afterFill(w, r, rt, f, shareAfterFill, func() {}) {
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
			c.serveEntry(w, r, f.stale, now, "fwd="+f.fwd, ttlNow, "detail=redis-error")
			c.served(r, ServeStale, "redis-error", int64(len(f.stale.body)))
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
func (c *Cache) awaitFill(w http.ResponseWriter, r *http.Request, rt *route, f *forwarding, end func()) bool {
	var deadline time.Time // FillWait from the first wait
	for {
		fw, err := c.fills.wait(r.Context(), f.k.fill)
		if err != nil {
			if r.Context().Err() != nil {
				return true // the client went away: nothing to answer
			}
			if !errors.Is(err, errClosed) {
				c.fail(r, err)
			}
			return false
		}
		// The fill may have ended before the subscription was confirmed,
		// or while it was down.
		if c.afterFill(w, r, rt, f, shareNone, end) {
			return true
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.opt.FillWait)
		}
		switch c.await(r, fw.done, time.Until(deadline)) {
		case awaitGone:
			return true
		case awaitTimeout:
			return false
		}
		if !fw.again {
			return c.afterFill(w, r, rt, f, shareNone, end)
		}
	}
}

const (
	awaitFilled = iota
	awaitTimeout
	awaitGone // the client went away
)

// await waits at most d for ch to close.
func (c *Cache) await(r *http.Request, ch <-chan struct{}, d time.Duration) int {
	c.waits.Add(1)
	var start time.Time
	if c.opt.Observer.OnWait != nil {
		start = time.Now()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	res := awaitFilled
	select {
	case <-ch:
	case <-t.C:
		res = awaitTimeout
	case <-r.Context().Done():
		res = awaitGone
	}
	if c.opt.Observer.OnWait != nil {
		outcome := [...]WaitOutcome{awaitFilled: WaitFilled, awaitTimeout: WaitTimeout, awaitGone: WaitGone}[res]
		c.opt.Observer.OnWait(r.Context(), WaitEvent{Outcome: outcome, Duration: time.Since(start)})
	}
	return res
}

// afterFill answers r once a fill it waited for has ended, and reports
// whether it did: from the entry the fill stored, if r may use it, or,
// when the fill was of the URL and stored another variant than r's, by
// joining the fill of r's own variant (after end lets this process's
// waiters for the URL go), so a cold URL asked for in several variants
// costs one handler run per variant, not one per request.
func (c *Cache) afterFill(w http.ResponseWriter, r *http.Request, rt *route, f *forwarding, share lookupShare, end func()) bool {
	served, vkey := c.serveCollapsed(w, r, f, share)
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
func (c *Cache) serveCollapsed(w http.ResponseWriter, r *http.Request, f *forwarding, share lookupShare) (served bool, vkey string) {
	lk, err := c.lookup(r, f.k, share)
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
		if e.flags&entryFlagNoCache != 0 {
			own := *e // e is shared with concurrent lookups
			own.flags &^= entryFlagNoCache
			e = &own
		}
	}
	if kind, _ := c.verdict(e, rcc, now); kind != useFresh && kind != useStale {
		return false, ""
	}
	c.serveEntry(w, r, e, now, "fwd="+f.fwd, "collapsed", ttlNow)
	c.served(r, ServeCollapsed, "", int64(len(e.body)))
	return true, ""
}
