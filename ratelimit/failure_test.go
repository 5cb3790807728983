package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// errLog collects what OnError is told.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(_ context.Context, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs)
}

// TestFailurePolicies cuts Redis mid-test (a proxy goes down) for each
// policy, checks the answers during the outage, that the breaker then
// stops calling Redis, and that Redis is used again once it is back, with
// no restart.
func TestFailurePolicies(t *testing.T) {
	tests := []struct {
		policy FailurePolicy
		// codes during the outage for requests 1..4 of one client,
		// PerHour(3) with one request already spent before the outage.
		down   []int
		source Source
	}{
		{FailOpen, []int{200, 200, 200, 200}, FromFailOpen},
		{FailClosed, []int{503, 503, 503, 503}, FromFailClosed},
		// The in-process limiter starts from a full burst of 3.
		{FailLocal, []int{200, 200, 200, 429}, FromLocal},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			e := newEnv(t)
			p := e.b.NewProxy()
			c := e.b.ClientAt(p.Addr())
			n := redistest.Count(c)
			var errs errLog
			// The outage is a refused connection, which fails fast; the
			// test is not about timeouts, so Timeout is one nobody
			// reaches: with 1 s, a first decision slowed past it on a
			// loaded machine (GOMAXPROCS=1, -race, packages in parallel)
			// was answered by the policy instead of Redis.
			l := e.limiterOn(t, c, Options{Failure: tt.policy, OnError: errs.add, Timeout: time.Minute, Breaker: middleware.BreakerOptions{Threshold: 2}})
			var last Result
			h := l.Handler(middleware.KeyByIP, PerHour(3))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				last, _ = ResultFromContext(r.Context())
			}))

			if w := serve(h, "203.0.113.9:1"); w.Code != 200 || last.Source != FromRedis {
				t.Fatalf("before the outage: %d from %v", w.Code, last.Source)
			}

			p.Down()
			for i, want := range tt.down {
				last = Result{}
				w := serve(h, "203.0.113.9:1")
				if w.Code != want {
					t.Fatalf("outage request %d: %d, want %d", i+1, w.Code, want)
				}
				if want == 200 && last.Source != tt.source {
					t.Fatalf("outage request %d decided by %v, want %v", i+1, last.Source, tt.source)
				}
				if tt.policy == FailLocal && w.Header().Get("RateLimit") == "" {
					t.Fatalf("outage request %d: FailLocal sent no RateLimit header", i+1)
				}
			}
			if errs.len() != len(tt.down) {
				t.Fatalf("OnError told %d times, want %d", errs.len(), len(tt.down))
			}
			if !l.guard.Breaker.Open() {
				t.Fatal("breaker still closed after consecutive failures")
			}
			// While the breaker is open, no request waits on Redis.
			n.Reset()
			res, err := l.Allow(context.Background(), "other", PerHour(3))
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, breaker.ErrOpen) || res.Source != tt.source {
				t.Fatalf("breaker open: %v from %v", err, res.Source)
			}
			if n.N() != 0 {
				t.Fatalf("breaker open, yet %d round trips (%v)", n.N(), n.Commands())
			}

			p.Up()
			// The breaker lets one probe through after its cool-down; the
			// first probe may still meet a connection the outage closed,
			// so allow a few cool-downs (bounded, no sleeping).
			for i := 0; ; i++ {
				e.advance(2 * time.Second)
				res, err = l.Allow(context.Background(), "back", PerHour(3))
				if err == nil || i == 3 {
					break
				}
			}
			if err != nil || res.Source != FromRedis || !res.Allowed {
				t.Fatalf("after Up: %v from %v", err, res.Source)
			}
			n.Reset()
			last = Result{}
			w := serve(h, "203.0.113.9:1")
			if n.N() != 1 || last.Source != FromRedis || w.Code != 200 {
				t.Fatalf("after recovery: %d from %v with %d round trips", w.Code, last.Source, n.N())
			}
			// Redis kept its own count: 1 before the outage + 1 now.
			if rl := parseRateLimit(t, w.Header().Get("RateLimit")); rl.r != 1 {
				t.Fatalf("after recovery RateLimit %q, want r=1", w.Header().Get("RateLimit"))
			}
		})
	}
}

// TestTimeout: a decision never waits longer than Options.Timeout; a
// canceled caller is answered by the policy at once.
func TestTimeout(t *testing.T) {
	e := newEnv(t)
	l := e.limiter(t, Options{Timeout: time.Second, Failure: FailClosed})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := l.Allow(ctx, "k", PerSecond(1))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) || res.Allowed {
		t.Fatalf("canceled: %+v, %v", res, err)
	}
	if l.guard.Breaker.Open() {
		t.Fatal("a caller's cancellation opened the breaker")
	}
}

// hangingServer accepts connections and never answers, like a Redis that
// is stuck; it closes them when the test ends.
//
// It returns the address and a function that closes the server and its
// connections (also run when the test ends). Call it before closing a
// client with a call stuck on it: the client's autopipeliner waits for its
// batch on Close, and with hour-long timeouts would wait its backstop out.
func hangingServer(t *testing.T) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	stop := func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// TestTimeoutStuckRedis: Options.Timeout bounds a decision even when Redis
// never answers, whether or not the client honours context deadlines
// itself (go-redis does only with ContextTimeoutEnabled; otherwise its own
// read timeout, an hour here, would be the bound).
func TestTimeoutStuckRedis(t *testing.T) {
	for _, honours := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", honours), func(t *testing.T) {
			addr, stop := hangingServer(t)
			c := redis.NewClient(&redis.Options{
				Addr:                  addr,
				MaxRetries:            -1, // Close need not wait for retries against the stopped server
				DialTimeout:           time.Hour,
				ReadTimeout:           time.Hour,
				WriteTimeout:          time.Hour,
				ContextTimeoutEnabled: honours,
			})
			t.Cleanup(func() { stop(); _ = c.Close() })
			l, err := New(c, Options{Timeout: 20 * time.Millisecond, Failure: FailClosed, OnError: func(context.Context, error) {}})
			if err != nil {
				t.Fatal(err)
			}
			if l.guard.Direct != honours {
				t.Fatalf("calls the client directly = %v, want %v", l.guard.Direct, honours)
			}
			done := make(chan error, 1)
			go func() {
				_, err := l.Allow(context.Background(), "k", PerSecond(1))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
				}
			case <-time.After(10 * time.Second): // a bound for a broken build, not a speed assumption
				t.Fatal("a decision against a stuck Redis outlived Options.Timeout by 10 s")
			}
		})
	}
}

// TestNewWithoutRedis: New never needs Redis; with nothing listening the
// first decision is the policy's.
func TestNewWithoutRedis(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	p.Down()
	c := b.ClientAt(p.Addr())
	l, err := New(c, Options{Prefix: b.Prefix, Timeout: time.Second, OnError: func(context.Context, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Allow(context.Background(), "k", PerSecond(1))
	if !errors.Is(err, ErrUnavailable) || !res.Allowed || res.Source != FromFailOpen {
		t.Fatalf("%+v, %v", res, err)
	}
}

// logRecorder is a slog.Handler that keeps the messages and levels it gets.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.recs...)
}

// TestLogger: without OnError, failures are logged through Options.Logger
// (the breaker opening and the first failure at Warn, then Debug while the
// breaker is open), as are requests without a key; nothing goes to the
// default logger.
func TestLogger(t *testing.T) {
	e := newEnv(t)
	p := e.b.NewProxy()
	c := e.b.ClientAt(p.Addr())
	rec := &logRecorder{}
	var global logRecorder
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(&global))

	l := e.limiterOn(t, c, Options{Logger: slog.New(rec), Breaker: middleware.BreakerOptions{Threshold: 1}})
	p.Down()
	for range 2 {
		if _, err := l.Allow(t.Context(), "k", PerHour(3)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Allow with Redis down: %v", err)
		}
	}
	h := l.Handler(middleware.KeyByHeader("X-Key"), PerHour(3))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if w := serve(h, "203.0.113.9:1"); w.Code != http.StatusBadRequest {
		t.Fatalf("no key: %d", w.Code)
	}
	got := strings.Join(rec.lines(), "\n")
	want := "WARN ratelimit: redis unavailable, breaker opened: calls are answered by the failure policy until a probe succeeds\n" +
		"WARN ratelimit: redis call failed\nDEBUG ratelimit: redis call failed\nDEBUG ratelimit: request has no key"
	if got != want {
		t.Fatalf("Options.Logger got\n%s\nwant\n%s", got, want)
	}
	if g := global.lines(); len(g) != 0 {
		t.Fatalf("the default logger got %q", g)
	}
}

// TestClientGone: a request whose client hung up while Redis is down is
// not answered and not passed on, whatever the policy; it is logged at
// Debug level only, not reported to OnError, and never counts toward the
// breaker.
func TestClientGone(t *testing.T) {
	for _, policy := range []FailurePolicy{FailOpen, FailClosed, FailLocal} {
		t.Run(policy.String(), func(t *testing.T) {
			e := newEnv(t)
			p := e.b.NewProxy()
			rec := &logRecorder{}
			var errs errLog
			l := e.limiterOn(t, e.b.ClientAt(p.Addr()), Options{Failure: policy, Logger: slog.New(rec),
				Breaker: middleware.BreakerOptions{Threshold: 1}})
			ran := false
			h := l.Handler(middleware.KeyByIP, PerHour(3))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
			p.Down()
			for range 3 {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
				if ran || w.Body.Len() != 0 || w.Code != http.StatusOK || w.Flushed {
					t.Fatalf("a client that left: handler ran %v, answered %d %q", ran, w.Code, w.Body)
				}
			}
			if l.guard.Breaker.Open() {
				t.Fatal("clients hanging up opened the breaker (Threshold 1)")
			}
			for _, line := range rec.lines() {
				if !strings.HasPrefix(line, "DEBUG ") {
					t.Fatalf("logged above Debug for a client that left: %s", line)
				}
			}
			if len(rec.lines()) == 0 {
				t.Fatal("not even a Debug line")
			}
			// With OnError set, it is not told either.
			l2 := e.limiterOn(t, e.b.ClientAt(p.Addr()), Options{Failure: policy, OnError: errs.add})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := l2.Allow(ctx, "k", PerHour(3)); !errors.Is(err, ErrUnavailable) || errs.len() != 0 {
				t.Fatalf("Allow for a caller that left: %v; OnError told %d times", err, errs.len())
			}
		})
	}
}
