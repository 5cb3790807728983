package cachehandler

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveEntry answers r from e: the stored header, Age, Cache-Status (this
// cache's name and params, where ttlNow stands for e's ttl at now), and a
// 304 when r's conditions match the entry, or a 206 or 416 when r asks a
// stored 200 for a range (see rangeOf).
//
// e may be shared with concurrent requests and is only read. The values
// of the response's fields are copies, one array for all of them, so that
// whatever changes them on the way out (a middleware, say) cannot reach
// the entry; and Age, Cache-Status and Content-Length are sliced out of one
// string.
func (c *Cache) serveEntry(w http.ResponseWriter, r *http.Request, e *cacheEntry, now time.Time, params ...string) {
	h := w.Header()
	n := e.values
	if n == 0 {
		for _, v := range e.header {
			n += len(v)
		}
	}
	vals := make([]string, 0, n+3)
	for k, v := range e.header {
		if k != "Cache-Tag" {
			i := len(vals)
			vals = append(vals, v...)
			h[k] = vals[i:len(vals):len(vals)]
		}
	}
	// RFC 9111 §1.2.2: delta-seconds past 2^31 are sent as 2^31.
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], min(int64(e.age(now)/time.Second), ccMaxDelta), 10)
	ageEnd := len(b)
	b = c.appendStatus(b, e.ttl(now), params)
	statusEnd := len(b)
	b = strconv.AppendInt(b, int64(len(e.body)), 10)
	text := string(b)
	i := len(vals)
	vals = append(vals, text[:ageEnd], text[ageEnd:statusEnd], text[statusEnd:])
	h["Age"] = vals[i : i+1 : i+1]
	h["Cache-Status"] = vals[i+1 : i+2 : i+2]
	if e.status == http.StatusOK && notModified(r, e.header, now) {
		delete(h, "Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if e.status == http.StatusOK && wantsRange(r) {
		if br, kind := rangeOf(r, e.header, int64(len(e.body)), now); kind != rangeIgnored {
			servePartial(w, br, kind, e.body)
			return
		}
	}
	if bodyAllowed(e.status) {
		h["Content-Length"] = vals[i+2 : i+3 : i+3]
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && bodyAllowed(e.status) {
		_, _ = w.Write(e.body)
	}
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// ttlNow, as a param of serveEntry's Cache-Status, stands for the ttl of
// the entry served: "ttl=<seconds left>".
const ttlNow = "ttl"

// status formats a Cache-Status member of this cache: the name, then params.
func (c *Cache) status(params ...string) string {
	var buf [128]byte
	return string(c.appendStatus(buf[:0], 0, params))
}

// appendStatus appends a Cache-Status member of this cache to b: the
// name, then params, with ttlNow written as the ttl param of ttl.
func (c *Cache) appendStatus(b []byte, ttl time.Duration, params []string) []byte {
	b = append(b, c.opt.Name...)
	for _, p := range params {
		b = append(b, "; "...)
		if p == ttlNow {
			b = appendTTLParam(b, ttl)
		} else {
			b = append(b, p...)
		}
	}
	return b
}

// appendTTLParam appends the ttl param of a freshness left of d: whole
// seconds, rounded down (a response 0.5 s stale has ttl=-1).
func appendTTLParam(b []byte, d time.Duration) []byte {
	s := d / time.Second
	if d < 0 && d%time.Second != 0 {
		s--
	}
	b = append(b, "ttl="...)
	return strconv.AppendInt(b, int64(s), 10)
}

// notModified evaluates If-None-Match (weak comparison) or, without it,
// If-Modified-Since, against a stored 200's header (RFC 9110 §13.2.2). An
// If-Modified-Since that is not one valid HTTP-date is ignored (RFC 9110
// §13.1.3).
func notModified(r *http.Request, h http.Header, now time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		etag := h.Get("Etag")
		for _, v := range inm {
			for _, t := range strings.Split(v, ",") {
				t = strings.TrimSpace(t)
				if t == "*" || (etag != "" && weakMatch(t, etag)) {
					return true
				}
			}
		}
		return false
	}
	if len(r.Header.Values("If-Modified-Since")) == 0 {
		return false
	}
	since, ok := headerDate(r.Header, "If-Modified-Since", now)
	if !ok {
		return false
	}
	lm, ok := headerDate(h, "Last-Modified", now)
	if !ok {
		if lm, ok = headerDate(h, "Date", now); !ok {
			return false
		}
	}
	return !lm.After(since)
}

// selects reports whether a 304 with header h304 validates the stored
// response with header stored (RFC 9111 §4.3.4). A strong ETag in the 304
// selects only a stored response with the same strong ETag; a weak one
// selects by weak comparison. Without an ETag, its Last-Modified, if any,
// must equal the stored one. A 304 without validators (common, if against
// RFC 9110 §15.4.5) answers the conditional request the cache made, so it
// selects the stored response.
func selects(h304, stored http.Header, now time.Time) bool {
	if et := h304.Get("Etag"); et != "" {
		if isStrongETag(et) {
			return strongMatch(et, stored.Get("Etag"))
		}
		return weakMatch(et, stored.Get("Etag"))
	}
	if len(h304.Values("Last-Modified")) > 0 {
		a, okA := headerDate(h304, "Last-Modified", now)
		b, okB := headerDate(stored, "Last-Modified", now)
		return okA && okB && a.Equal(b)
	}
	return true
}

// isStrongETag reports whether et is a strong entity tag: quoted, without
// the W/ prefix.
func isStrongETag(et string) bool {
	return len(et) >= 2 && et[0] == '"' && et[len(et)-1] == '"'
}

// strongMatch is the strong comparison of two entity tags (RFC 9110
// §8.8.3.2): both strong and identical.
func strongMatch(a, b string) bool {
	return isStrongETag(a) && a == b
}

// weakMatch is the weak comparison of two entity tags.
func weakMatch(a, b string) bool {
	a = strings.TrimPrefix(a, "W/")
	b = strings.TrimPrefix(b, "W/")
	return len(a) >= 2 && a[0] == '"' && a == b
}

// gateWriter sits between the handler and the client while a stale entry is
// in hand. It holds the handler's header apart and, when swallow says so
// for the status (a 304 answering our revalidation, or a 5xx while
// stale-if-error allows the stale copy), sends nothing, so the cache can
// answer from the entry instead.
type gateWriter struct {
	http.ResponseWriter
	header http.Header
	// swallowNext is set (by the cache, before the status goes out) when
	// the coming status is to be swallowed.
	swallowNext bool
	swallowed   bool
	status      int
	decided     bool
}

func (g *gateWriter) Header() http.Header { return g.header }

func (g *gateWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gateWriter) WriteHeader(code int) {
	if g.decided {
		if !g.swallowed {
			g.ResponseWriter.WriteHeader(code)
		}
		return
	}
	if code >= 100 && code <= 199 {
		return // informational responses are not relayed while gated
	}
	g.decided = true
	g.status = code
	if g.swallowNext {
		g.swallowed = true
		return
	}
	dst := g.ResponseWriter.Header()
	for k, v := range g.header {
		dst[k] = v
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if !g.decided {
		g.WriteHeader(http.StatusOK)
	}
	if g.swallowed {
		return len(p), nil
	}
	return g.ResponseWriter.Write(p)
}

// Flush passes a flush through unless the response is being swallowed.
func (g *gateWriter) Flush() {
	if !g.decided {
		g.WriteHeader(http.StatusOK)
	}
	if !g.swallowed {
		_ = http.NewResponseController(g.ResponseWriter).Flush()
	}
}

// discardWriter is the client of a background refresh: it keeps the header
// and drops the body (the cache captures it above).
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
