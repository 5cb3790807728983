package middleware_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

func TestHealth(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	h := middleware.Health(b.ClientAt(p.Addr()), 500*time.Millisecond)

	get := func() (int, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, body
	}

	code, body := get()
	if code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthy: %d %v", code, body)
	}
	if _, ok := body["redis_ms"].(float64); !ok {
		t.Fatalf("no latency in %v", body)
	}

	p.Down()
	code, body = get()
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" {
		t.Fatalf("redis down: %d %v", code, body)
	}
	if len(body) != 1 {
		t.Fatalf("error details leaked to the client: %v", body)
	}

	p.Up()
	ok := false
	for i := 0; i < 3 && !ok; i++ { // the pool drops the dead connection, then redials
		code, _ = get()
		ok = code == http.StatusOK
	}
	if !ok {
		t.Fatalf("not healthy again after Redis came back: %d", code)
	}
}

// TestHealthStalledRedis: on a half-open connection the client would wait
// out its own timeouts, an hour; Health answers 503 once its own timeout
// has passed.
func TestHealthStalledRedis(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.PatientClientAt(p.Addr())
	if err := rdb.Ping(context.Background()).Err(); err != nil { // opens the connection the stall catches
		t.Fatal(err)
	}
	p.Stall()
	h := middleware.Health(rdb, 50*time.Millisecond)
	rec := httptest.NewRecorder()
	redistest.Within(t, 10*time.Second, "a health check on a stalled Redis", func() {
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	})
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, body %q; want 503", rec.Code, rec.Body)
	}
}

// TestHealthClientGone: a check whose client hung up while Redis is down
// is answered nothing (there is nobody to answer).
func TestHealthClientGone(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	h := middleware.Health(b.ClientAt(p.Addr()), time.Second)
	p.Down()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil).WithContext(ctx))
	if rec.Flushed || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Fatalf("answered a client that left: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}

// TestHealthBadArguments: a nil client is reported unhealthy (it used to
// panic in the check's goroutine, taking the server down), and a timeout
// of zero or less is the default.
func TestHealthBadArguments(t *testing.T) {
	rdb, _ := redistest.New(t)
	tests := []struct {
		name string
		h    http.Handler
		want int
	}{
		{"nil client", middleware.Health(nil, time.Second), http.StatusServiceUnavailable},
		{"nil client, no timeout", middleware.Health(nil, 0), http.StatusServiceUnavailable},
		{"negative timeout", middleware.Health(rdb, -time.Second), http.StatusOK},
		{"zero timeout", middleware.Health(rdb, 0), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.want || (tt.want == http.StatusOK) != (body["status"] == "ok") {
				t.Fatalf("%d %v, want %d", rec.Code, body, tt.want)
			}
		})
	}
}
