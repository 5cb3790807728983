package cachehandler

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How a Range request is answered from a stored 200 (RFC 9110 §14).
const (
	rangeIgnored       = iota // the whole 200: no Range, or one the cache ignores
	rangeOne                  // 206 with one range
	rangeUnsatisfiable        // 416
)

// byteRange is the first and last byte positions of a range, inclusive.
type byteRange struct{ first, last int64 }

// wantsRange reports whether r is a request whose Range this cache may
// answer: a GET with a Range field (RFC 9110 §14.2 defines ranges for GET
// only; HEAD and other methods ignore the field).
func wantsRange(r *http.Request) bool {
	return r.Method == http.MethodGet && len(r.Header.Values("Range")) > 0
}

// rangeOf decides how r's Range is answered from a stored 200 with header
// h and a body of size bytes (RFC 9110 §14.1.1, §14.2, §13.1.5):
//
//   - one satisfiable range: rangeOne, with the range clipped to the body;
//   - one range none of whose bytes exist (first-pos past the end, or a
//     suffix of length 0): rangeUnsatisfiable;
//   - anything else is ignored and the whole 200 is sent, as §14.2 allows
//     a server: a unit other than bytes, an invalid range-set (such as
//     5-2), a Range on several field lines, a false If-Range, and several
//     ranges, which would need a multipart/byteranges body that is rarely
//     worth its cost over the whole representation, or a suffix range of
//     an empty body, which Content-Range cannot express.
func rangeOf(r *http.Request, h http.Header, size int64, now time.Time) (byteRange, int) {
	vs := r.Header.Values("Range")
	if len(vs) != 1 || !ifRangeHolds(r, h, now) {
		return byteRange{}, rangeIgnored
	}
	unit, set, ok := strings.Cut(vs[0], "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return byteRange{}, rangeIgnored
	}
	var spec string
	n := 0
	for _, s := range strings.Split(set, ",") {
		if s = strings.TrimSpace(s); s != "" { // empty list elements do not count (RFC 9110 §5.6.1)
			spec = s
			n++
		}
	}
	if n != 1 {
		return byteRange{}, rangeIgnored
	}
	firstS, lastS, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, rangeIgnored
	}
	if firstS == "" { // suffix-range: the last lastS bytes
		n, ok := rangeDigits(lastS)
		switch {
		case !ok:
			return byteRange{}, rangeIgnored
		case n == 0:
			return byteRange{}, rangeUnsatisfiable
		case size == 0:
			return byteRange{}, rangeIgnored
		}
		return byteRange{first: max(size-n, 0), last: size - 1}, rangeOne
	}
	first, ok := rangeDigits(firstS)
	if !ok {
		return byteRange{}, rangeIgnored
	}
	last := int64(-1)
	if lastS != "" {
		if last, ok = rangeDigits(lastS); !ok || last < first {
			return byteRange{}, rangeIgnored // invalid: the Range is ignored
		}
	}
	if first >= size {
		return byteRange{}, rangeUnsatisfiable
	}
	if last < 0 || last >= size {
		last = size - 1
	}
	return byteRange{first: first, last: last}, rangeOne
}

// rangeDigits parses the digits of a byte position, saturating far past
// any body instead of overflowing.
func rangeDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<53 {
			n = n*10 + int64(c-'0')
		}
	}
	return n, true
}

// ifRangeHolds evaluates If-Range against the stored header h (RFC 9110
// §13.1.5); true when there is none. An entity tag must match the stored
// ETag by strong comparison (a weak tag never does); an HTTP-date must equal
// the stored Last-Modified, and that Last-Modified must be strong: the
// stored Date at least a second later (§8.8.2.2). Anything else, an
// invalid date or several field lines included, is false, and the whole
// 200 is sent.
func ifRangeHolds(r *http.Request, h http.Header, now time.Time) bool {
	vs := r.Header.Values("If-Range")
	switch {
	case len(vs) == 0:
		return true
	case len(vs) > 1:
		return false
	}
	v := vs[0]
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return strongMatch(v, h.Get("Etag"))
	}
	d, ok := parseHTTPDate(v, now)
	if !ok {
		return false
	}
	lm, ok := headerDate(h, "Last-Modified", now)
	if !ok || !lm.Equal(d) {
		return false
	}
	date, ok := headerDate(h, "Date", now)
	return ok && date.Sub(lm) >= time.Second
}

// servePartial answers r with the range br of body (206), or 416 for an
// unsatisfiable range, after the stored header is in place.
func servePartial(w http.ResponseWriter, br byteRange, kind int, body []byte) {
	h := w.Header()
	size := strconv.Itoa(len(body))
	if kind == rangeUnsatisfiable {
		// RFC 9110 §15.5.17: the current length; no representation follows.
		h.Set("Content-Range", "bytes */"+size)
		h.Del("Content-Encoding")
		h.Del("Content-Type")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	h.Set("Content-Range", "bytes "+strconv.FormatInt(br.first, 10)+"-"+strconv.FormatInt(br.last, 10)+"/"+size)
	h.Set("Content-Length", strconv.FormatInt(br.last-br.first+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(body[br.first : br.last+1])
}
