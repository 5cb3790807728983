package main

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
)

// TestExample runs the example's handler on the test backend, so the
// README's code cannot rot.
func TestExample(t *testing.T) {
	rdb, prefix := redistest.New(t)
	h, err := newHandler(rdb, bytes.Repeat([]byte("k"), 32), prefix)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}

	for i, want := range []string{"redisware; fwd=uri-miss; stored", "redisware; hit"} {
		res, err := c.Get(srv.URL + "/products/42")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Cache-Status"); !strings.HasPrefix(got, want) {
			t.Fatalf("request %d: Cache-Status %q, want %q", i, got, want)
		}
	}
	for i := 1; i <= 6; i++ {
		res, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"ada"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := http.StatusOK
		if i == 6 {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("login %d: %d, want %d", i, res.StatusCode, want)
		}
	}
	if len(jar.Cookies(mustURL(t, srv.URL))) != 1 {
		t.Fatal("no session cookie after login")
	}
	res, err := c.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", res.StatusCode)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
