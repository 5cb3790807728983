package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisware/redisware/cachehandler"
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
	h, c, err := newProxy(target, rdb, cachehandler.Options{Prefix: prefix + "cachingproxy:"})
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

// TestProxyOriginDown: with the origin stopped, a stored page is served
// stale (RFC 9111 §4.2.4 lets a disconnected cache), and a page marked
// must-revalidate gets the proxy's 502 (RFC 9111 §5.2.2.2).
func TestProxyOriginDown(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cc := "max-age=60"
		if r.URL.Path == "/strict" {
			cc += ", must-revalidate"
		}
		w.Header().Set("Cache-Control", cc)
		_, _ = io.WriteString(w, "page "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	target, _ := url.Parse(origin.URL)
	rdb, prefix := redistest.New(t)
	clock := redistest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h, c, err := newProxy(target, rdb, cachehandler.Options{Prefix: prefix + "cachingproxy:", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	proxy := httptest.NewServer(h)
	t.Cleanup(proxy.Close)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(proxy.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	for _, p := range []string{"/page", "/strict"} {
		if resp, _ := get(p); !strings.Contains(resp.Header.Get("Cache-Status"), "stored") {
			t.Fatalf("%s not stored: %q", p, resp.Header.Get("Cache-Status"))
		}
	}
	origin.Close()
	clock.Add(2 * time.Minute) // both stale

	resp, body := get("/page")
	if resp.StatusCode != 200 || body != "page /page" ||
		resp.Header.Get("Cache-Status") != "redisware; fwd=stale; fwd-status=502; ttl=-60; detail=origin-unreachable" {
		t.Fatalf("/page with the origin down: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
	}
	resp, body = get("/strict")
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "page") {
		t.Fatalf("/strict with the origin down: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Status"))
	}
}

// TestOriginErrorTimeout: a timeout reaching the origin is a 504.
func TestOriginErrorTimeout(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"net timeout", &net.OpError{Op: "dial", Err: testTimeout{}}, http.StatusGatewayTimeout},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			originError(w, httptest.NewRequest("GET", "/", nil), tt.err)
			if w.Code != tt.code {
				t.Fatalf("%d, want %d", w.Code, tt.code)
			}
		})
	}
}

type testTimeout struct{}

func (testTimeout) Error() string   { return "i/o timeout" }
func (testTimeout) Timeout() bool   { return true }
func (testTimeout) Temporary() bool { return true }
