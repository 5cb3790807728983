package session

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

func TestFlushThroughMiddleware(t *testing.T) {
	e := newEnv(t, Options{Insecure: true})
	release := make(chan struct{})
	srv := httptest.NewServer(e.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = FromContext(r.Context()).Put("stream", "open")
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-release // the client must see the first event while we wait here
		_, _ = io.WriteString(w, "data: two\n\n")
	})))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second} // a broken Flush fails, not hangs
	res, err := client.Get(srv.URL)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: two") {
		t.Fatalf("rest %q", rest)
	}
	var c *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "session" {
			c = ck
		}
	}
	if c == nil || c.Secure {
		t.Fatalf("cookie %+v: want one, not Secure (Insecure option)", c)
	}
	if vals, _, _ := e.read(c); vals["stream"] != `"open"` {
		t.Fatalf("streamed session not saved: %v", vals)
	}
}

// TestHijackThroughMiddleware: Hijack works through the middleware; a
// change to a stored session is saved, and one that would need a cookie
// (a new session) is reported as after the headers, not dropped.
func TestHijackThroughMiddleware(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	e := newEnv(t, Options{Insecure: true, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	stored := e.newSessionCookie("a", 1)
	finished := make(chan struct{}, 1)
	mw := e.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = FromContext(r.Context()).Put("b", 2)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = buf.Flush()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r)
		finished <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name     string
		cookie   *http.Cookie
		reported int
	}{
		{"stored session", stored, 0},
		{"new session", nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			<-finished
			if string(body) != "hijacked" || len(res.Cookies()) != 0 {
				t.Fatalf("body %q, cookies %v", body, res.Cookies())
			}
			mu.Lock()
			got := reported
			reported = nil
			mu.Unlock()
			if len(got) != tt.reported || (len(got) == 1 && !errors.Is(got[0], ErrHeadersWritten)) {
				t.Fatalf("reported %v, want %d ErrHeadersWritten", got, tt.reported)
			}
			if tt.cookie == nil {
				return
			}
			if vals, _, _ := e.read(tt.cookie); vals["b"] != "2" {
				t.Fatalf("change before Hijack not saved: %v", vals)
			}
		})
	}
}

func TestChangesAfterHeaders(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	e := newEnv(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	c := e.newSessionCookie("a", 1)
	rec, set := e.serve(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "body first")
		_ = FromContext(r.Context()).Put("late", 2)
	}, c)
	if rec.Body.String() != "body first" || set != nil {
		t.Fatalf("body %q, cookie %v", rec.Body.String(), set)
	}
	if vals, _, _ := e.read(c); vals["late"] != "2" {
		t.Fatalf("change after the headers was lost: %v", vals)
	}
	rec, _ = e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_ = FromContext(r.Context()).Put("needs", "cookie")
	}, nil)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d", rec.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !errors.Is(reported[0], ErrHeadersWritten) {
		t.Fatalf("reported %v, want one ErrHeadersWritten", reported)
	}
}

func TestDestroyAfterHeaders(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("a", 1)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "bye")
		FromContext(r.Context()).Destroy()
	}, c)
	if e.exists(e.m.key(e.cookieID(c))) {
		t.Fatal("Destroy after the headers left the session in Redis")
	}
}

func TestEmptyHandlerStillCommits(t *testing.T) {
	e := newEnv(t, Options{})
	rec, c := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("x", 1) }, nil)
	if c == nil || rec.Header().Get("Vary") != "Cookie" {
		t.Fatalf("cookie %v, headers %v", c, rec.Header())
	}
}

func TestVaryCookie(t *testing.T) {
	e := newEnv(t, Options{})
	rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		_, _ = io.WriteString(w, "x")
	}, nil)
	if got := rec.Header().Values("Vary"); len(got) != 2 || got[1] != "Cookie" {
		t.Fatalf("Vary %v", got)
	}
}

func TestCacheControlWithCookie(t *testing.T) {
	e := newEnv(t, Options{})
	const nc = `no-cache="Set-Cookie"`
	tests := []struct {
		name    string
		handler string   // Cache-Control the handler sets
		cookie  bool     // whether the response sets the session cookie
		want    []string // Cache-Control values of the response
	}{
		{"none", "", true, []string{nc}},
		{"public", "public, max-age=60", true, []string{"public, max-age=60", nc}},
		{"no-store", "no-store", true, []string{"no-store"}},
		{"private", "Private, max-age=60", true, []string{"Private, max-age=60"}},
		{"no cookie set", "public, max-age=60", false, []string{"public, max-age=60"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, set := e.serve(func(w http.ResponseWriter, r *http.Request) {
				if tt.handler != "" {
					w.Header().Set("Cache-Control", tt.handler)
				}
				if tt.cookie {
					_ = FromContext(r.Context()).Put("a", 1)
				}
				_, _ = io.WriteString(w, "x")
			}, nil)
			if (set != nil) != tt.cookie {
				t.Fatalf("cookie %v, want one: %v", set, tt.cookie)
			}
			if got := rec.Header().Values("Cache-Control"); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("Cache-Control %q, want %q", got, tt.want)
			}
		})
	}
}

// outage is an env whose client reaches Redis through a cuttable proxy.
func outage(t *testing.T, o Options) (*env, *redistest.Proxy) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	return newEnvOn(t, b, rdb, o), p
}

func TestFailClosedOnLoad(t *testing.T) {
	e, p := outage(t, Options{})
	c := e.newSessionCookie("a", 1)
	p.Down()
	ran := false
	for i := range 6 {
		rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) { ran = true }, c)
		if rec.Code != http.StatusServiceUnavailable || ran {
			t.Fatalf("request %d: status %d, handler ran %v", i, rec.Code, ran)
		}
		if strings.Contains(rec.Body.String(), "redis") || strings.Contains(rec.Body.String(), "dial") {
			t.Fatalf("error details leaked to the client: %q", rec.Body.String())
		}
	}
	if !strings.Contains(e.logs.String(), "session unavailable") {
		t.Fatalf("nothing logged: %q", e.logs.String())
	}
	// The breaker is open now: no Redis call at all.
	e.n.Reset()
	var got error
	e.m.o.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {}, c)
	if rec.Code != http.StatusServiceUnavailable || e.n.N() != 0 || !errors.Is(got, breaker.ErrOpen) {
		t.Fatalf("status %d, %d round trips, err %v", rec.Code, e.n.N(), got)
	}
	// Without a cookie nothing needs Redis.
	if rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }, nil); rec.Code != http.StatusOK {
		t.Fatalf("anonymous read-only request: %d", rec.Code)
	}
}

// TestOutageLogsAHandfulOfLines: an outage of many requests logs the
// first failure and the breaker's lines (opened, closed with the count of
// refused requests), not a line per request; once Redis is back, the
// breaker's probe closes it without a restart.
func TestOutageLogsAHandfulOfLines(t *testing.T) {
	e, p := outage(t, Options{})
	c := e.newSessionCookie("a", 1)
	p.Down()
	const n = 300
	for i := range n {
		if rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {}, c); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("request %d during the outage: %d", i, rec.Code)
		}
	}
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	if len(lines) > 2 || !strings.Contains(lines[0], "session unavailable") || !strings.Contains(e.logs.String(), "breaker opened") {
		t.Fatalf("%d requests in an outage logged %d lines, want the first failure and the breaker opening:\n%s", n, len(lines), e.logs)
	}
	p.Up()
	redistest.Eventually(t, "sessions back after Redis", func() bool {
		e.clock.Add(100 * time.Millisecond) // past the breaker's cool-down (Options.Now is its clock)
		rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {}, c)
		return rec.Code == http.StatusOK
	})
	logs := e.logs.String()
	lines = strings.Split(strings.TrimSpace(logs), "\n")
	closed := lines[len(lines)-1]
	if len(lines) > 3 || !strings.Contains(closed, "breaker closed") || !strings.Contains(closed, "refused=") || !strings.Contains(closed, "outage=") {
		t.Fatalf("after the outage, %d lines, want ≤ 3 ending with the breaker closing, its duration and count:\n%s", len(lines), logs)
	}
	// The clock stood still through the outage, so the breaker never
	// probed: every request after the first Threshold (5) was refused.
	if refused := e.m.guard.Breaker.Refused(); refused != n-5 {
		t.Fatalf("the breaker counted %d refusals of %d requests, want %d", refused, n, n-5)
	}
}

// TestClientGone: a request whose client hung up while Redis is down is
// answered nothing, logged at Debug level only, and never counts toward
// the breaker.
func TestClientGone(t *testing.T) {
	var debug syncBuffer
	log := slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, stalled := range []bool{false, true} {
		name := "down"
		if stalled {
			name = "stalled"
		}
		t.Run(name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			handled := 0
			e := newEnvOn(t, b, b.ClientAt(p.Addr()), Options{Logger: log, Timeout: time.Minute,
				Breaker:      middleware.BreakerOptions{Threshold: 1},
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { handled++ }})
			c := e.newSessionCookie("a", 1)
			if stalled {
				p.Hang()
			} else {
				p.Down()
			}
			for range 5 {
				ctx, cancel := context.WithCancel(context.Background())
				req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
				req.AddCookie(c)
				rec := httptest.NewRecorder()
				ran := false
				h := e.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true }))
				if stalled {
					go cancel() // the client hangs up while the call waits on Redis
				} else {
					cancel()
				}
				h.ServeHTTP(rec, req)
				cancel()
				if ran || handled != 0 || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
					t.Fatalf("a client that left: handler ran %v, ErrorHandler called %d times, answered %d %v %q", ran, handled, rec.Code, rec.Header(), rec.Body)
				}
			}
			if e.m.guard.Breaker.Open() {
				t.Fatal("clients hanging up opened the breaker (Threshold 1)")
			}
		})
	}
	logs := debug.String()
	if !strings.Contains(logs, "client gone") {
		t.Fatalf("no Debug line: %q", logs)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.HasPrefix(strings.SplitN(l, " ", 2)[1], "level=DEBUG") {
			t.Fatalf("logged above Debug for a client that left: %s", l)
		}
	}
}

// TestBreakerOptions: Options.Breaker reaches the breaker, and bad values
// are New's error.
func TestBreakerOptions(t *testing.T) {
	e, p := outage(t, Options{Breaker: middleware.BreakerOptions{Threshold: 2, MinCooldown: time.Hour}})
	c := e.newSessionCookie("a", 1)
	p.Down()
	for range 2 {
		e.serve(func(w http.ResponseWriter, r *http.Request) {}, c)
	}
	if !e.m.guard.Breaker.Open() {
		t.Fatal("Threshold 2: not open after two failures")
	}
	p.Up()
	e.n.Reset()
	if rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {}, c); rec.Code != http.StatusServiceUnavailable || e.n.N() != 0 {
		t.Fatalf("MinCooldown 1h: a probe went out at once (%d, %d round trips)", rec.Code, e.n.N())
	}
	for _, bo := range []middleware.BreakerOptions{{Threshold: -1}, {MinCooldown: -1}, {MinCooldown: time.Second, MaxCooldown: time.Millisecond}} {
		if _, err := New(e.rdb, Options{Keys: testKeys, Breaker: bo}); err == nil || !strings.Contains(err.Error(), "session: Options.Breaker") {
			t.Fatalf("Breaker %+v: %v", bo, err)
		}
	}
}

// TestFailClosedOnStalledRedis: on a half-open connection the client would
// wait out its own timeouts, an hour; the request instead fails closed
// once Options.Timeout has passed.
func TestFailClosedOnStalledRedis(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	var got error
	e := newEnvOn(t, b, b.PatientClientAt(p.Addr()), Options{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(http.StatusServiceUnavailable)
		},
	})
	c := e.newSessionCookie("a", 1) // also opens the connection the stall catches
	// Only the stalled call is to time out: before it, the env's Timeout of a
	// minute holds, which a loaded machine does not reach.
	e.m.guard.Timeout = 50 * time.Millisecond
	p.Stall()
	ran := false
	var rec *httptest.ResponseRecorder
	redistest.Within(t, 10*time.Second, "a request on a stalled Redis", func() {
		rec, _ = e.serve(func(w http.ResponseWriter, r *http.Request) { ran = true }, c)
	})
	if rec.Code != http.StatusServiceUnavailable || ran || !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("status %d, handler ran %v, err %v; want 503 from ErrorHandler with a deadline error", rec.Code, ran, got)
	}
}

func TestFailClosedOnSave(t *testing.T) {
	e, p := outage(t, Options{})
	c := e.newSessionCookie("a", 1)
	rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
		p.Down()
		_ = FromContext(r.Context()).Put("a", 2)
		w.Header().Set("X-Handler", "yes")
		w.WriteHeader(http.StatusCreated)
		if _, err := io.WriteString(w, "secret handler body"); err == nil {
			t.Error("write after a failed save succeeded")
		}
	}, c)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "secret") || rec.Header().Get("X-Handler") != "" {
		t.Fatalf("status %d, headers %v, body %q: the handler's response leaked", rec.Code, rec.Header(), rec.Body.String())
	}
	p.Up()
	e.m.guard.Breaker = &breaker.Breaker{}
	if vals, _, _ := e.read(c); vals["a"] != "1" {
		t.Fatalf("a = %s", vals["a"])
	}
}

// TestSaveFailsAfterHeaders: when the save at the end of a request fails
// after the response started, the ErrorHandler gets an error wrapping
// ErrHeadersWritten and the cause; the default one logs it and leaves the
// response alone.
func TestSaveFailsAfterHeaders(t *testing.T) {
	e, p := outage(t, Options{})
	c := e.newSessionCookie("a", 1)
	late := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "streamed")
		p.Down()
		_ = FromContext(r.Context()).Put("a", 2)
	}
	rec, _ := e.serve(late, c)
	if rec.Code != http.StatusOK || rec.Body.String() != "streamed" {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body.String())
	}
	if logs := e.logs.String(); !strings.Contains(logs, "session unavailable") || !strings.Contains(logs, "headers already written") {
		t.Fatalf("default ErrorHandler logged %q", logs)
	}
	p.Up()
	var got error
	e.m.o.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { got = err }
	e.m.guard.Breaker = &breaker.Breaker{}
	rec, _ = e.serve(late, c)
	if rec.Body.String() != "streamed" || !errors.Is(got, ErrHeadersWritten) || !strings.Contains(got.Error(), "session: save: ") {
		t.Fatalf("body %q, ErrorHandler got %v; want ErrHeadersWritten and the cause", rec.Body.String(), got)
	}
	p.Up()
	if vals, _, _ := e.read(c); vals["a"] != "1" {
		t.Fatalf("a = %s", vals["a"])
	}
}

func TestCorruptData(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	cookieFor := func(id string) *http.Cookie {
		raw, _ := rawID(id)
		v, err := e.m.codec.encode(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: "session", Value: v}
	}
	tests := []struct {
		name  string
		setup func(key string) error
		log   string
	}{
		{"a string", func(k string) error { return e.raw.Set(ctx, k, "junk", time.Minute).Err() }, "foreign"},
		{"no metadata", func(k string) error { return e.raw.HSet(ctx, k, "v:a", "1").Err() }, "corrupt"},
		{"bad metadata", func(k string) error {
			return e.raw.HSet(ctx, k, fieldCreated, "yesterday", fieldSeen, "x").Err()
		}, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID()
			if err := tt.setup(e.m.key(id)); err != nil {
				t.Fatal(err)
			}
			_ = e.raw.PExpire(ctx, e.m.key(id), time.Minute)
			rec, set := e.serve(func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				if s.ID() != "" {
					t.Error("corrupt session adopted")
				}
				_ = s.Put("b", 1)
			}, cookieFor(id))
			if rec.Code != http.StatusOK || set == nil || e.cookieID(set) == id {
				t.Fatalf("status %d, cookie %v", rec.Code, set)
			}
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Fatalf("log %q lacks %q", e.logs.String(), tt.log)
			}
		})
	}
	t.Run("bad JSON value", func(t *testing.T) {
		c := e.newSessionCookie("a", 1)
		e.raw.HSet(ctx, e.m.key(e.cookieID(c)), "v:a", "{not json")
		e.serve(func(w http.ResponseWriter, r *http.Request) {
			if _, ok, err := Get[int](FromContext(r.Context()), "a"); !ok || err == nil {
				t.Errorf("ok %v err %v", ok, err)
			}
		}, c)
	})
}

// TestFailedIncrWritesNothing: when an increment fails in Redis (another
// request stored a non-integer there, or the sum overflows), the save
// writes none of the request's changes, earlier increments included.
func TestFailedIncrWritesNothing(t *testing.T) {
	tests := []struct {
		name, stored string
		realOnly     bool // miniredis' HINCRBY wraps around instead of failing
	}{
		{"not an integer", `"text"`, false},
		{"overflow", "9223372036854775807", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got error
			e := newEnv(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusServiceUnavailable)
			}})
			if tt.realOnly && !e.b.Real() {
				t.Skip("miniredis' HINCRBY does not detect overflow; runs on real Redis")
			}
			c := e.newSessionCookie("n", 1)
			key := e.m.key(e.cookieID(c))
			e.raw.HSet(context.Background(), key, "v:m", "5")
			rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
				s := FromContext(r.Context())
				_ = s.Put("other", "x")
				_, _ = s.Incr("a", 1) // applied before n, then undone
				_, _ = s.Incr("m", 1) // applied before n, then undone
				_, _ = s.Incr("n", 1)
				// Another request stores under n meanwhile.
				e.raw.HSet(r.Context(), key, "v:n", tt.stored)
			}, c)
			if rec.Code != http.StatusServiceUnavailable || got == nil || !strings.Contains(got.Error(), `Incr of "n"`) {
				t.Fatalf("status %d, err %v", rec.Code, got)
			}
			h := e.raw.HGetAll(context.Background(), key).Val()
			if _, ok := h["v:other"]; ok || h["v:m"] != "5" || h["v:n"] != tt.stored {
				t.Fatalf("the failed save wrote part of its changes: %v", h)
			}
			if _, ok := h["v:a"]; ok {
				t.Fatalf("an undone increment left its field: %v", h)
			}
		})
	}
}

func TestIncrOverflowInRequest(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("n", int64(math.MaxInt64))
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if _, err := s.Incr("n", 1); err == nil {
			t.Error("Incr past MaxInt64 succeeded")
		}
		if v, err := s.Incr("n", -1); err != nil || v != math.MaxInt64-1 {
			t.Errorf("Incr(-1) = %d, %v", v, err)
		}
	}, c)
	if vals, _, _ := e.read(c); vals["n"] != strconv.FormatInt(math.MaxInt64-1, 10) {
		t.Fatalf("n = %s", vals["n"])
	}
}

// TestIncrAfterPutRemoveClear: an Incr of a key this request also set,
// removed or cleared is saved as the known sum, not as an increment.
func TestIncrAfterPutRemoveClear(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("a", 10)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		_ = s.Put("p", 5)
		_, _ = s.Incr("p", 1) // 6
		s.Remove("a")
		_, _ = s.Incr("a", 2) // 2
	}, c)
	if vals, _, _ := e.read(c); vals["p"] != "6" || vals["a"] != "2" {
		t.Fatalf("values %v", vals)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.Clear()
		_, _ = s.Incr("p", 3) // 3
	}, c)
	if vals, _, _ := e.read(c); len(vals) != 1 || vals["p"] != "3" {
		t.Fatalf("values %v", vals)
	}
}
