package cachehandler

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redisware/redisware/internal/httpwrap"
)

// forward runs the handler once for r, streaming its response to w while
// capturing it, and stores it when allowed. With a stale entry in hand it
// revalidates (a 304 freshens the entry, which then answers r) and applies
// stale-if-error to 5xx responses. The steps, in order: originRequest,
// capture (which decides while the status goes out), the handler, then
// answerFromStale or storeCaptured.
func (c *Cache) forward(w http.ResponseWriter, r *http.Request, rt *route, f *forwarding) {
	released := false // the fill lock went with a store, or to a retry
	defer func() {
		if f.token != "" && !released {
			c.fail(r, c.release(r.Context(), f.k, f.token))
		}
	}()
	x := &exchange{f: f, rt: rt, outer: w.Header().Clone()}
	if f.store {
		x.st = c.trackStore(f.k.hash)
		defer c.untrackStore(f.k.hash, x.st)
	}
	x.req, x.revalidating = originRequest(r, f)
	if f.stale != nil {
		// Only with an entry in hand is there anything to answer with
		// when the handler reports its origin unreachable; a cold miss
		// spends nothing on it.
		x.req = x.req.WithContext(context.WithValue(x.req.Context(), unreachableKey{}, x))
	}
	hw := c.capture(w, x)
	rt.next.ServeHTTP(hw, x.req)
	if !hw.WroteHeader() {
		hw.WriteHeader(http.StatusOK)
	}
	if x.gate != nil && x.gate.swallowed {
		released = c.answerFromStale(w, r, x)
		return
	}
	released = c.storeCaptured(r, x, hw)
	if !f.bg {
		if f.detail == "redis-error" {
			c.served(r, ServeBypass, "redis-error", hw.Written())
		} else {
			c.served(r, ServeMiss, f.fwd, hw.Written())
		}
	}
}

// exchange is one run of the handler by forward: what it was asked, and
// what capture learnt as the response's status went out.
type exchange struct {
	f            *forwarding
	rt           *route
	st           *storing      // this forward's store registration, if it may store
	req          *http.Request // what the handler is asked
	revalidating bool          // req carries the stale entry's validators
	outer        http.Header   // fields set by middleware outside the cache
	gate         *gateWriter   // holds the status back, with a stale entry in hand
	unreachable  atomic.Bool   // the handler called ReportUnreachable

	// Set when the status goes out.
	d        decision
	respTime time.Time
	tagLines []string
}

// originRequest returns the request the handler is asked, and whether it
// revalidates f's stale entry. A fill asks with the cache's validators or
// none: the client's own would get it a 304 that cannot be stored, and
// every request waiting for the fill would then run the handler. The
// client gets the full response instead; the waiters get their 304s from
// the entry.
func originRequest(r *http.Request, f *forwarding) (req *http.Request, revalidating bool) {
	req = r
	revalidating = f.stale != nil && f.store && f.stale.hasValidator()
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
	return req, revalidating
}

// capture wraps w for the handler: it streams the response to the client
// (through a gate that can hold back a 304 or a 5xx when a stale entry is
// in hand), captures the body when it may be stored, and, as the status
// goes out, decides on storing and adds Cache-Status (see beforeHeader).
func (c *Cache) capture(w http.ResponseWriter, x *exchange) *httpwrap.Writer {
	target := w
	if x.f.stale != nil {
		x.gate = &gateWriter{ResponseWriter: w, header: w.Header().Clone()}
		target = x.gate
	}
	return httpwrap.New(target, httpwrap.Options{
		Capture:      x.f.store,
		CaptureLimit: c.opt.MaxBodyBytes,
		BeforeHeader: func(hw *httpwrap.Writer, status int) { c.beforeHeader(hw.Header(), status, x) },
	})
}

// beforeHeader runs as the handler's status goes out, with h the header
// about to be sent: it swallows a 304 to this cache's revalidation and a
// 5xx that stale-if-error covers, decides whether the response is stored,
// and sets Cache-Status.
func (c *Cache) beforeHeader(h http.Header, status int, x *exchange) {
	f := x.f
	x.respTime = c.opt.Now()
	x.tagLines = slices.Clone(h.Values("Cache-Tag"))
	if x.gate != nil {
		x.gate.swallowNext = (status == http.StatusNotModified && x.revalidating) ||
			(status >= 500 && c.sieOK(f.stale, x.respTime)) ||
			(x.unreachable.Load() && c.unreachableOK(f.stale, x.respTime))
		if x.gate.swallowNext {
			h.Del("Cache-Tag")
			return
		}
	}
	params := []string{"fwd=" + f.fwd}
	if f.stale != nil {
		params = append(params, "fwd-status="+strconv.Itoa(status))
	}
	if f.store {
		x.d = c.decide(x.req, status, ownHeader(h, x.outer), f.reqTime, x.respTime, x.rt.ttl)
		// Purged by this process since the handler began: it may have
		// read what the purge removed, and the store script would refuse
		// (as it does after a purge by another instance, which this
		// process does not see).
		x.d.ok = x.d.ok && !x.st.wasPurged()
		if x.d.ok {
			params = append(params, "stored")
		}
	}
	if f.detail != "" {
		params = append(params, "detail="+f.detail)
	}
	h.Del("Cache-Tag")
	h.Add("Cache-Status", c.status(params...))
}

// answerFromStale answers r from the stale entry after the gate swallowed
// the handler's status: a 304 to the revalidation freshens the entry (and
// stores it), a 5xx is covered by stale-if-error. It reports whether the
// fill lock is released (with a store, or handed to a retry).
func (c *Cache) answerFromStale(w http.ResponseWriter, r *http.Request, x *exchange) (released bool) {
	f, now := x.f, c.opt.Now()
	if x.gate.status != http.StatusNotModified || x.unreachable.Load() {
		detail := "detail=stale-if-error"
		if x.unreachable.Load() {
			detail = "detail=origin-unreachable"
		}
		c.serveEntry(w, r, f.stale, now, "fwd="+f.fwd, "fwd-status="+strconv.Itoa(x.gate.status), ttlNow, detail)
		if !f.bg {
			c.served(r, ServeStale, strings.TrimPrefix(detail, "detail="), int64(len(f.stale.body)))
		}
		return false
	}
	h304 := ownHeader(x.gate.header, x.outer)
	if !selects(h304, f.stale.header, x.respTime) {
		// RFC 9111 §4.3.4: a 304 naming another representation updates
		// nothing, and the stored body may not answer r. Ask again
		// without conditions (the retry owns the lock).
		g := *f
		g.stale = nil
		c.forward(w, r, x.rt, &g)
		return true
	}
	if len(x.tagLines) > 0 {
		h304["Cache-Tag"] = x.tagLines
	}
	fd := c.freshen(x.req, f.stale, h304, f.reqTime, x.respTime, x.rt.ttl)
	e := f.stale
	params := []string{"fwd=" + f.fwd, "fwd-status=304"}
	if fd.ok {
		e = &fd.e
	}
	ev := StoreEvent{Revalidated: true, BodyBytes: int64(len(e.body)), Reason: fd.reason}
	if fd.ok && x.st.wasPurged() {
		ev.Reason = "purged"
	}
	if fd.ok && !x.st.wasPurged() {
		stored, err := c.store(r.Context(), r, f.k, e, fd.tags, fd.ttl, f.token, f.gen)
		if err != nil {
			c.fail(r, err)
			ev.Reason = "redis-error"
		} else {
			released = true
			if stored {
				params = append(params, "stored")
			}
			ev.Stored = stored
			if !stored {
				ev.Reason = "purged"
			}
		}
	}
	c.stored(r, ev)
	c.serveEntry(w, r, e, now, params...)
	if !f.bg {
		c.served(r, ServeRevalidated, "", int64(len(e.body)))
	}
	return released
}

// storeCaptured stores the handler's response when the decision allowed it
// and the captured body is whole, and reports whether the fill lock was
// released with the store. The store is refused if the URL was purged
// since the fill began; the Cache-Status sent said "stored" unless this
// process saw the purge.
func (c *Cache) storeCaptured(r *http.Request, x *exchange, hw *httpwrap.Writer) (released bool) {
	f := x.f
	if !f.store || !x.d.ok || hw.Overflowed() || !bodyComplete(x.req, x.d.e.header, hw.Written()) {
		if f.store && c.opt.Observer.OnStore != nil {
			c.stored(r, StoreEvent{Reason: notStoredReason(x, hw), BodyBytes: hw.Written()})
		}
		return false
	}
	x.d.e.body = bytes.Clone(hw.Body())
	stored, err := c.store(r.Context(), r, f.k, &x.d.e, x.d.tags, x.d.ttl, f.token, f.gen)
	if err != nil {
		c.fail(r, err)
		c.stored(r, StoreEvent{Reason: "redis-error", BodyBytes: hw.Written()})
		return false
	}
	if stored {
		c.stored(r, StoreEvent{Stored: true, BodyBytes: hw.Written()})
	} else {
		c.stored(r, StoreEvent{Reason: "purged", BodyBytes: hw.Written()})
	}
	return true
}

// notStoredReason says why storeCaptured did not store x's response.
func notStoredReason(x *exchange, hw *httpwrap.Writer) string {
	switch {
	case x.d.reason != "":
		return x.d.reason
	case !x.d.ok:
		return "purged" // by this process, while the handler ran
	case hw.Overflowed():
		return "too-large"
	}
	return "incomplete"
}

// ownHeader returns h without the fields that middleware outside the
// cache had set before the handler ran and the handler left unchanged:
// those belong to this exchange (a request ID, say), not to the response.
func ownHeader(h, outer http.Header) http.Header {
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

// bodyComplete reports whether a captured body is whole: the request was
// not cancelled (a handler that stops early on a cancelled context leaves a
// truncated body) and the length matches a declared Content-Length.
func bodyComplete(r *http.Request, h http.Header, written int64) bool {
	if r.Context().Err() != nil {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		return err == nil && n == written
	}
	return true
}
