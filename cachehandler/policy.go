package cachehandler

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// hopByHop are the hop-by-hop fields (RFC 9110 §7.6.1) and the fields
// specific to one proxy hop (RFC 9111 §3.1), never stored.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info",
	"Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding",
	"Upgrade",
}

// notStored are fields a cache never keeps: recomputed on every use.
// (Cache-Tag is stored, so a freshened entry keeps its tags, and never
// sent.)
var notStored = []string{"Age", "Cache-Status"}

// storedHeader copies h without hop-by-hop fields (including those
// Connection names) and without the fields recomputed per use.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, v := range h.Values("Connection") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out.Del(n)
			}
		}
	}
	for _, n := range hopByHop {
		out.Del(n)
	}
	for _, n := range notStored {
		out.Del(n)
	}
	return out
}

// heuristic reports whether status may be cached without explicit
// freshness (RFC 9110 §15.1), which is when a route TTL applies.
func heuristic(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// decision is the verdict on storing one response.
type decision struct {
	ok     bool
	reason string // why not, for tests and logs
	e      cacheEntry
	ttl    time.Duration // Redis expiry of the entry
	tags   []string
}

// decide applies RFC 9111 §3 to a response of r: status, header (as the
// handler set it), and the times of the exchange. routeTTL is the route's
// TTL for responses without explicit freshness (0: none).
func (c *Cache) decide(r *http.Request, status int, h http.Header, reqTime, respTime time.Time, routeTTL time.Duration) decision {
	no := func(reason string) decision { return decision{reason: reason} }
	if r.Method != http.MethodGet {
		return no("method")
	}
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified || status > 599 {
		return no("status")
	}
	cc, targeted := c.responseDirectives(h)
	switch {
	case cc.noStore:
		return no("no-store")
	case cc.private:
		return no("private")
	case cc.mustUnderstand && !heuristic(status):
		// RFC 9111 §5.2.2.3: store only statuses whose caching rules this
		// cache is known to implement.
		return no("must-understand")
	case len(h.Values("Set-Cookie")) > 0:
		return no("set-cookie")
	}
	authOK := cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate
	if r.Header.Get("Authorization") != "" && !authOK {
		return no("authorization")
	}
	if _, star := varyNames(h); star {
		return no("vary-star")
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > int64(c.opt.MaxBodyBytes) {
			return no("too-large")
		}
	}

	// Freshness lifetime, RFC 9111 §4.2.1: s-maxage, max-age, Expires
	// (not with a targeted field, RFC 9213 §2.1), then the route's TTL.
	// An invalid Date (or one on several lines) is as good as none: the
	// response's arrival stands in for it.
	date := respTime
	if d, ok := headerDate(h, "Date", respTime); ok {
		date = d
	}
	var fresh time.Duration
	switch {
	case cc.sMaxAge >= 0:
		fresh = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge >= 0:
		fresh = time.Duration(cc.maxAge) * time.Second
	case !targeted && len(h.Values("Expires")) > 0:
		// RFC 9111 §5.3: an invalid Expires, such as "0", or one given on
		// several field lines, means already expired.
		if exp, ok := headerDate(h, "Expires", respTime); ok && exp.After(date) {
			fresh = exp.Sub(date)
		}
	case routeTTL > 0 && heuristic(status):
		fresh = routeTTL
	default:
		return no("no-freshness")
	}

	// Age, RFC 9111 §4.2.3.
	apparent := max(respTime.Sub(date), 0)
	var ageValue time.Duration
	if a, ok := ageField(h); ok {
		ageValue = time.Duration(a) * time.Second
	}
	initialAge := max(apparent, ageValue+respTime.Sub(reqTime))

	e := cacheEntry{
		status: status, requestTime: reqTime, responseTime: respTime,
		initialAge: initialAge, fresh: fresh,
		swr: time.Duration(max(cc.swr, 0)) * time.Second,
		sie: time.Duration(max(cc.sie, 0)) * time.Second,
	}
	if authOK {
		e.flags |= entryFlagAuthOK
	}
	if cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge >= 0 {
		e.flags |= entryFlagMustRevalidate
	}
	if cc.noCache {
		e.flags |= entryFlagNoCache
	}
	e.header = storedHeader(h)
	if e.header.Get("Date") == "" {
		e.header.Set("Date", respTime.UTC().Format(http.TimeFormat))
	}
	if cc.noCache && !e.hasValidator() {
		// Every use would refill it anyway.
		return no("no-cache-without-validator")
	}
	// Kept past its freshness for the longest of: its stale windows; the
	// stale grace, if it arrived fresh and may be served stale at all (a
	// response stale on arrival, such as max-age=0, would be written anew
	// by every request for the sake of an outage); with a validator,
	// KeepStale, to be revalidated with a 304.
	keep := max(e.swr, e.sie)
	if fresh > initialAge && e.flags&(entryFlagMustRevalidate|entryFlagNoCache) == 0 {
		keep = max(keep, c.opt.StaleGrace)
	}
	if e.hasValidator() {
		keep = max(keep, c.opt.KeepStale)
	}
	ttl := max(fresh-initialAge, 0) + keep
	if ttl <= 0 {
		return no("stale-on-arrival")
	}
	return decision{ok: true, e: e, ttl: ttl, tags: splitTags(h.Values("Cache-Tag"))}
}

// freshen updates a stored entry with a 304's header fields (RFC 9111
// §4.3.4), then recomputes its freshness as if the merged response had
// just arrived, with the 304's Age and the times of the revalidation.
//
// RFC 9111 §3.2: every field of the 304 replaces the stored one, except
// the fields never stored (hop-by-hop ones, those Connection names, the
// proxy-specific ones of §3.1) and Content-Length, which describes the
// stored body, not the 304. The RFC also lets a cache keep fields its
// stored response depends on; this cache stores the body as received,
// neither decoded nor parsed, so Content-Type, Content-Encoding and
// Content-Range are updated like any other field.
func (c *Cache) freshen(r *http.Request, old *cacheEntry, h304 http.Header, reqTime, respTime time.Time, routeTTL time.Duration) decision {
	merged := old.header.Clone()
	for k, v := range storedHeader(h304) {
		if k != "Content-Length" {
			merged[k] = v
		}
	}
	if len(h304.Values("Date")) == 0 {
		merged.Del("Date") // the stored Date is the old exchange's
	}
	if age := h304.Values("Age"); len(age) > 0 {
		merged["Age"] = age // read by decide, not stored
	}
	d := c.decide(r, old.status, merged, reqTime, respTime, routeTTL)
	d.e.body = old.body
	return d
}

// ageField reads the Age field: its first member when it is a list (RFC
// 9111 §5.1, a singleton field sent as several lines or values), and ok
// false when that member is not delta-seconds, so the field is ignored.
func ageField(h http.Header) (int64, bool) {
	vs := h.Values("Age")
	if len(vs) == 0 {
		return 0, false
	}
	first, _, _ := strings.Cut(vs[0], ",")
	return ccDelta(strings.TrimSpace(first))
}

// splitTags splits Cache-Tag field lines into tags.
func splitTags(vs []string) []string {
	var tags []string
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
