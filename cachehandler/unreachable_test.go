package cachehandler

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// testFlaky answers with cc while up; once down it reports the origin
// unreachable (when report is set) and answers 502, as a reverse proxy's
// error handler does.
func testFlaky(cc string, report bool, down *atomic.Bool, kv ...string) *testOrigin {
	return &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if report {
				ReportUnreachable(r.Context())
			}
			http.Error(w, "origin unreachable", http.StatusBadGateway)
			return
		}
		w.Header().Set("Cache-Control", cc)
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		_, _ = w.Write([]byte("good"))
	}}
}

// TestRFC9111Section4_2_4Unreachable: when the handler reports its origin
// unreachable, a stored response answers, stale, unless a directive
// forbids serving it unvalidated (RFC 9111 §4.2.4, §5.2.2) or it is stale
// for longer than the grace; an origin's own 5xx is not an unreachable
// origin, and only stale-if-error covers it (RFC 5861 §4).
func TestRFC9111Section4_2_4Unreachable(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	tests := []struct {
		name    string
		cc      string
		kv      []string
		report  bool
		stale   time.Duration // how long past its freshness the request comes
		code    int
		status  string
		targets bool // the directives come in CDN-Cache-Control
	}{
		{"§4.2.4 no validator: the stale copy answers", "max-age=10", nil, true, 20 * time.Second,
			200, "redisware; fwd=stale; fwd-status=502; ttl=-20; detail=origin-unreachable", false},
		{"§4.2.4 with a validator: the stale copy answers", "max-age=10", []string{"ETag", `"e"`}, true, 20 * time.Second,
			200, "redisware; fwd=stale; fwd-status=502; ttl=-20; detail=origin-unreachable", false},
		{"§4.2.4 at the end of the grace", "max-age=10", nil, true, DefaultStaleGrace,
			200, "redisware; fwd=stale; fwd-status=502; ttl=-300; detail=origin-unreachable", false},
		{"§4.2.4 stale-if-error longer than the grace", "max-age=10, stale-if-error=3600", nil, true, 30 * time.Minute,
			200, "redisware; fwd=stale; fwd-status=502; ttl=-1800; detail=origin-unreachable", false},
		{"§5.2.2.2 must-revalidate: the error goes out", "max-age=10, must-revalidate", []string{"ETag", `"e"`}, true, 20 * time.Second,
			502, "redisware; fwd=stale; fwd-status=502", false},
		{"§5.2.2.8 proxy-revalidate: the error goes out", "max-age=10, proxy-revalidate", []string{"ETag", `"e"`}, true, 20 * time.Second,
			502, "redisware; fwd=stale; fwd-status=502", false},
		{"§5.2.2.10 s-maxage: the error goes out", "s-maxage=10", []string{"ETag", `"e"`}, true, 20 * time.Second,
			502, "redisware; fwd=stale; fwd-status=502", false},
		{"§5.2.2.4 no-cache: the error goes out", "max-age=600, no-cache", []string{"ETag", `"e"`}, true, 0,
			502, "redisware; fwd=stale; fwd-status=502", false},
		{"RFC 9213 targeted must-revalidate: the error goes out", "max-age=10, must-revalidate", []string{"ETag", `"e"`}, true, 20 * time.Second,
			502, "redisware; fwd=stale; fwd-status=502", true},
		{"RFC 5861 §4 an origin's own 502 is not covered without stale-if-error", "max-age=10", []string{"ETag", `"e"`}, false, 20 * time.Second,
			502, "redisware; fwd=stale; fwd-status=502", false},
		{"RFC 5861 §4 stale-if-error still covers an origin's own 502", "max-age=10, stale-if-error=60", nil, false, 20 * time.Second,
			200, "redisware; fwd=stale; fwd-status=502; ttl=-20; detail=stale-if-error", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var down atomic.Bool
			kv := tt.kv
			cc := tt.cc
			if tt.targets {
				kv = append([]string{"CDN-Cache-Control", cc}, kv...)
				cc = "max-age=600"
			}
			origin := testFlaky(cc, tt.report, &down, kv...)
			h := c.Middleware(origin)
			url := "http://example.com/unreachable/" + strconv.Itoa(i)
			if w := testDo(h, "GET", url); !strings.Contains(w.Header().Get("Cache-Status"), "stored") {
				t.Fatalf("not stored: %q", w.Header().Get("Cache-Status"))
			}
			fresh := 10 * time.Second
			if strings.Contains(tt.cc, "max-age=600") {
				fresh = 0 // no-cache: every use goes to the handler
			}
			clock.Add(fresh + tt.stale)
			down.Store(true)
			w := testDo(h, "GET", url)
			if w.Code != tt.code || w.Header().Get("Cache-Status") != tt.status {
				t.Fatalf("%d %q, Cache-Status %q; want %d %q", w.Code, w.Body.String(), w.Header().Get("Cache-Status"), tt.code, tt.status)
			}
			if tt.code == 200 && w.Body.String() != "good" {
				t.Fatalf("body %q", w.Body.String())
			}
			if n := origin.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2", n)
			}
		})
	}
}

// TestRFC9111Section4_2_4PastTheGrace: an entry stale for longer than the
// grace does not answer an unreachable origin, and with a negative
// StaleGrace an entry without a validator is gone once stale.
func TestRFC9111Section4_2_4PastTheGrace(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	var down atomic.Bool
	h := c.Middleware(testFlaky("max-age=10", true, &down, "ETag", `"e"`))
	testDo(h, "GET", "http://example.com/past-grace")
	clock.Add(10*time.Second + DefaultStaleGrace + time.Second)
	down.Store(true)
	if w := testDo(h, "GET", "http://example.com/past-grace"); w.Code != http.StatusBadGateway {
		t.Fatalf("past the grace: %d %q", w.Code, w.Header().Get("Cache-Status"))
	}

	c2, _ := testCache(t, b.Client(), b.Prefix+"nograce:", clock, func(o *Options) { o.StaleGrace = -1 })
	down.Store(false)
	h2 := c2.Middleware(testFlaky("max-age=10", true, &down))
	testDo(h2, "GET", "http://example.com/no-grace")
	d, err := b.Client().PTTL(context.Background(), c2.keysFor("http://example.com/no-grace").base).Result()
	if err != nil || d > 10*time.Second || d < 5*time.Second {
		t.Fatalf("no grace: PTTL %v, %v; want about 10s", d, err)
	}
	clock.Add(11 * time.Second)
	if !b.FastForward(11 * time.Second) {
		return // real Redis moves its TTLs only with time; the PTTL above is the proof there
	}
	down.Store(true)
	if w := testDo(h2, "GET", "http://example.com/no-grace"); w.Code != http.StatusBadGateway || w.Header().Get("Cache-Status") != "redisware; fwd=uri-miss" {
		t.Fatalf("no grace: %d %q", w.Code, w.Header().Get("Cache-Status"))
	}
}

// TestRFC9111Section4_2_4StaleGraceExpiry: entries that may be served
// stale stay in Redis for their freshness plus the grace; those that may
// not, or that arrived stale, do not.
func TestRFC9111Section4_2_4StaleGraceExpiry(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), nil)
	tests := []struct {
		name string
		resp []string
		want time.Duration
	}{
		{"fresh, no validator: the grace", []string{"Cache-Control", "max-age=60"}, 60*time.Second + DefaultStaleGrace},
		{"stale-if-error longer than the grace", []string{"Cache-Control", "max-age=60, stale-if-error=3600"}, 3660 * time.Second},
		{"must-revalidate: no grace", []string{"Cache-Control", "max-age=60, must-revalidate"}, 60 * time.Second},
		{"must-revalidate with a validator: KeepStale", []string{"Cache-Control", "max-age=60, must-revalidate", "ETag", `"e"`}, 60*time.Second + DefaultKeepStale},
		{"arrived stale with a validator: KeepStale only", []string{"Cache-Control", "max-age=0", "ETag", `"e"`}, DefaultKeepStale},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://example.com/grace-expiry/" + strconv.Itoa(i)
			testDo(c.Middleware(testStatic(200, "x", tt.resp...)), "GET", url)
			d, err := rdb.PTTL(ctx, c.keysFor(url).base).Result()
			if err != nil || d > tt.want || d < tt.want-5*time.Second {
				t.Fatalf("PTTL %v, %v; want about %v", d, err, tt.want)
			}
		})
	}
}

// TestReportUnreachableColdMiss: with nothing stored the handler's error
// response goes out, and a context the cache did not make is left alone.
func TestReportUnreachableColdMiss(t *testing.T) {
	b := redistest.Start(t)
	c, _ := testCache(t, b.Client(), b.Prefix, testNewClock(), nil)
	var down atomic.Bool
	down.Store(true)
	w := testDo(c.Middleware(testFlaky("max-age=10", true, &down)), "GET", "http://example.com/unreachable-cold")
	if w.Code != http.StatusBadGateway || w.Header().Get("Cache-Status") != "redisware; fwd=uri-miss" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Cache-Status"))
	}
	ReportUnreachable(context.Background()) // no exchange in it: nothing to mark, no panic
}
