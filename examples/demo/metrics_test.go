package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// TestMetrics clicks through the demo's routes and reads /metrics: the
// library's metrics are there in the Prometheus text format, counting what
// was done, and no client address is.
func TestMetrics(t *testing.T) {
	b := redistest.Start(t)
	streams, end := context.WithCancel(context.Background())
	defer end()
	d := &demo{rdb: b.Client(), prefix: b.Prefix, streams: streams}
	defer d.Close()
	mux := http.NewServeMux()
	if err := d.mountAll(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(middleware.ClientIP()(mux))
	defer srv.Close()
	do := func(method, path string, form url.Values) int {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	for i := range 6 { // 5 per 10 s: the sixth is limited
		want := http.StatusOK
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if got := do("GET", "/ratelimit/ping", nil); got != want {
			t.Fatalf("ping %d: %d, want %d", i+1, got, want)
		}
	}
	if got := do("GET", "/session/state", nil); got != http.StatusOK {
		t.Fatalf("session: %d", got)
	}
	if got := do("POST", "/cache/slow", nil); got != http.StatusNoContent {
		t.Fatalf("cache invalidation: %d", got)
	}
	if got := do("GET", "/aside/item?id=13", nil); got != http.StatusNotFound { // unlucky 13 does not exist
		t.Fatalf("aside: %d", got)
	}

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"redisware_ratelimit_decisions_total", []string{`limit="ping"`, `outcome="allowed"`, `source="redis"`}, 5},
		{"redisware_ratelimit_decisions_total", []string{`limit="ping"`, `outcome="denied"`, `source="redis"`}, 1},
		{"redisware_session_loads_total", []string{`outcome="new"`}, 1},
		{"redisware_session_saves_total", []string{`outcome="stored"`}, 1},
		{"redisware_cache_requests_total", []string{`outcome="bypass"`, `reason="method"`}, 1},
		{"redisware_cache_purges_total", []string{`kind="invalidate"`}, 1},
		{"redisware_aside_gets_total", []string{`outcome="miss"`, `tier="redis"`}, 1},
		{"redisware_aside_fetch_duration_seconds_count", []string{`outcome="not-found"`}, 1},
		{"redisware_redis_call_duration_seconds_count", []string{`package="ratelimit"`, `operation="decide"`}, 6},
	} {
		if got, ok := sample(string(text), c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if strings.Contains(string(text), "127.0.0.1") {
		t.Error("a client address in /metrics")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// sample returns the value of the first sample of metric name whose
// labels include every one of labels.
func sample(text, name string, labels []string) (float64, bool) {
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\{(.*)\} (\S+)$`)
	for _, l := range strings.Split(text, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		all := true
		for _, want := range labels {
			if !strings.Contains(m[1], want) {
				all = false
			}
		}
		if all {
			v, err := strconv.ParseFloat(m[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}
