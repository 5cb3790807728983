package scenario

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestScenarios checks that every implementation of every scenario does what
// the load test assumes of it, so a number in the report measures what its
// row says: allowed requests pass, denied ones get 429, a session read sees
// the seeded value, sequential increments all count, cache hits do not reach
// the origin. Spread-out scenarios use 3 keys here instead of 1,000.
func TestScenarios(t *testing.T) {
	for _, s := range All {
		if s.Keys > 1 {
			s.Keys = 3
		}
		for _, impl := range s.Impls {
			t.Run(s.Name+"/"+impl, func(t *testing.T) {
				c := newCell(t, s, impl)
				checkScenario(t, c)
				if impl != ImplOurs {
					return
				}
				rep, err := Cleanup(t.Context(), c.rdb, c.prefix)
				if err != nil {
					t.Fatal(err)
				}
				if rep.NoExpiry != 0 {
					t.Errorf("%d of our %d keys have no expiry", rep.NoExpiry, rep.Keys)
				}
			})
		}
	}
}

func checkScenario(t *testing.T, c *cell) {
	t.Helper()
	s := c.s
	switch s.Kind {
	case Bare:
		for i := range 3 {
			if w := c.serve(i); w.Code != http.StatusOK || w.Body.Len() != BodySize {
				t.Errorf("request %d: status %d, %d bytes", i, w.Code, w.Body.Len())
			}
		}
	case RateLimitAllow:
		for i := range 2 * s.Keys {
			if w := c.serve(i); w.Code != http.StatusOK {
				t.Errorf("request %d: status %d, want 200: %s", i, w.Code, w.Body.String())
			}
		}
	case RateLimitDeny:
		for i := range s.Keys {
			if w := c.serve(i); w.Code != http.StatusOK {
				t.Errorf("first request of key %d: status %d, want 200: %s", i, w.Code, w.Body.String())
			}
		}
		for i := range 2 * s.Keys {
			if w := c.serve(i); w.Code != http.StatusTooManyRequests {
				t.Errorf("request %d past the limit: status %d, want 429", i, w.Code)
			}
		}
	case SessionRead:
		for i := range 2 * s.Keys {
			w := c.serve(i)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "counter is 42.") {
				t.Errorf("request %d: status %d, body %q", i, w.Code, w.Body.String())
			}
		}
		if n := c.b.Wrong.Load(); n != 0 {
			t.Errorf("%d reads did not see the seeded value", n)
		}
	case SessionWrite:
		const rounds = 4
		for i := range rounds * s.Keys {
			if w := c.serve(i); w.Code != http.StatusOK {
				t.Errorf("increment %d: status %d: %s", i, w.Code, w.Body.String())
			}
		}
		for k := range s.Keys {
			if n := c.value(t, k); n != rounds {
				t.Errorf("session %d: counter %d after %d sequential increments", k, n, rounds)
			}
		}
	case CacheHit:
		for i := range 3 {
			if w := c.serve(i); w.Code != http.StatusOK || w.Body.Len() != s.BodySize {
				t.Errorf("request %d: status %d, %d bytes, want %d", i, w.Code, w.Body.Len(), s.BodySize)
			}
		}
		if n := c.b.Origin.Load(); n != 1 {
			t.Errorf("origin called %d times for 3 sequential requests, want 1", n)
		}
	case AsideHit:
		for i := range 3 {
			w := c.serve(i)
			var it Item
			if err := json.Unmarshal(w.Body.Bytes(), &it); w.Code != http.StatusOK || err != nil || it.ID != 42 {
				t.Errorf("request %d: status %d, body %q", i, w.Code, w.Body.String())
			}
		}
		if n := c.b.Origin.Load(); n != 1 {
			t.Errorf("fetch called %d times for 3 sequential requests, want 1", n)
		}
	default:
		t.Fatalf("no check for kind %d", s.Kind)
	}
}

// TestBuildRejects checks the configurations Build refuses.
func TestBuildRejects(t *testing.T) {
	s, _ := Lookup("ratelimit-allow")
	c := newCell(t, s, ImplOurs)
	cases := []struct {
		name   string
		env    Env
		impl   string
		errHas string
	}{
		{"nil client", Env{Prefix: "p:"}, ImplOurs, "nil client"},
		{"empty prefix", Env{RDB: c.rdb}, ImplOurs, "prefix"},
		{"glob in prefix", Env{RDB: c.rdb, Prefix: "p*:"}, ImplOurs, "prefix"},
		{"unknown impl", Env{RDB: c.rdb, Prefix: "p:"}, ImplSCS, "no implementation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(t.Context(), tc.env, s, tc.impl)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Build: %v, want an error containing %q", err, tc.errHas)
			}
		})
	}
}

// TestFailOpenCounted checks that a request our limiter lets through
// because Redis cannot be asked is counted as such, not as an admission: a
// client of a port nothing listens on fails at once.
func TestFailOpenCounted(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	s, _ := Lookup("ratelimit-deny")
	b, err := Build(t.Context(), Env{RDB: rdb, Prefix: "rwtest:failopen:"}, s, ImplOurs)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	b.Handler.ServeHTTP(w, r)
	if w.Code != http.StatusOK || b.FailOpen.Load() != 1 {
		t.Errorf("status %d, fail-open count %d; want 200 and 1", w.Code, b.FailOpen.Load())
	}
}
