package cachehandler

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestRFC9111Section5_1AgeList: a list-valued Age (several field lines or
// one line with commas) counts its first member; an invalid first member
// makes the cache ignore the field.
func TestRFC9111Section5_1AgeList(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	start := clock.Now()
	tests := []struct {
		name string
		age  []string // Age field lines of the response
		want string   // Age of the hit a second later
	}{
		{"single value", []string{"30"}, "31"},
		{"comma list, first member", []string{"30, 50"}, "31"},
		{"comma list without spaces", []string{"30,50"}, "31"},
		{"several field lines, first line", []string{"30", "50"}, "31"},
		{"first member invalid: ignored", []string{"x, 30"}, "1"},
		{"negative: ignored", []string{"-30"}, "1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			kv := []string{"Cache-Control", "max-age=600"}
			for _, a := range tt.age {
				kv = append(kv, "Age", a)
			}
			h := c.Middleware(testStatic(200, "x", kv...))
			url := "http://example.com/age-list/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			clock.Add(time.Second)
			w := testDo(h, "GET", url)
			if got := w.Header().Values("Age"); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("Age %q, want %q (Cache-Status %q)", got, tt.want, w.Header().Get("Cache-Status"))
			}
		})
	}
}

// TestRFC9111Section3_2Freshening: a 304 to the cache's revalidation
// replaces every stored field it carries, Content-Type, Content-Encoding and
// Content-Range included, but not Content-Length (which describes the stored
// body) nor hop-by-hop fields; its Age counts for the freshened entry.
func TestRFC9111Section3_2Freshening(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") != "" {
			h.Set("Cache-Control", "max-age=120")
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Encoding", "identity")
			h.Set("Content-Range", "bytes */8")
			h.Set("Content-Length", "999")
			h.Set("X-Kept", "new")
			h.Set("Connection", "X-Hop")
			h.Set("X-Hop", "hop")
			h.Set("Keep-Alive", "timeout=5")
			h.Set("Age", "20")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Cache-Control", "max-age=10")
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Encoding", "x-old")
		h.Set("X-Kept", "old")
		h.Set("X-Untouched", "yes")
		_, _ = w.Write([]byte("original"))
	}}
	h := c.Middleware(origin)
	const url = "http://example.com/freshen-fields"
	testDo(h, "GET", url)
	clock.Add(30 * time.Second)
	if w := testDo(h, "GET", url); w.Header().Get("Cache-Status") != "redisware; fwd=stale; fwd-status=304; stored" {
		t.Fatalf("revalidation: Cache-Status %q", w.Header().Get("Cache-Status"))
	}
	clock.Add(time.Second)
	w := testDo(h, "GET", url)
	if w.Body.String() != "original" || w.Header().Get("Cache-Status") != "redisware; hit; ttl=99" {
		t.Fatalf("hit after freshening: %q, Cache-Status %q", w.Body.String(), w.Header().Get("Cache-Status"))
	}
	want := map[string]string{
		"Content-Type":     "text/html; charset=utf-8",
		"Content-Encoding": "identity",
		"Content-Range":    "bytes */8",
		"Content-Length":   "8",
		"X-Kept":           "new",
		"X-Untouched":      "yes",
		"X-Hop":            "",
		"Keep-Alive":       "",
		"Age":              "21",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if n := origin.calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

// TestRFC9111Section4_3_4StrongValidator: a 304 whose strong ETag is not the
// stored one's (a weak ETag of the same value included) freshens nothing;
// the cache asks again without conditions. A weak ETag in the 304 selects by
// weak comparison.
func TestRFC9111Section4_3_4StrongValidator(t *testing.T) {
	b := redistest.Start(t)
	clock := testNewClock()
	c, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
	tests := []struct {
		name          string
		stored, in304 string
		freshens      bool
	}{
		{"same strong ETag", `"v1"`, `"v1"`, true},
		{"weak 304 ETag, weak match", `"v1"`, `W/"v1"`, true},
		{"weak stored, weak 304", `W/"v1"`, `W/"v1"`, true},
		{"strong 304 ETag, stored weak", `W/"v1"`, `"v1"`, false},
		{"strong 304 ETag, another value", `"v1"`, `"v2"`, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var unconditional atomic.Int64
			origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=10")
				if r.Header.Get("If-None-Match") != "" {
					w.Header().Set("ETag", tt.in304)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				unconditional.Add(1)
				w.Header().Set("ETag", tt.stored)
				_, _ = w.Write([]byte("body"))
			}}
			h := c.Middleware(origin)
			url := "http://example.com/strong/" + strconv.Itoa(i)
			testDo(h, "GET", url)
			clock.Add(time.Minute)
			w := testDo(h, "GET", url)
			if w.Code != 200 || w.Body.String() != "body" {
				t.Fatalf("%d %q", w.Code, w.Body.String())
			}
			wantUnconditional := int64(2)
			if tt.freshens {
				wantUnconditional = 1
			}
			if got := unconditional.Load(); got != wantUnconditional {
				t.Fatalf("%d unconditional requests, want %d (Cache-Status %q)", got, wantUnconditional, w.Header().Get("Cache-Status"))
			}
		})
	}
}
