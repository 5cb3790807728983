package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/benchmarks/scenario"
)

const wrkSample = `Running 2s test @ http://127.0.0.1:45733/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.58ms    2.25ms  22.51ms   88.48%
    Req/Sec    15.89k    10.15k   34.81k    65.00%
  Latency Distribution
     50%  668.00us
     75%    1.85ms
     90%    4.07ms
     99%   11.64ms
  63551 requests in 2.03s, 13.21MB read
Requests/sec:  31271.19
Transfer/sec:      6.50MB
WRKJSON {"requests":63551,"duration_us":2032254,"bytes":13854118,"connect_errors":0,"read_errors":1,"write_errors":0,"status_errors":7,"timeouts":2,"p50_us":668,"p90_us":4073,"p99_us":11643,"max_us":22513,"mean_us":1575.3}
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 63551 || r.StatusErrors != 7 || r.P99Us != 11643 || r.SocketErrors() != 3 {
		t.Errorf("parsed %+v", r)
	}
	if rps := r.RPS(); rps < 31270 || rps > 31272 {
		t.Errorf("RPS %.2f, want 31271", rps)
	}
	for name, out := range map[string]string{
		"no result line": strings.Split(wrkSample, "WRKJSON")[0],
		"bad json":       "WRKJSON {\"requests\":\n",
		"no duration":    "WRKJSON {\"requests\":5}\n",
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWrkScript(t *testing.T) {
	hot, _ := scenario.Lookup("ratelimit-allow")
	spread, _ := scenario.Lookup("ratelimit-deny-1k")
	sess, _ := scenario.Lookup("session-read-1k")
	cases := []struct {
		name    string
		s       scenario.Scenario
		cookies []string
		has     []string
		hasNot  []string
	}{
		{"hot key: static request", hot, nil, []string{"done = function"}, []string{"request = function", "X-Key"}},
		{"one session: static cookie", sess, []string{"session=abc"}, []string{`wrk.headers["Cookie"] = "session=abc"`}, []string{"request = function"}},
		{"1,000 keys", spread, nil, []string{"local n = 1000", `["X-Key"] = tostring(math.random(n))`}, nil},
		{"sessions", sess, []string{"session=a", "session=b"}, []string{`"session=a",`, `"session=b",`, "cookies[math.random(n)]"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wrkScript(tc.s, tc.cookies)
			for _, h := range tc.has {
				if !strings.Contains(got, h) {
					t.Errorf("script lacks %q:\n%s", h, got)
				}
			}
			for _, h := range tc.hasNot {
				if strings.Contains(got, h) {
					t.Errorf("script has %q:\n%s", h, got)
				}
			}
		})
	}
}

// TestRunWrk runs the generated scripts through wrk against a test server
// and checks what arrives: the keys spread over the X-Key values, the
// cookies rotate, and the done() hook reports the run. It needs wrk.
func TestRunWrk(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian: apt-get install -y wrk); the load test needs it, this test checks its scripts")
	}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("X-Key")+"|"+r.Header.Get("Cookie")]++
		mu.Unlock()
		if r.Header.Get("X-Key") == "7" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	spread, _ := scenario.Lookup("ratelimit-deny-1k")
	sess, _ := scenario.Lookup("session-read-1k")
	p := wrkParams{Threads: 2, Conns: 4, Duration: time.Second}

	res, out, err := runWrk(t.Context(), p, srv.URL+"/", wrkScript(spread, nil))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	keys, total := len(seen), 0
	for _, n := range seen {
		total += n
	}
	sevens := seen["7|"]
	clear(seen)
	mu.Unlock()
	if res.Requests == 0 || int64(total) < res.Requests {
		t.Errorf("wrk reported %d requests, the server saw %d\n%s", res.Requests, total, out)
	}
	if total > 5000 && keys < 900 {
		t.Errorf("%d requests used only %d distinct X-Key values of 1000", total, keys)
	}
	if int64(sevens) > 0 && res.StatusErrors == 0 {
		t.Errorf("%d answers were 429 but wrk counted no status errors", sevens)
	}

	res, out, err = runWrk(t.Context(), p, srv.URL+"/", wrkScript(sess, []string{"s=1", "s=2", "s=3"}))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range []string{"|s=1", "|s=2", "|s=3"} {
		if seen[c] == 0 {
			t.Errorf("cookie %q never sent in %d requests: %v\n%s", c, res.Requests, seen, out)
		}
	}
	if len(seen) != 3 {
		t.Errorf("requests carried %d distinct keys/cookies, want 3: %v", len(seen), seen)
	}
}
