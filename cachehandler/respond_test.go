package cachehandler

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestServeEntryCopiesFields: a stored entry is shared by the requests
// that share its lookup, so what one response's fields go through on the
// way out (a middleware changing a value in place) must not reach the
// entry or the next response.
func TestServeEntryCopiesFields(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	stored := &cacheEntry{
		status: 200, header: http.Header{"Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}, "Cache-Tag": {"t"}},
		body: []byte("hello"), requestTime: now, responseTime: now, fresh: time.Minute,
	}
	e, err := entryDecode(entryEncode(nil, stored))
	if err != nil {
		t.Fatal(err)
	}
	want := e.header.Clone()
	c := &Cache{opt: Options{Name: "test"}}
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	for i := range 2 {
		w := httptest.NewRecorder()
		c.serveEntry(w, r, e, now.Add(3*time.Second), "hit", ttlNow)
		got := w.Result().Header
		wantResp := http.Header{"Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}, "Age": {"3"},
			"Cache-Status": {"test; hit; ttl=57"}, "Content-Length": {"5"}}
		if !reflect.DeepEqual(got, wantResp) {
			t.Fatalf("response %d: header %v, want %v", i, got, wantResp)
		}
		if w.Body.String() != "hello" {
			t.Fatalf("response %d: body %q", i, w.Body)
		}
		h := w.Header()
		for _, vs := range h {
			for j := range vs {
				vs[j] = "changed"
			}
		}
		h["X-Multi"] = append(h["X-Multi"], "c")
		if !reflect.DeepEqual(e.header, want) {
			t.Fatalf("response %d changed the entry: %v", i, e.header)
		}
	}
}

// TestConcurrentHitsOwnTheirFields: hits that share one lookup (and one
// decoded entry) each answer with fields of their own.
func TestConcurrentHitsOwnTheirFields(t *testing.T) {
	be := redistest.Start(t)
	c, _ := testCache(t, be.Client(), be.Prefix, testNewClock(), nil)
	h := c.Middleware(testStatic(200, "body", "Cache-Control", "max-age=3600", "Content-Type", "text/plain"))
	url := "http://example.com/own-fields"
	testDo(h, "GET", url)
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		ct := w.Header()["Content-Type"]
		if len(ct) != 1 || ct[0] != "text/plain" {
			t.Errorf("Content-Type %q", ct)
			return
		}
		ct[0] = "changed" // in place, as a careless middleware might
	})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				w := testDo(outer, "GET", url)
				if w.Code != 200 || w.Body.String() != "body" {
					t.Errorf("%d %q", w.Code, w.Body)
					return
				}
			}
		})
	}
	wg.Wait()
}
