package cachehandler

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestRFC9213TargetedFields: with a valid, non-empty CDN-Cache-Control the
// cache takes storage and freshness from it alone (RFC 9213 §2.1), ignoring
// Cache-Control and Expires; an invalid or empty one is ignored entirely
// (§2.2). The second request comes a second after the first.
func TestRFC9213TargetedFields(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	start := clock.Now()
	date := start.Format(http.TimeFormat)
	in90 := start.Add(90 * time.Second).Format(http.TimeFormat)
	const etag = `"e"`
	tests := []struct {
		name     string
		routeTTL time.Duration
		resp     []string
		stored   bool   // the first response says "stored"
		second   string // Cache-Status of the second request
	}{
		// §2.1: the targeted field's restrictions win over a fresh Cache-Control.
		{"§2.1 targeted private wins over a fresh Cache-Control", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "private"}, false, "redisware; fwd=uri-miss"},
		{"§2.1 targeted no-store wins over a fresh Cache-Control", 0,
			[]string{"Cache-Control", "public, max-age=600", "CDN-Cache-Control", "no-store"}, false, "redisware; fwd=uri-miss"},
		{"§2.1 targeted no-cache wins: stored, revalidated on use", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "no-cache, max-age=600", "ETag", etag}, true, "redisware; fwd=stale; fwd-status=200; stored"},
		{"§2.1 targeted no-cache without a validator is not stored", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "no-cache"}, false, "redisware; fwd=uri-miss"},
		// §3: "CDN-Cache-Control: max-age=600" with "Cache-Control: no-store".
		{"§3 targeted max-age stores despite Cache-Control no-store", 0,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§3 targeted max-age stores despite Cache-Control private", 0,
			[]string{"Cache-Control", "private, max-age=5", "CDN-Cache-Control", "max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§3 targeted max-age over Cache-Control s-maxage and max-age", 0,
			[]string{"Cache-Control", "max-age=60, s-maxage=120", "CDN-Cache-Control", "max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§3 targeted none: no freshness of its own, no Cache-Control either", 0,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "none"}, false, "redisware; fwd=uri-miss"},
		{"§3 targeted none on a route TTL: stored by the route", time.Hour,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "none"}, true, "redisware; hit; ttl=3599"},
		{"§2.1 targeted max-age=0 is stale at once", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "max-age=0", "ETag", etag}, true, "redisware; fwd=stale; fwd-status=200; stored"},
		{"§2.1 targeted s-maxage", 0,
			[]string{"CDN-Cache-Control", "s-maxage=300, max-age=600"}, true, "redisware; hit; ttl=299"},
		// §2.2: values of the wrong type are not consumed.
		{"§2.2 Decimal max-age is invalid: stale", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "max-age=60.5", "ETag", etag}, true, "redisware; fwd=stale; fwd-status=200; stored"},
		{"§2.2 String max-age is invalid: stale", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", `max-age="600"`, "ETag", etag}, true, "redisware; fwd=stale; fwd-status=200; stored"},
		{"§2.2 negative max-age is invalid: stale", 0,
			[]string{"Cache-Control", "max-age=600", "CDN-Cache-Control", "max-age=-1", "ETag", etag}, true, "redisware; fwd=stale; fwd-status=200; stored"},
		{"§2.2 no-store=?0 is no no-store", 0,
			[]string{"CDN-Cache-Control", "no-store=?0, max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§2.2 mistyped no-store still restricts", 0,
			[]string{"CDN-Cache-Control", "no-store=1, max-age=600"}, false, "redisware; fwd=uri-miss"},
		{"§2.2 private with a String of field names", 0,
			[]string{"CDN-Cache-Control", `private="set-cookie", max-age=600`}, false, "redisware; fwd=uri-miss"},
		{"§2.2 unknown directives and parameters are ignored", 0,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "foo=bar, max-age=600;x=1, baz"}, true, "redisware; hit; ttl=599"},
		{"§2.2 a field on several lines is one dictionary", 0,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", "must-revalidate", "CDN-Cache-Control", "max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§2.2 invalid field (upper-case key) is ignored: Cache-Control decides", 0,
			[]string{"Cache-Control", "max-age=60", "CDN-Cache-Control", "Max-Age=600"}, true, "redisware; hit; ttl=59"},
		{"§2.2 invalid field (Cache-Control syntax) is ignored", 0,
			[]string{"Cache-Control", "no-store", "CDN-Cache-Control", `max-age=600, no-cache="a, b"x`}, false, "redisware; fwd=uri-miss"},
		{"§2.2 trailing comma is invalid: ignored", 0,
			[]string{"Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store,"}, true, "redisware; hit; ttl=59"},
		{"§2.2 empty field is ignored", 0,
			[]string{"Cache-Control", "max-age=60", "CDN-Cache-Control", ""}, true, "redisware; hit; ttl=59"},
		// Age and Expires with a targeted field.
		{"§2.3 Age still counts against targeted max-age", 0,
			[]string{"CDN-Cache-Control", "max-age=600", "Age", "100"}, true, "redisware; hit; ttl=499"},
		{"§2.1 Expires is ignored: no freshness without targeted max-age", 0,
			[]string{"Date", date, "Expires", in90, "CDN-Cache-Control", "must-revalidate"}, false, "redisware; fwd=uri-miss"},
		{"§2.1 an expired Expires does not shorten targeted max-age", 0,
			[]string{"Date", date, "Expires", "0", "CDN-Cache-Control", "max-age=600"}, true, "redisware; hit; ttl=599"},
		{"§2.1 without a targeted field Expires decides", 0,
			[]string{"Date", date, "Expires", in90}, true, "redisware; hit; ttl=89"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			origin := testStatic(200, "x", tt.resp...)
			var h http.Handler = c.Middleware(origin)
			if tt.routeTTL > 0 {
				h = c.WithTTL(tt.routeTTL)(origin)
			}
			url := "http://example.com/targeted/" + strconv.Itoa(i)
			first := testDo(h, "GET", url)
			if got := strings.Contains(first.Header().Get("Cache-Status"), "stored"); got != tt.stored {
				t.Fatalf("first Cache-Status %q, stored want %v", first.Header().Get("Cache-Status"), tt.stored)
			}
			clock.Add(time.Second)
			second := testDo(h, "GET", url)
			if got := second.Header().Get("Cache-Status"); got != tt.second {
				t.Fatalf("second Cache-Status %q, want %q", got, tt.second)
			}
			// Both go downstream unchanged (RFC 9213 §2.1: passed through).
			for _, w := range []http.Header{first.Header(), second.Header()} {
				for i := 0; i+1 < len(tt.resp); i += 2 {
					if k := tt.resp[i]; k == "Cache-Control" || k == "CDN-Cache-Control" || k == "Expires" {
						if !strings.Contains(strings.Join(w.Values(k), "\n"), tt.resp[i+1]) {
							t.Errorf("%s %q not passed downstream: %q", k, tt.resp[i+1], w.Values(k))
						}
					}
				}
			}
		})
	}
}

// TestRFC9213Section2_1TargetList: the fields are tried in the order of
// Options.TargetedFields, the first valid one wins, an invalid one falls
// through to the next; an empty list turns targeted fields off.
func TestRFC9213Section2_1TargetList(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	tests := []struct {
		name   string
		fields []string
		resp   []string
		second string
	}{
		{"first of the list wins", []string{"Example-Cache-Control", "CDN-Cache-Control"},
			[]string{"Example-Cache-Control", "max-age=300", "CDN-Cache-Control", "max-age=600", "Cache-Control", "max-age=60"}, "redisware; hit; ttl=299"},
		{"names are case-insensitive", []string{"example-cache-control"},
			[]string{"Example-Cache-Control", "max-age=300", "Cache-Control", "max-age=60"}, "redisware; hit; ttl=299"},
		{"an invalid first falls through to the next", []string{"Example-Cache-Control", "CDN-Cache-Control"},
			[]string{"Example-Cache-Control", "max-age=1.2.3", "CDN-Cache-Control", "max-age=600", "Cache-Control", "max-age=60"}, "redisware; hit; ttl=599"},
		{"a field not on the list changes nothing", []string{"Example-Cache-Control"},
			[]string{"CDN-Cache-Control", "no-store", "Cache-Control", "max-age=60"}, "redisware; hit; ttl=59"},
		{"empty list: none", []string{},
			[]string{"CDN-Cache-Control", "max-age=600", "Cache-Control", "max-age=60"}, "redisware; hit; ttl=59"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCache(t, b.Client(), b.Prefix, clock, func(o *Options) { o.TargetedFields = tt.fields })
			h := c.Middleware(testStatic(200, "x", tt.resp...))
			url := "http://example.com/target-list/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			clock.Add(time.Second)
			if w := testDo(h, "GET", url); w.Header().Get("Cache-Status") != tt.second {
				t.Fatalf("Cache-Status %q, want %q", w.Header().Get("Cache-Status"), tt.second)
			}
		})
	}
}

func TestTargetedFieldsValidated(t *testing.T) {
	rdb, _ := redistest.New(t)
	for _, fields := range [][]string{{""}, {"Cache-Control"}, {"cache-control"}, {"Bad Name"}, {"CDN-Cache-Control", "a:b"}} {
		if _, err := New(rdb, Options{TargetedFields: fields}); err == nil {
			t.Errorf("New accepted TargetedFields %q", fields)
		}
	}
	in := []string{"cdn-cache-control"}
	c, err := New(rdb, Options{TargetedFields: in})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if in[0] != "cdn-cache-control" || c.opt.TargetedFields[0] != "Cdn-Cache-Control" {
		t.Fatalf("caller's slice %q, cache's %q: defaults go into a copy", in, c.opt.TargetedFields)
	}
}

// FuzzParseTargeted: any targeted field value parses or is ignored, never
// panics, and what parses keeps delta values within [-1, 2^31].
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{"max-age=600", "no-store", "private, max-age=60", `private="set-cookie"`, "max-age=60.5",
		`max-age="600"`, "max-age=-1", "no-store=?0", "foo=bar, max-age=600;x=1, baz", "Max-Age=600", "no-store,", "",
		"max-age=(1 2), s-maxage=99999999999999", "stale-if-error=3600, stale-while-revalidate=60"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseTargeted([]string{s})
		if !ok {
			return
		}
		for _, v := range []int64{d.maxAge, d.sMaxAge, d.swr, d.sie} {
			if v < -1 || v > ccMaxDelta {
				t.Fatalf("%q: delta %d out of range", s, v)
			}
		}
	})
}
