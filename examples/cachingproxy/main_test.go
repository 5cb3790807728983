package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

func TestProxyCachesAndForwards(t *testing.T) {
	var calls atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-Seen", r.Header.Get("X-Custom"))
		_, _ = io.WriteString(w, "page "+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	target, _ := url.Parse(origin.URL)
	rdb, prefix := redistest.New(t)
	h, c, err := newProxy(target, rdb, prefix+"cachingproxy:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	proxy := httptest.NewServer(h)
	t.Cleanup(proxy.Close)

	get := func(custom string) *http.Response {
		req, _ := http.NewRequest("GET", proxy.URL+"/a?x=1", nil)
		req.Header.Set("X-Custom", custom)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	first := get("one")
	body, _ := io.ReadAll(first.Body)
	if string(body) != "page /a?x=1" || first.Header.Get("X-Seen") != "one" {
		t.Fatalf("first: %q %v", body, first.Header)
	}
	second := get("two")
	if !strings.HasPrefix(second.Header.Get("Cache-Status"), "redisware; hit") || calls.Load() != 1 {
		t.Fatalf("second: Cache-Status %q, origin calls %d", second.Header.Get("Cache-Status"), calls.Load())
	}
	resp, err := http.Post(proxy.URL+"/a?x=1", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || calls.Load() != 2 {
		t.Fatalf("POST: %d, origin calls %d", resp.StatusCode, calls.Load())
	}
	if third := get("three"); strings.Contains(third.Header.Get("Cache-Status"), "hit") {
		t.Fatal("POST did not invalidate the page")
	}
}
