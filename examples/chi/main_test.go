package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/pubsub"
)

// TestExample runs the example's router on the test backend, so the
// README's code cannot rot.
func TestExample(t *testing.T) {
	rdb, prefix := redistest.New(t)
	h, err := newRouter(rdb, bytes.Repeat([]byte("k"), 32), prefix)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// Each case has its own path or asks twice, so any one runs alone.
	tests := []struct {
		name, method, path, header, want string
		twice                            bool // the checked request is the second
	}{
		{"cache miss", "GET", "/report?case=miss", "Cache-Status", "redisware; fwd=uri-miss; stored", false},
		{"cache hit", "GET", "/report?case=hit", "Cache-Status", "redisware; hit", true},
		{"limited route", "GET", "/api", "RateLimit-Policy", `"second";q=10;w=1, "hour";q=1000;w=3600`, false},
		{"login limit", "POST", "/login?user=ada", "RateLimit-Policy", `"login";q=5;w=60`, false},
		{"health", "GET", "/healthz", "Content-Type", "application/json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 1
			if tt.twice {
				n = 2
			}
			var res *http.Response
			for range n {
				req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
				var err error
				if res, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
			}
			if got := res.Header.Get(tt.header); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("%s: %q, want prefix %q (status %d)", tt.header, got, tt.want, res.StatusCode)
			}
		})
	}

	// The event stream works under the session middleware.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events Content-Type %q", ct)
	}
	// The handler has subscribed once its headers are out; publish and read.
	if err := pubsub.Publish(ctx, rdb, prefix+"orders", map[string]int{"id": 7}); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the event: %v", err)
		}
		if strings.HasPrefix(line, "data:") {
			if got := strings.TrimSpace(strings.TrimPrefix(line, "data:")); got != `{"id":7}` {
				t.Fatalf("event data %q", got)
			}
			break
		}
	}
}
