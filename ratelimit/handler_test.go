package ratelimit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// ok is the handler behind the limiter in tests: 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })

func serve(h http.Handler, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/api", nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestHeadersExact checks RateLimit, RateLimit-Policy and Retry-After at
// known Redis times (miniredis' TIME is fixed with SetTime), through a
// burst, a denial, a cached denial, a refill, and after the minute window
// resets while the hourly one still denies.
func TestHeadersExact(t *testing.T) {
	e := newEnv(t)
	if !e.fixed {
		t.Skip("exact values need a settable Redis clock (miniredis); TestHeadersRelative runs on real Redis")
	}
	l := e.limiter(t, Options{LegacyHeaders: true})
	h := l.Handler(middleware.KeyByIP, PerMinute(3), PerHour(4))(ok)
	const policy = `"minute";q=3;w=60, "hour";q=4;w=3600`
	steps := []struct {
		name      string
		advance   time.Duration
		status    int
		rateLimit string
		retry     string
		legacy    [3]string // X-RateLimit-Limit, -Remaining, -Reset
	}{
		// t: seconds until the next unit; X-RateLimit-Reset: until whole.
		{"first", 0, 200, `"minute";r=2;t=20`, "", [3]string{"3", "2", "20"}},
		{"second", 0, 200, `"minute";r=1;t=20`, "", [3]string{"3", "1", "40"}},
		{"burst spent", 0, 200, `"minute";r=0;t=20`, "", [3]string{"3", "0", "60"}},
		{"denied by the minute", 0, 429, `"minute";r=0;t=20`, "20", [3]string{"3", "0", "20"}},
		{"cached denial rounds up", 1500 * time.Millisecond, 429, `"minute";r=0;t=19`, "19", [3]string{"3", "0", "19"}},
		{"one unit back; the hour is tightest", 18500 * time.Millisecond, 200, `"hour";r=0;t=880`, "", [3]string{"4", "0", "3580"}},
		{"minute window reset, hour denies", 2 * time.Minute, 429, `"hour";r=0;t=760`, "760", [3]string{"4", "0", "760"}},
		{"hour unit back", 760 * time.Second, 200, `"hour";r=0;t=900`, "", [3]string{"4", "0", "3600"}},
	}
	for _, s := range steps {
		e.advance(s.advance)
		w := serve(h, "192.0.2.1:1234")
		hd := w.Header()
		got := [3]string{hd.Get("X-RateLimit-Limit"), hd.Get("X-RateLimit-Remaining"), hd.Get("X-RateLimit-Reset")}
		if w.Code != s.status || hd.Get("RateLimit") != s.rateLimit || hd.Get("Retry-After") != s.retry ||
			hd.Get("RateLimit-Policy") != policy || got != s.legacy {
			t.Fatalf("%s: %d RateLimit=%q Retry-After=%q Policy=%q legacy=%q; want %d %q %q %q %q",
				s.name, w.Code, hd.Get("RateLimit"), hd.Get("Retry-After"), hd.Get("RateLimit-Policy"), got,
				s.status, s.rateLimit, s.retry, policy, s.legacy)
		}
	}
	// A limit at its whole burst gets nothing back, so its t is left out.
	idle := e.limiter(t, Options{Cost: func(*http.Request) int { return 0 }})
	w := serve(idle.Handler(middleware.KeyByIP, PerMinute(3), PerHour(4))(ok), "192.0.2.9:1")
	if got := w.Header().Get("RateLimit"); w.Code != 200 || got != `"minute";r=3` {
		t.Fatalf("idle key: %d RateLimit=%q, want 200 %q", w.Code, got, `"minute";r=3`)
	}
}

// TestHeadersRelative checks the headers on any backend, reasoning from
// Redis' own TIME: PerHour(5) pays a unit back every 720 s, so every
// answer has t within [720 s minus the time the requests took, 720]; the
// denial's Retry-After is in that range too, and equals t. The window
// reset is covered by TestHeadersExact: on real Redis it would take a wait.
func TestHeadersRelative(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.limiter(t, Options{})
	h := l.Handler(middleware.KeyByIP, PerHour(5))(ok)
	before := e.b.Now(ctx)
	for i := 4; i >= 0; i-- {
		w := serve(h, "192.0.2.2:1")
		rl := parseRateLimit(t, w.Header().Get("RateLimit"))
		if w.Code != 200 || rl.name != "hour" || rl.r != i {
			t.Fatalf("request %d: %d %q", 5-i, w.Code, w.Header().Get("RateLimit"))
		}
		elapsed := e.b.Now(ctx).Sub(before)
		if lo := int64((720*time.Second - elapsed) / time.Second); rl.t < lo || rl.t > 720 {
			t.Fatalf("request %d: t=%d, want within [%d, 720]", 5-i, rl.t, lo)
		}
	}
	w := serve(h, "192.0.2.2:1")
	elapsed := e.b.Now(ctx).Sub(before)
	retry, err := strconv.ParseInt(w.Header().Get("Retry-After"), 10, 64)
	if w.Code != 429 || err != nil {
		t.Fatalf("6th: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if lo := int64((720*time.Second - elapsed) / time.Second); retry < lo || retry > 720 {
		t.Fatalf("Retry-After=%d, want within [%d, 720]", retry, lo)
	}
	if rl := parseRateLimit(t, w.Header().Get("RateLimit")); rl.r != 0 || rl.t != retry {
		t.Fatalf("RateLimit %q: want r=0 and t equal to Retry-After %d", w.Header().Get("RateLimit"), retry)
	}
	if got := w.Header().Get("RateLimit-Policy"); got != `"hour";q=5;w=3600` {
		t.Fatalf("RateLimit-Policy %q", got)
	}
}

type rateLimitItem struct {
	name string
	r    int
	t    int64
}

// parseRateLimit parses the one-item RateLimit field this package writes.
func parseRateLimit(t *testing.T, v string) rateLimitItem {
	t.Helper()
	var it rateLimitItem
	name, params, found := strings.Cut(v, ";")
	if !found || len(name) < 2 || name[0] != '"' || name[len(name)-1] != '"' {
		t.Fatalf("RateLimit %q: no quoted policy name", v)
	}
	it.name = name[1 : len(name)-1]
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(p, "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			t.Fatalf("RateLimit %q: parameter %q", v, p)
		}
		switch k {
		case "r":
			it.r = int(n)
		case "t":
			it.t = n
		default:
			t.Fatalf("RateLimit %q: unknown parameter %q", v, k)
		}
	}
	return it
}

func TestHandlerResponses(t *testing.T) {
	e := newEnv(t)
	limits := []Limit{PerHour(1)}
	fromCtx := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok := ResultFromContext(r.Context())
		if !ok {
			http.Error(w, "no result", 500)
			return
		}
		w.WriteHeader(299)
		_, _ = io.WriteString(w, strconv.FormatBool(res.Allowed)+" "+res.Source.String())
	})
	tests := []struct {
		name       string
		o          Options
		next       http.Handler
		keyFn      middleware.KeyFunc
		remote     string
		ctx        func(context.Context) context.Context
		wantCode   []int // first request, second request
		wantBody   []string
		wantHeader bool // RateLimit present on both
	}{
		{
			name: "default 429", next: ok, keyFn: middleware.KeyByIP,
			wantCode: []int{200, 429}, wantBody: []string{"ok", "rate limit exceeded\n"}, wantHeader: true,
		},
		{
			name: "LimitedHandler replaces the body", next: ok, keyFn: middleware.KeyByIP,
			o:        Options{LimitedHandler: fromCtx},
			wantCode: []int{200, 299}, wantBody: []string{"ok", "false redis"}, wantHeader: true,
		},
		{
			name: "next handler reads the result", next: fromCtx, keyFn: middleware.KeyByIP,
			wantCode: []int{299, 429}, wantBody: []string{"true redis", "rate limit exceeded\n"}, wantHeader: true,
		},
		{
			name: "key error answers 400", next: ok, keyFn: middleware.KeyByHeader("X-API-Key"),
			wantCode: []int{400, 400}, wantBody: []string{"bad request\n", "bad request\n"},
		},
		{
			name: "KeyErrorHandler lets the request through", next: ok, keyFn: middleware.KeyByHeader("X-API-Key"),
			o:        Options{KeyErrorHandler: func(http.ResponseWriter, *http.Request, error) bool { return false }},
			wantCode: []int{200, 200}, wantBody: []string{"ok", "ok"},
		},
		{
			name: "KeyErrorHandler answers", next: ok, keyFn: middleware.KeyByHeader("X-API-Key"),
			o: Options{KeyErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) bool {
				if !errors.Is(err, middleware.ErrNoKey) {
					t.Errorf("KeyErrorHandler got %v", err)
				}
				http.Error(w, "need a key", http.StatusUnauthorized)
				return true
			}},
			wantCode: []int{401, 401}, wantBody: []string{"need a key\n", "need a key\n"},
		},
		{
			name: "Skip exempts", next: ok, keyFn: middleware.KeyByIP,
			o:        Options{Skip: func(r *http.Request) bool { return r.URL.Path == "/api" }},
			wantCode: []int{200, 200}, wantBody: []string{"ok", "ok"},
		},
		{
			name: "cost 0 from Options.Cost spends nothing", next: ok, keyFn: middleware.KeyByIP,
			o:        Options{Cost: func(*http.Request) int { return 0 }},
			wantCode: []int{200, 200}, wantBody: []string{"ok", "ok"}, wantHeader: true,
		},
		{
			name: "negative cost counts as 0", next: ok, keyFn: middleware.KeyByIP,
			o:        Options{Cost: func(*http.Request) int { return -3 }},
			wantCode: []int{200, 200}, wantBody: []string{"ok", "ok"}, wantHeader: true,
		},
		{
			name: "WithCost over the burst never passes", next: ok, keyFn: middleware.KeyByIP,
			ctx:      func(ctx context.Context) context.Context { return WithCost(ctx, 2) },
			wantCode: []int{429, 429}, wantBody: []string{"rate limit exceeded\n", "rate limit exceeded\n"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.b.Client()
			n := redistest.Count(c)
			l := e.limiterOn(t, c, tt.o)
			h := l.Handler(tt.keyFn, limits...)(tt.next)
			for j := range 2 {
				r := httptest.NewRequest("GET", "/api", nil)
				r.RemoteAddr = "198.51.100." + strconv.Itoa(i) + ":80"
				if tt.ctx != nil {
					r = r.WithContext(tt.ctx(r.Context()))
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.wantCode[j] || w.Body.String() != tt.wantBody[j] {
					t.Fatalf("request %d: %d %q; want %d %q", j+1, w.Code, w.Body.String(), tt.wantCode[j], tt.wantBody[j])
				}
				if has := w.Header().Get("RateLimit") != ""; has != tt.wantHeader {
					t.Fatalf("request %d: RateLimit %q, want present=%v", j+1, w.Header().Get("RateLimit"), tt.wantHeader)
				}
				if w.Code == 429 && tt.wantHeader && w.Header().Get("Retry-After") == "" {
					t.Fatalf("request %d: 429 without Retry-After", j+1)
				}
			}
			if tt.o.Skip != nil && n.N() != 0 {
				t.Fatalf("skipped requests reached Redis: %v", n.Commands())
			}
		})
	}
}

func TestHandlerPanicsOnProgrammerMistakes(t *testing.T) {
	c, _ := redistest.New(t)
	l, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func()
	}{
		{"nil KeyFunc", func() { l.Handler(nil, PerSecond(1)) }},
		{"no limits", func() { l.Handler(middleware.KeyByIP) }},
		{"invalid limit", func() { l.Handler(middleware.KeyByIP, PerSecond(0)) }},
		{"LimitBy nil client", func() { LimitBy(nil, middleware.KeyByIP, PerSecond(1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.fn()
		})
	}
}

// TestHandlerFlushesThrough: the limiter does not wrap the ResponseWriter,
// so streaming handlers keep Flush.
func TestHandlerFlushesThrough(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{})
	h := l.Handler(middleware.KeyByIP, PerSecond(5))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit") == "" {
		t.Fatalf("%d, RateLimit %q", resp.StatusCode, resp.Header.Get("RateLimit"))
	}
}

// TestHandlerDeniedAnswer: the default 429 is http.Error's answer (its
// headers, body, and no stale Content-Length), whether Redis, the deny
// cache or a cost no limit admits denied it.
func TestHandlerDeniedAnswer(t *testing.T) {
	want := httptest.NewRecorder()
	http.Error(want, "rate limit exceeded", http.StatusTooManyRequests)
	e := newEnv(t)
	for i, tc := range []struct {
		name   string
		o      Options
		cost   int
		source Source // of the denial checked
	}{
		{"redis", Options{CacheSize: -1}, 1, FromRedis},
		{"deny cache", Options{}, 1, FromCache},
		{"cost", Options{}, 2, FromCost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Cost = func(*http.Request) int { return tc.cost }
			var last Source
			tc.o.Observer.OnDecision = func(_ context.Context, d Decision) { last = d.Source }
			l := e.limiter(t, tc.o)
			// Before the limiter: a Content-Length the 429 must not keep.
			h := setContentLength(l.Handler(middleware.KeyByIP, PerHour(1))(ok))
			remote := "192.0.2.3" + strconv.Itoa(i) + ":1"
			_ = serve(h, remote) // spends the burst (cost 1)
			_ = serve(h, remote) // denied by Redis; the deny cache learns it
			w := serve(h, remote)
			if w.Code != 429 || w.Body.String() != want.Body.String() {
				t.Fatalf("%d %q, want 429 %q", w.Code, w.Body.String(), want.Body.String())
			}
			for _, k := range []string{"Content-Type", "X-Content-Type-Options", "Content-Length"} {
				if got, wv := w.Header().Values(k), want.Header().Values(k); strings.Join(got, "|") != strings.Join(wv, "|") {
					t.Errorf("%s: %q, want %q as http.Error sets it", k, got, wv)
				}
			}
			if w.Header().Get("RateLimit-Policy") == "" {
				t.Error("no RateLimit-Policy")
			}
			if last != tc.source {
				t.Errorf("denied by %v, want %v", last, tc.source)
			}
		})
	}
}

func setContentLength(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "999")
		next.ServeHTTP(w, r)
	})
}

// TestHandlerHeadersIndependent: the limiter's header values share one
// backing array, yet a handler that adds to one header changes no other,
// and the context that carries the Result still carries the request's
// values and cancellation.
func TestHandlerHeadersIndependent(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{LegacyHeaders: true})
	type ctxKey struct{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(ctxKey{}) != "v" {
			t.Error("a value of the request's context is lost")
		}
		if _, ok := ResultFromContext(r.Context()); !ok {
			t.Error("no Result in the context")
		}
		if r.Context().Done() == nil {
			t.Error("the request's cancellation is lost")
		}
		for _, k := range []string{"Ratelimit-Policy", "Ratelimit", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
			w.Header().Add(k, "added")
		}
	})
	h := l.Handler(middleware.KeyByIP, PerHour(10), PerDay(100))(inner)
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "v"))
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
	r.RemoteAddr = "192.0.2.40:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	wantFirst := map[string]string{
		"Ratelimit-Policy":      `"hour";q=10;w=3600, "day";q=100;w=86400`,
		"X-Ratelimit-Limit":     "10",
		"X-Ratelimit-Remaining": "9",
	}
	for _, k := range []string{"Ratelimit-Policy", "Ratelimit", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
		v := w.Header()[k]
		if len(v) != 2 || v[1] != "added" || v[0] == "added" || v[0] == "" {
			t.Errorf("%s: %q, want the limiter's value and then \"added\"", k, v)
			continue
		}
		if want, ok := wantFirst[k]; ok && v[0] != want {
			t.Errorf("%s: %q, want %q", k, v[0], want)
		}
	}
}
