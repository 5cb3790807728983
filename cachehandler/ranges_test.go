package cachehandler

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestRFC9110Section14RangeFromEntry: a Range request for a URL whose
// complete 200 is stored is answered from the entry, with the stored
// header fields, Age and Cache-Status of a hit, and no handler run.
func TestRFC9110Section14RangeFromEntry(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	lm := clock.Now().Add(-time.Hour)
	origin := testStatic(200, "0123456789", "Cache-Control", "max-age=60", "ETag", `"v1"`,
		"Last-Modified", lm.Format(http.TimeFormat), "Date", clock.Now().Format(http.TimeFormat), "Content-Type", "text/plain")
	h := c.Middleware(origin)
	const url = "http://example.com/ranges"
	testDo(h, "GET", url)
	clock.Add(2 * time.Second)
	tests := []struct {
		name   string
		method string
		req    []string
		code   int
		body   string
		cr     string // Content-Range
	}{
		{"§14.1.2 int-range", "GET", []string{"Range", "bytes=0-4"}, 206, "01234", "bytes 0-4/10"},
		{"§14.1.2 int-range without last-pos", "GET", []string{"Range", "bytes=5-"}, 206, "56789", "bytes 5-9/10"},
		{"§14.1.2 last-pos past the end is clipped", "GET", []string{"Range", "bytes=8-100"}, 206, "89", "bytes 8-9/10"},
		{"§14.1.2 one byte", "GET", []string{"Range", "bytes=3-3"}, 206, "3", "bytes 3-3/10"},
		{"§14.1.2 suffix-range", "GET", []string{"Range", "bytes=-3"}, 206, "789", "bytes 7-9/10"},
		{"§14.1.2 suffix longer than the body", "GET", []string{"Range", "bytes=-100"}, 206, "0123456789", "bytes 0-9/10"},
		{"§14.1 unit is case-insensitive, OWS allowed", "GET", []string{"Range", "Bytes= 2-3 "}, 206, "23", "bytes 2-3/10"},
		{"§5.6.1 empty list elements do not count", "GET", []string{"Range", "bytes=, 2-3,"}, 206, "23", "bytes 2-3/10"},
		{"§15.5.17 first-pos past the end: 416", "GET", []string{"Range", "bytes=10-"}, 416, "", "bytes */10"},
		{"§15.5.17 zero-length suffix: 416", "GET", []string{"Range", "bytes=-0"}, 416, "", "bytes */10"},
		{"§14.1.1 invalid range (last before first) is ignored", "GET", []string{"Range", "bytes=5-2"}, 200, "0123456789", ""},
		{"§14.2 unknown unit is ignored", "GET", []string{"Range", "items=0-1"}, 200, "0123456789", ""},
		{"§14.2 garbage is ignored", "GET", []string{"Range", "bytes=a-b"}, 200, "0123456789", ""},
		{"§14.2 several ranges: the whole 200", "GET", []string{"Range", "bytes=0-1,4-5"}, 200, "0123456789", ""},
		{"§14.2 Range on several lines is ignored", "GET", []string{"Range", "bytes=0-1", "Range", "bytes=4-5"}, 200, "0123456789", ""},
		{"§14.2 HEAD ignores Range", "HEAD", []string{"Range", "bytes=0-4"}, 200, "", ""},
		{"§13.1.5 If-Range, same strong ETag", "GET", []string{"Range", "bytes=0-1", "If-Range", `"v1"`}, 206, "01", "bytes 0-1/10"},
		{"§13.1.5 If-Range, another ETag: whole 200", "GET", []string{"Range", "bytes=0-1", "If-Range", `"v0"`}, 200, "0123456789", ""},
		{"§13.1.5 If-Range, weak ETag never matches", "GET", []string{"Range", "bytes=0-1", "If-Range", `W/"v1"`}, 200, "0123456789", ""},
		{"§13.1.5 If-Range, Last-Modified date", "GET", []string{"Range", "bytes=0-1", "If-Range", lm.Format(http.TimeFormat)}, 206, "01", "bytes 0-1/10"},
		{"§13.1.5 If-Range, another date: whole 200", "GET", []string{"Range", "bytes=0-1", "If-Range", lm.Add(time.Second).Format(http.TimeFormat)}, 200, "0123456789", ""},
		{"§13.1.5 If-Range, invalid date: whole 200", "GET", []string{"Range", "bytes=0-1", "If-Range", "Sun, 01 Mar 2026 1:00:00 GMT"}, 200, "0123456789", ""},
		{"§13.2.2 If-None-Match before Range: 304", "GET", []string{"Range", "bytes=0-1", "If-None-Match", `"v1"`}, 304, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testDo(h, tt.method, url, tt.req...)
			if w.Code != tt.code || w.Body.String() != tt.body || w.Header().Get("Content-Range") != tt.cr {
				t.Fatalf("%d %q Content-Range %q; want %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Range"), tt.code, tt.body, tt.cr)
			}
			if cl := w.Header().Get("Content-Length"); tt.code != 304 && tt.method == "GET" && cl != strconv.Itoa(len(tt.body)) {
				t.Fatalf("Content-Length %q for %d bytes", cl, len(tt.body))
			}
			// Stored fields as for a full hit: Age, Cache-Status, validators.
			if w.Header().Get("Age") != "2" || w.Header().Get("Cache-Status") != "redisware; hit; ttl=58" || w.Header().Get("Etag") != `"v1"` {
				t.Fatalf("Age %q Cache-Status %q ETag %q", w.Header().Get("Age"), w.Header().Get("Cache-Status"), w.Header().Get("Etag"))
			}
		})
	}
	if n := origin.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// TestRFC9110Section8_8_2_2IfRangeWeakDate: a Last-Modified less than a
// second before the stored Date is weak, so an If-Range with it is false.
func TestRFC9110Section8_8_2_2IfRangeWeakDate(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	now := clock.Now().Format(http.TimeFormat)
	h := c.Middleware(testStatic(200, "0123456789", "Cache-Control", "max-age=60", "Last-Modified", now, "Date", now))
	const url = "http://example.com/ranges-weak-date"
	testDo(h, "GET", url)
	if w := testDo(h, "GET", url, "Range", "bytes=0-1", "If-Range", now); w.Code != 200 || w.Body.String() != "0123456789" {
		t.Fatalf("%d %q, want the whole 200", w.Code, w.Body.String())
	}
}

// TestRFC9110Section14RangeMiss: a Range request the cache cannot answer
// is passed to the handler with its Range and If-Range, and nothing it
// answers is stored, a 206 least of all; a later request without Range
// fills the entry, and ranges are then hits.
func TestRFC9110Section14RangeMiss(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	var sawRange, sawIfRange atomic.Value
	sawRange.Store("")
	sawIfRange.Store("")
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		sawRange.Store(r.Header.Get("Range"))
		sawIfRange.Store(r.Header.Get("If-Range"))
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789"))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/range-miss"
	w := testDo(h, "GET", url, "Range", "bytes=2-4", "If-Range", `"v1"`)
	if w.Code != 206 || w.Body.String() != "234" || w.Header().Get("Content-Range") != "bytes 2-4/10" {
		t.Fatalf("range miss: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Range"))
	}
	if sawRange.Load() != "bytes=2-4" || sawIfRange.Load() != `"v1"` {
		t.Fatalf("handler saw Range %q If-Range %q", sawRange.Load(), sawIfRange.Load())
	}
	if got := w.Header().Get("Cache-Status"); got != "redisware; fwd=uri-miss" {
		t.Fatalf("range miss Cache-Status %q: not to be stored", got)
	}
	// Nothing was stored: the next request, without Range, fills.
	if w := testDo(h, "GET", url); w.Code != 200 || w.Body.String() != "0123456789" || w.Header().Get("Cache-Status") != "redisware; fwd=uri-miss; stored" {
		t.Fatalf("after the range miss: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
	}
	w = testDo(h, "GET", url, "Range", "bytes=2-4")
	if w.Code != 206 || w.Body.String() != "234" || !strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("range hit: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"))
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}

	// A 206 with freshness of its own is never stored as the entry.
	partial := testStatic(206, "234", "Cache-Control", "max-age=60", "Content-Range", "bytes 2-4/10")
	hp := c.Middleware(partial)
	testDo(hp, "GET", "http://example.com/range-partial", "Range", "bytes=2-4")
	if w := testDo(hp, "GET", "http://example.com/range-partial"); strings.HasPrefix(w.Header().Get("Cache-Status"), "redisware; hit") {
		t.Fatalf("a 206 was stored: %q", w.Header().Get("Cache-Status"))
	}
}

// TestRFC9110Section14RangeRoundTrips: a fresh hit costs one round trip
// with a Range, satisfiable or not, as without.
func TestRFC9110Section14RangeRoundTrips(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	counter := redistest.Count(rdb)
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), nil)
	h := c.Middleware(testStatic(200, "0123456789", "Cache-Control", "max-age=60"))
	const url = "http://example.com/range-rt"
	testDo(h, "GET", url)
	for _, tt := range []struct {
		name, rng string
		code      int
	}{{"no Range", "", 200}, {"one range", "bytes=1-2", 206}, {"unsatisfiable", "bytes=50-", 416}} {
		t.Run(tt.name, func(t *testing.T) {
			counter.Reset()
			var kv []string
			if tt.rng != "" {
				kv = []string{"Range", tt.rng}
			}
			if w := testDo(h, "GET", url, kv...); w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			if got := counter.N(); got != 1 {
				t.Fatalf("%d round trips, want 1: %v", got, counter.Commands())
			}
		})
	}
}

// FuzzRangeOf: any Range and If-Range, against any body size, is ignored,
// unsatisfiable, or one range inside the body; never a panic.
func FuzzRangeOf(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=5-", "bytes=-3", "bytes=8-100", "bytes=-100", "Bytes= 2-3 ", "bytes=, 2-3,",
		"bytes=10-", "bytes=-0", "bytes=5-2", "items=0-1", "bytes=a-b", "bytes=0-1,4-5", "bytes=99999999999999999999-"} {
		f.Add(s, `"v1"`, int64(10))
	}
	f.Add("bytes=-5", "", int64(0))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	stored := http.Header{"Etag": {`"v1"`}, "Last-Modified": {now.Add(-time.Hour).Format(http.TimeFormat)}, "Date": {now.Format(http.TimeFormat)}}
	f.Fuzz(func(t *testing.T, rng, ifRange string, size int64) {
		if size < 0 || size > 1<<40 {
			return
		}
		r, _ := http.NewRequest("GET", "http://example.com/", nil)
		r.Header["Range"] = []string{rng}
		if ifRange != "" {
			r.Header["If-Range"] = []string{ifRange}
		}
		br, kind := rangeOf(r, stored, size, now)
		if kind == rangeOne && (br.first < 0 || br.first > br.last || br.last >= size) {
			t.Fatalf("Range %q of %d bytes: %+v", rng, size, br)
		}
	})
}
