package faulttest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/aside"
	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

// The load and the faults. Durations are how long a fault lasts, not
// waits for something the test could observe.
const (
	goroutines = 16                      // per package
	pace       = 5 * time.Millisecond    // between one goroutine's requests
	warmFor    = time.Second             // normal load before the first fault
	pauseFor   = 3 * time.Second         // SIGSTOP … SIGCONT: long enough for 1 s timeouts to open every breaker
	killFor    = 2 * time.Second         // SIGKILL … restart
	watchFor   = 1500 * time.Millisecond // load after each recovery
	// recovery is the target: errors end within it of Redis
	// accepting connections again. It is held to the start of the last
	// request that failed: a request refused just before recovery whose
	// goroutine then waits for a CPU on a loaded machine ends late without
	// saying anything about Redis. The end of the last failed response is
	// printed too.
	recovery = 100 * time.Millisecond
	// timeout bounds every Redis call of every package here: 1 s, longer
	// than the defaults (100 ms for ratelimit, 250 ms for the caches), so
	// that a loaded machine's scheduling stalls do not pass for Redis
	// failures with Redis up, which would blur the recovery measured.
	timeout = time.Second
	// margin is what a response may take beyond its Redis timeouts: the
	// handler, the race detector, a loaded 2-core machine.
	margin = time.Second
	// maxLines bounds the log lines (Info and above) one package may write
	// in one phase: the breaker opening and closing, the first failure,
	// a fill subscription's warning; never one per request.
	maxLines = 5
)

// mode is one client configuration the suite runs with.
type mode struct {
	name       string
	ctxTimeout bool // go-redis ContextTimeoutEnabled
	redial     bool // middleware.Redial's hook on the client
	// strict holds the run to the 100 ms recovery; a run without the
	// hook measures go-redis' own re-dial instead.
	strict bool
}

var modes = []mode{
	{name: "default", redial: true, strict: true},
	{name: "ctxtimeout", ctxTimeout: true, redial: true, strict: true},
	{name: "no-redial", strict: false},
}

// TestFaults pauses, kills and restarts a redis-server under load from
// every package, once per client mode.
func TestFaults(t *testing.T) {
	bin := redisServer(t)
	// go-redis logs every failed dial through its own logger; count those
	// lines rather than print them.
	var redisLines atomic.Int64
	redis.SetLogger(countingLogger{&redisLines})
	// middleware.Health logs with slog.Default(); count that too.
	var healthSink sink
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(&healthSink))

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			before := redisLines.Load()
			runFaults(t, bin, m, &healthSink)
			t.Logf("[%s] go-redis' own logger: %d lines", m.name, redisLines.Load()-before)
		})
	}
}

// sample is one response, its times relative to the run's start.
type sample struct {
	start, end time.Duration
	status     int
	failed     bool // the package answered by its failure policy
}

// target is one package behind an http.Handler, with what its responses
// may be.
type target struct {
	name string
	// bound is the longest a response may take: the package's Redis
	// timeouts for the calls one request makes, plus margin.
	bound time.Duration
	h     http.Handler
	req   func(g int) *http.Request
	// judge says whether the response shows a Redis failure (answered by
	// the failure policy) and what, if anything, breaks the policy.
	judge func(g int, w *httptest.ResponseRecorder) (failed bool, bad string)
	logs  *sink
	n     int // goroutines

	mu      sync.Mutex
	samples []sample
	bad     []string
}

func runFaults(t *testing.T, bin string, m mode, healthSink *sink) {
	srv := startServer(t, bin)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: m.ctxTimeout})
	if m.redial {
		rdb.AddHook(middleware.Redial(0))
	}
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	var killed atomic.Bool // sessions written before the kill are gone after it (no persistence)

	targets := []*target{
		sessionTarget(t, rdb, &killed),
		ratelimitTarget(t, rdb),
		cacheTarget(t, rdb),
		asideTarget(t, rdb),
		healthTarget(rdb, healthSink),
	}

	t0 := time.Now()
	since := func(at time.Time) time.Duration { return at.Sub(t0) }
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, tg := range targets {
		for g := range tg.n {
			wg.Go(func() { tg.load(loadCtx, t0, g) })
		}
	}

	// The faults.
	time.Sleep(warmFor)
	warmEnd := since(time.Now())
	stopAt := since(srv.signal(syscall.SIGSTOP))
	time.Sleep(pauseFor)
	resumeAt := since(srv.signal(syscall.SIGCONT))
	time.Sleep(watchFor)
	pauseEnd := since(time.Now())
	killed.Store(true)
	killAt := since(srv.kill())
	time.Sleep(killFor)
	readyAt := since(srv.start())
	time.Sleep(watchFor)
	stopLoad()
	wg.Wait()
	end := since(time.Now())

	phases := []phase{
		{name: "warm", from: 0, to: warmEnd},
		{name: "pause", from: warmEnd, to: pauseEnd, faultAt: stopAt, backAt: resumeAt,
			injected: fmt.Sprintf("SIGSTOP for %v, then SIGCONT", (resumeAt - stopAt).Round(time.Millisecond))},
		{name: "kill", from: pauseEnd, to: end, faultAt: killAt, backAt: readyAt,
			injected: fmt.Sprintf("SIGKILL, restarted on the same port %v later", (readyAt - killAt).Round(time.Millisecond))},
	}
	for _, p := range phases {
		report(t, m, p, targets, t0)
	}
	// Sessions written before the pause are intact after it: every read
	// before the kill returned the value written (judge checks it).
	for _, tg := range targets {
		tg.mu.Lock()
		if len(tg.bad) > 0 {
			t.Errorf("%s: %d responses broke the failure policy, e.g. %s", tg.name, len(tg.bad), strings.Join(tg.bad[:min(3, len(tg.bad))], "; "))
		}
		tg.mu.Unlock()
	}
}

// load sends requests from goroutine g until ctx ends.
func (tg *target) load(ctx context.Context, t0 time.Time, g int) {
	var local []sample
	var bad []string
	pace := pace
	if tg.name == "health" {
		pace = 20 * pace // a prober, not traffic
	}
	for ctx.Err() == nil {
		r := tg.req(g)
		w := httptest.NewRecorder()
		start := time.Now()
		tg.h.ServeHTTP(w, r)
		end := time.Now()
		failed, why := tg.judge(g, w)
		if d := end.Sub(start); d > tg.bound {
			why = fmt.Sprintf("took %v, bound %v", d.Round(time.Millisecond), tg.bound)
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("[%v] %s", start.Sub(t0).Round(time.Millisecond), why))
		}
		local = append(local, sample{start: start.Sub(t0), end: end.Sub(t0), status: w.Code, failed: failed})
		time.Sleep(pace)
	}
	tg.mu.Lock()
	tg.samples = append(tg.samples, local...)
	tg.bad = append(tg.bad, bad...)
	tg.mu.Unlock()
}

// phase is a window of the run, with the fault in it, if any.
type phase struct {
	name            string
	from, to        time.Duration
	faultAt, backAt time.Duration // zero in the warm phase
	injected        string
}

// report prints what each package answered in p and checks it.
func report(t *testing.T, m mode, p phase, targets []*target, t0 time.Time) {
	t.Helper()
	if p.injected != "" {
		t.Logf("[%s] %s: %s", m.name, p.name, p.injected)
	} else {
		t.Logf("[%s] %s: no fault", m.name, p.name)
	}
	for _, tg := range targets {
		tg.mu.Lock()
		var n, failures, after int
		var maxLat, lastFail, lastFailStart time.Duration
		lastFail, lastFailStart = -1, -1
		statuses := map[int]int{}
		for _, s := range tg.samples {
			if s.end < p.from || s.end >= p.to {
				continue
			}
			n++
			statuses[s.status]++
			maxLat = max(maxLat, s.end-s.start)
			if s.failed {
				failures++
				if p.backAt > 0 && s.end > p.backAt {
					after++
					lastFail = max(lastFail, s.end-p.backAt)
					lastFailStart = max(lastFailStart, s.start-p.backAt)
				}
			}
		}
		tg.mu.Unlock()
		lines := tg.logs.between(t0, p.from, p.to)
		recovered := "no errors after it"
		if lastFail >= 0 {
			recovered = fmt.Sprintf("%d errors, the last starting %v after it (ending %v after it)",
				after, lastFailStart.Round(time.Millisecond), lastFail.Round(time.Millisecond))
		}
		backWord := ""
		if p.backAt > 0 {
			backWord = fmt.Sprintf("; Redis back: %s", recovered)
		}
		t.Logf("[%s] %s %-12s %6d requests, statuses %v, %d answered by the failure policy, max latency %v%s; %d log lines",
			m.name, p.name, tg.name, n, fmtStatuses(statuses), failures, maxLat.Round(time.Millisecond), backWord, len(lines))
		for _, l := range lines {
			t.Logf("[%s] %s %-12s   log: %s", m.name, p.name, tg.name, l)
		}

		if n == 0 {
			t.Errorf("%s %s: no requests completed", p.name, tg.name)
		}
		if p.backAt == 0 && failures > 0 {
			t.Errorf("%s %s: %d failures with Redis up", p.name, tg.name, failures)
		}
		if p.backAt > 0 && failures == 0 {
			t.Errorf("%s %s: the %s did not show: no response was answered by the failure policy", p.name, tg.name, p.name)
		}
		if p.backAt > 0 && lastFailStart > recovery {
			if m.strict {
				t.Errorf("%s %s: a request starting %v after Redis accepted connections again still failed, want ≤ %v", p.name, tg.name, lastFailStart.Round(time.Millisecond), recovery)
			} else {
				t.Logf("[%s] %s %-12s   (not held to %v in this mode: go-redis' pool re-dials once a second without the Redial hook)", m.name, p.name, tg.name, recovery)
			}
		}
		if tg.name != "health" && len(lines) > maxLines {
			t.Errorf("%s %s: %d log lines in one phase, want ≤ %d", p.name, tg.name, len(lines), maxLines)
		}
	}
}

func fmtStatuses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d×%d", c, m[c])
	}
	return b.String()
}

var sessionKeys = [][]byte{[]byte("0123456789abcdef0123456789abcdef")}

// sessionTarget: each goroutine reads its own session, written before the
// load starts. Sessions fail closed (503); until the kill (which loses
// every key: no persistence) each read must return what was written.
func sessionTarget(t *testing.T, rdb redis.UniversalClient, killed *atomic.Bool) *target {
	t.Helper()
	logs := &sink{}
	m, err := session.New(rdb, session.Options{Keys: sessionKeys, Insecure: true, Timeout: timeout, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	write := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Put("v", r.URL.Query().Get("v"))
	}))
	cookies := make([]*http.Cookie, goroutines)
	for g := range cookies {
		w := httptest.NewRecorder()
		write.ServeHTTP(w, httptest.NewRequest("GET", "/?v="+strconv.Itoa(g), nil))
		if cs := w.Result().Cookies(); w.Code != 200 || len(cs) != 1 {
			t.Fatalf("writing session %d: %d %v", g, w.Code, cs)
		}
		cookies[g] = w.Result().Cookies()[0]
	}
	read := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _, _ := session.Get[string](session.FromContext(r.Context()), "v")
		_, _ = io.WriteString(w, v)
	}))
	return &target{
		name: "session", n: goroutines, logs: logs, h: read,
		bound: timeout + margin,
		req: func(g int) *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookies[g])
			return r
		},
		judge: func(g int, w *httptest.ResponseRecorder) (bool, string) {
			switch {
			case w.Code == http.StatusServiceUnavailable:
				return true, ""
			case w.Code != http.StatusOK:
				return false, fmt.Sprintf("status %d", w.Code)
			case !killed.Load() && w.Body.String() != strconv.Itoa(g):
				return false, fmt.Sprintf("session %d lost: read %q", g, w.Body)
			}
			return false, ""
		},
	}
}

// ratelimitTarget: a generous limit per client; the limiter fails open,
// so every answer is 200, without RateLimit headers when Redis did not
// decide.
func ratelimitTarget(t *testing.T, rdb redis.UniversalClient) *target {
	t.Helper()
	logs := &sink{}
	l, err := ratelimit.New(rdb, ratelimit.Options{Timeout: timeout, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(middleware.KeyByIP, ratelimit.PerSecond(100000))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	return &target{
		name: "ratelimit", n: goroutines, logs: logs, h: h,
		bound: timeout + margin,
		req: func(g int) *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "10.1.0." + strconv.Itoa(g) + ":1234"
			return r
		},
		judge: func(g int, w *httptest.ResponseRecorder) (bool, string) {
			if w.Code != http.StatusOK {
				return false, fmt.Sprintf("status %d (fail open allows)", w.Code)
			}
			return w.Header().Get("RateLimit") == "", ""
		},
	}
}

// cacheTarget: a few cacheable pages; the cache always bypasses, so every
// answer is the page, marked redis-error when Redis was not asked or
// failed.
func cacheTarget(t *testing.T, rdb redis.UniversalClient) *target {
	t.Helper()
	logs := &sink{}
	c, err := cachehandler.New(rdb, cachehandler.Options{Timeout: timeout, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "page")
	}))
	return &target{
		name: "cachehandler", n: goroutines, logs: logs, h: h,
		// A miss: lookup, fill lock, store, each bounded.
		bound: 3*timeout + margin,
		req: func(g int) *http.Request {
			return httptest.NewRequest("GET", "http://example.com/page/"+strconv.Itoa(g%4), nil)
		},
		judge: func(g int, w *httptest.ResponseRecorder) (bool, string) {
			if w.Code != http.StatusOK || w.Body.String() != "page" {
				return false, fmt.Sprintf("status %d body %q (the cache bypasses)", w.Code, w.Body)
			}
			return strings.Contains(w.Header().Get("Cache-Status"), "redis-error"), ""
		},
	}
}

// asideTarget: each request Sets its goroutine's key and reads it back
// with GetOrSet. GetOrSet bypasses Redis when it fails, so it always
// returns the value; Set returns Redis' error, which marks the failure.
func asideTarget(t *testing.T, rdb redis.UniversalClient) *target {
	t.Helper()
	logs := &sink{}
	a, err := aside.New(rdb, aside.Options{Prefix: "faults:", Timeout: timeout, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, _ := strconv.Atoi(r.URL.Query().Get("g"))
		key := "k" + strconv.Itoa(g)
		if err := aside.Set(r.Context(), a, key, g, time.Minute); err != nil {
			w.Header().Set("X-Set-Failed", "1")
		}
		v, err := aside.GetOrSet(r.Context(), a, key, time.Minute, func(context.Context) (int, error) { return g, nil })
		if err != nil || v != g {
			http.Error(w, fmt.Sprintf("GetOrSet: %d, %v", v, err), http.StatusInternalServerError)
		}
	})
	return &target{
		name: "aside", n: goroutines, logs: logs, h: h,
		// Set; GetOrSet's read, fill lock and store.
		bound: 4*timeout + margin,
		req: func(g int) *http.Request {
			return httptest.NewRequest("GET", "/?g="+strconv.Itoa(g), nil)
		},
		judge: func(g int, w *httptest.ResponseRecorder) (bool, string) {
			if w.Code != http.StatusOK {
				return false, fmt.Sprintf("status %d %q (GetOrSet bypasses)", w.Code, w.Body)
			}
			return w.Header().Get("X-Set-Failed") != "", ""
		},
	}
}

// healthTarget: middleware.Health, which has no breaker: it recovers with
// the client.
func healthTarget(rdb redis.UniversalClient, logs *sink) *target {
	return &target{
		name: "health", n: 2, logs: logs, h: middleware.Health(rdb, timeout),
		bound: timeout + margin,
		req:   func(int) *http.Request { return httptest.NewRequest("GET", "/healthz", nil) },
		judge: func(g int, w *httptest.ResponseRecorder) (bool, string) {
			switch w.Code {
			case http.StatusOK:
				return false, ""
			case http.StatusServiceUnavailable:
				return true, ""
			}
			return false, fmt.Sprintf("status %d", w.Code)
		},
	}
}

// sink is a slog.Handler keeping the lines at Info and above, with their
// times, as an operator's log would.
type sink struct {
	mu    sync.Mutex
	lines []logLine
	attrs []slog.Attr
}

type logLine struct {
	at   time.Time
	text string
}

func (s *sink) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (s *sink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	s.mu.Lock()
	s.lines = append(s.lines, logLine{r.Time, b.String()})
	s.mu.Unlock()
	return nil
}

func (s *sink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *sink) WithGroup(string) slog.Handler      { return s }

// between returns the lines logged in [from, to) after t0.
func (s *sink) between(t0 time.Time, from, to time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		if d := l.at.Sub(t0); d >= from && d < to {
			out = append(out, l.text)
		}
	}
	return slices.Clip(out)
}

// countingLogger counts go-redis' internal log lines.
type countingLogger struct{ n *atomic.Int64 }

func (c countingLogger) Printf(context.Context, string, ...any) { c.n.Add(1) }
