package failover

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/aside"
	"github.com/redisware/redisware/cachehandler"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
	"github.com/redisware/redisware/session"
)

// The phases of a failover test: load on a healthy primary, the failover
// and the election (until every worker has recovered), and load again.
type phase int32

const (
	before phase = iota
	during
	after
	phases
)

var phaseNames = [phases]string{"before", "during", "after"}

// The packages under load, in the order a worker's round calls them.
type pkg int

const (
	pkgSession pkg = iota
	pkgLimit
	pkgCache
	pkgAside
	pkgs
)

var pkgNames = [pkgs]string{"session", "ratelimit", "cachehandler", "aside"}

const (
	workers = 6 // concurrent clients, each with a session and a rate-limit key of its own
	urls    = 3 // cache URLs and aside keys the workers share, one per round in turn
	// streak is the number of consecutive healthy rounds that count as
	// warmed up or recovered; it covers every URL and key.
	streak = urls
	// hang bounds every request: far above the packages' timeouts, it
	// only catches a request left hanging, not a slow machine.
	hang = 10 * time.Second
	// timeout is every package's Redis timeout: generous, so a loaded
	// machine does not turn a slow reply into a failure.
	timeout = 2 * time.Second
)

// limit spends a unit per request; one comes back every 316 s (a year
// over 100,000), never during a test, so the units Redis counts are the
// units it allowed.
var limit = ratelimit.Per(100_000, 365*24*time.Hour).Named("y")

// app is one application instance: the four packages on one client, and
// a handler per package.
type app struct {
	sessions *session.Manager
	limiter  *ratelimit.Limiter
	cache    *cachehandler.Cache
	aside    *aside.Cache
	h        http.Handler

	phase    atomic.Int32 // the current phase
	errs     [phases][pkgs]atomic.Int64
	attempts [workers]atomic.Int64 // session increments made by the handler, saved or not
	logs     [pkgs]*redistest.LogBuffer
}

func newApp(t *testing.T, rdb redis.UniversalClient, prefix string) *app {
	t.Helper()
	a := &app{}
	var loggers [pkgs]*slog.Logger
	for p := range pkgs {
		loggers[p], a.logs[p] = redistest.Logger()
	}
	onError := func(p pkg) func(context.Context, error) {
		return func(ctx context.Context, _ error) {
			start, ok := ctx.Value(startKey{}).(phase)
			if !ok {
				start = phase(a.phase.Load())
			}
			a.errs[a.effective(start)][p].Add(1)
		}
	}
	var err error
	if a.sessions, err = session.New(rdb, session.Options{
		Keys: [][]byte{[]byte(strings.Repeat("h", 32))}, Insecure: true, Prefix: prefix + "session:",
		Timeout: timeout, Logger: loggers[pkgSession],
	}); err != nil {
		t.Fatal(err)
	}
	if a.limiter, err = ratelimit.New(rdb, ratelimit.Options{
		Prefix: prefix + "ratelimit:", Timeout: timeout, CacheSize: -1,
		Logger: loggers[pkgLimit], OnError: onError(pkgLimit),
	}); err != nil {
		t.Fatal(err)
	}
	if a.cache, err = cachehandler.New(rdb, cachehandler.Options{
		Prefix: prefix + "cache:", Timeout: timeout, FillWait: time.Second, Hosts: []string{"app.example"},
		Logger: loggers[pkgCache], OnError: onError(pkgCache),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.cache.Close() })
	if a.aside, err = aside.New(rdb, aside.Options{
		Prefix: prefix + "aside:", Timeout: timeout, LockWait: time.Second,
		Logger: loggers[pkgAside], OnError: onError(pkgAside),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.aside.Close() })

	mux := http.NewServeMux()
	mux.Handle("GET /session", a.sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, _ := strconv.Atoi(r.Header.Get("X-Worker"))
		if _, err := session.FromContext(r.Context()).Incr("n", 1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.attempts[wk].Add(1)
		_, _ = io.WriteString(w, "ok")
	})))
	mux.Handle("GET /session/new", a.sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = session.FromContext(r.Context()).Put("static", r.URL.Query().Get("v"))
	})))
	mux.Handle("GET /session/read", a.sessions.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if s.ID() == "" {
			http.Error(w, "no session", http.StatusNotFound)
			return
		}
		n, _, _ := session.Get[int64](s, "n")
		v, _, _ := session.Get[string](s, "static")
		fmt.Fprintf(w, "%d %s %s", n, v, s.ID())
	})))
	mux.Handle("GET /limit", a.limiter.Handler(middleware.KeyByHeader("X-Worker"), limit)(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			res, _ := ratelimit.ResultFromContext(r.Context())
			_, _ = io.WriteString(w, res.Source.String())
		})))
	mux.Handle("GET /cache/", a.cache.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = io.WriteString(w, "page "+r.URL.Path)
	})))
	mux.HandleFunc("GET /aside/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		fetched := false
		v, err := aside.GetOrSet(r.Context(), a.aside, "k:"+id, time.Hour, func(context.Context) (string, error) {
			fetched = true
			return "value " + id, nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		how := "cached"
		if fetched {
			how = "fetched"
		}
		_, _ = io.WriteString(w, v+";"+how)
	})
	a.h = mux
	return a
}

// startKey is the context key of the phase a request started in.
type startKey struct{}

// effective is the phase a request that started in start is judged by: a
// request under way when the failover began may meet it, so it counts as
// during it.
func (a *app) effective(start phase) phase {
	if start == before && phase(a.phase.Load()) != before {
		return during
	}
	return start
}

// get sends one request through the app.
func (a *app) get(path string, worker int, c *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://app.example"+path, nil)
	r = r.WithContext(context.WithValue(r.Context(), startKey{}, phase(a.phase.Load())))
	r.Header.Set("X-Worker", strconv.Itoa(worker))
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// newSession stores a session holding static=v and returns its cookie.
func (a *app) newSession(t *testing.T, v string) *http.Cookie {
	t.Helper()
	rec := a.get("/session/new?v="+v, 0, nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" && rec.Code == http.StatusOK {
			return c
		}
	}
	t.Fatalf("no session stored: %d %s", rec.Code, rec.Body)
	return nil
}

// stats are what the workers saw, per phase and package.
type stats struct {
	mu      sync.Mutex
	n       [phases][pkgs]int
	codes   [phases][pkgs]map[string]int // status, or the ratelimit decision's source
	maxLat  [phases][pkgs]time.Duration
	bad     []string // answers no failure policy allows
	badMore int
}

func (s *stats) record(ph phase, p pkg, outcome string, lat time.Duration, bad string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[ph][p]++
	if s.codes[ph][p] == nil {
		s.codes[ph][p] = map[string]int{}
	}
	s.codes[ph][p][outcome]++
	s.maxLat[ph][p] = max(s.maxLat[ph][p], lat)
	if bad != "" {
		if len(s.bad) < 20 {
			s.bad = append(s.bad, fmt.Sprintf("%s, %s: %s", phaseNames[ph], pkgNames[p], bad))
		} else {
			s.badMore++
		}
	}
}

// worker is one client of the app.
type worker struct {
	id     int
	cookie *http.Cookie

	acked        int64 // session increments answered 200
	redisAllowed int64 // rate-limit units Redis allowed
	failOpen     int64 // requests allowed by FailOpen, uncounted
}

// round sends one request to each package and reports whether all four
// were served with Redis' help (not by a failure policy).
func (w *worker) round(a *app, st *stats, i int) bool {
	ok := true
	var ph phase // the phase the last request is judged by
	timed := func(p pkg, path string, c *http.Cookie) (*httptest.ResponseRecorder, time.Duration) {
		startPhase, start := phase(a.phase.Load()), time.Now()
		rec := a.get(path, w.id, c)
		ph = a.effective(startPhase)
		return rec, time.Since(start)
	}
	check := func(p pkg, outcome string, lat time.Duration, bad string) {
		if lat > hang {
			bad = fmt.Sprintf("answered after %v", lat)
		}
		st.record(ph, p, outcome, lat, bad)
	}

	rec, lat := timed(pkgSession, "/session", w.cookie)
	switch {
	case rec.Code == http.StatusOK:
		w.acked++
		check(pkgSession, "200", lat, "")
	case rec.Code == http.StatusServiceUnavailable && ph == during:
		ok = false
		check(pkgSession, "503", lat, "")
	default:
		ok = false
		check(pkgSession, strconv.Itoa(rec.Code), lat, fmt.Sprintf("status %d %q", rec.Code, rec.Body))
	}

	rec, lat = timed(pkgLimit, "/limit", nil)
	src := rec.Body.String()
	switch {
	case rec.Code == http.StatusOK && src == "redis":
		w.redisAllowed++
		check(pkgLimit, src, lat, "")
	case rec.Code == http.StatusOK && src == "fail-open" && ph == during:
		ok = false
		w.failOpen++
		check(pkgLimit, src, lat, "")
	default:
		ok = false
		check(pkgLimit, src, lat, fmt.Sprintf("status %d %q", rec.Code, src))
	}

	path := fmt.Sprintf("/cache/%d", i%urls)
	rec, lat = timed(pkgCache, path, nil)
	cs := rec.Header().Get("Cache-Status")
	// From Redis: a hit, a fill stored, or another request's fill read
	// after its announcement.
	hit := strings.Contains(cs, "; hit") || strings.Contains(cs, "stored") || strings.Contains(cs, "collapsed")
	outcome := "200 " + map[bool]string{true: "from Redis", false: "bypassed"}[hit]
	switch {
	case rec.Code != http.StatusOK || rec.Body.String() != "page "+path:
		ok = false
		check(pkgCache, strconv.Itoa(rec.Code), lat, fmt.Sprintf("status %d %q", rec.Code, rec.Body))
	case !hit && ph != during:
		ok = false
		check(pkgCache, outcome, lat, "Cache-Status "+cs)
	default:
		ok = ok && hit
		check(pkgCache, outcome, lat, "")
	}

	id := strconv.Itoa(i % urls)
	rec, lat = timed(pkgAside, "/aside/"+id, nil)
	body := rec.Body.String()
	switch {
	case rec.Code != http.StatusOK || !strings.HasPrefix(body, "value "+id+";"):
		ok = false
		check(pkgAside, strconv.Itoa(rec.Code), lat, fmt.Sprintf("status %d %q", rec.Code, body))
	default:
		how := body[strings.IndexByte(body, ';')+1:]
		ok = ok && how == "cached"
		check(pkgAside, "200 "+how, lat, "")
	}
	return ok
}

// scenario is one way of failing over.
type scenario struct {
	rdb    redis.UniversalClient
	prefix string
	// replicated returns once every primary's writes so far are on its
	// replicas.
	replicated func(t *testing.T)
	// failover kills a primary and has a replica take over; it returns a
	// description of what it did. l tells it the Redis keys of the
	// workers' sessions, and lets it wait for rounds of load.
	failover func(t *testing.T, l *load) string
}

// load is what a scenario's failover may know of the load and wait for.
type load struct {
	sessionKeys []string // the Redis keys of the workers' sessions

	mu     sync.Mutex
	cond   *sync.Cond
	rounds [workers]int // rounds each worker finished
}

// finished notes that worker w finished a round.
func (l *load) finished(w int) {
	l.mu.Lock()
	l.rounds[w]++
	l.mu.Unlock()
	l.cond.Broadcast()
}

// waitRounds returns once every worker has finished n more rounds.
func (l *load) waitRounds(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var target [workers]int
	for w := range target {
		target[w] = l.rounds[w] + n
	}
	for w := 0; w < workers; {
		if l.rounds[w] >= target[w] {
			w++
			continue
		}
		l.cond.Wait()
	}
}

// losses are what asynchronous replication lost in a failover.
type losses struct {
	increments int64 // session increments answered 200 but not in Redis afterwards
	units      int64 // rate-limit units Redis allowed but no longer counts
}

// run drives the workers through the three phases around sc.failover,
// checks and reports what they saw, and returns what was lost.
func run(t *testing.T, sc scenario) losses {
	a := newApp(t, sc.rdb, sc.prefix)
	ctx := context.Background()

	// Sessions written, and replicated, before the failover must survive it.
	const statics = 20
	staticCookies := make([]*http.Cookie, statics)
	for i := range staticCookies {
		staticCookies[i] = a.newSession(t, "s"+strconv.Itoa(i))
	}
	ws := make([]*worker, workers)
	ld := &load{sessionKeys: make([]string, workers)}
	ld.cond = sync.NewCond(&ld.mu)
	for i := range ws {
		ws[i] = &worker{id: i, cookie: a.newSession(t, "w"+strconv.Itoa(i))}
		rec := a.get("/session/read", i, ws[i].cookie)
		ld.sessionKeys[i] = sc.prefix + "session:" + rec.Body.String()[strings.LastIndexByte(rec.Body.String(), ' ')+1:]
	}
	sc.replicated(t)

	st := &stats{}
	var (
		triggered atomic.Bool // the failover is done: rounds count toward recovery
		stop      atomic.Bool
		warm      = newLatch(workers)
		recovered = newLatch(workers)
		finished  = newLatch(workers)
		wg        sync.WaitGroup
	)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				run    [phases]int  // consecutive healthy rounds
				served [phases]bool // the phase's latch was told
			)
			for i := 0; !stop.Load(); i++ {
				ph := phase(a.phase.Load())
				counts := ph != during || triggered.Load()
				ok := w.round(a, st, i)
				ld.finished(w.id)
				if !ok {
					run[ph] = 0
					continue
				}
				if !counts || served[ph] {
					continue
				}
				if run[ph]++; run[ph] == streak {
					served[ph] = true
					[phases]*latch{warm, recovered, finished}[ph].done()
				}
			}
		}()
	}
	waitLatch(t, warm, "every worker to have served rounds from Redis before the failover")

	var lines [phases + 1][pkgs]int
	mark := func(ph phase) {
		for p := range pkgs {
			lines[ph][p] = strings.Count(a.logs[p].String(), "\n")
		}
	}
	mark(during)
	a.phase.Store(int32(during))
	start := time.Now()
	what := sc.failover(t, ld)
	triggered.Store(true)
	t.Logf("failover: %s (%v)", what, time.Since(start).Round(time.Millisecond))
	waitLatch(t, recovered, "every worker to be served from Redis again after the failover")
	recovery := time.Since(start)
	mark(after)
	a.phase.Store(int32(after))
	waitLatch(t, finished, "every worker to finish its rounds after the failover")
	stop.Store(true)
	wg.Wait()
	mark(phases)

	// What each phase saw.
	t.Logf("every worker served from Redis again %v after the failover began", recovery.Round(time.Millisecond))
	for ph := range phases {
		for p := range pkgs {
			keys := make([]string, 0, len(st.codes[ph][p]))
			for k := range st.codes[ph][p] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s×%d", k, st.codes[ph][p][k]))
			}
			t.Logf("%-6s %-12s %5d requests, max %8v, %4d OnError calls, %4d log lines: %s", phaseNames[ph], pkgNames[p],
				st.n[ph][p], st.maxLat[ph][p].Round(time.Microsecond), a.errs[ph][p].Load(), lines[ph+1][p]-lines[ph][p],
				strings.Join(parts, ", "))
		}
	}
	for _, b := range st.bad {
		t.Errorf("answer outside the failure policy: %s", b)
	}
	if st.badMore > 0 {
		t.Errorf("... and %d more", st.badMore)
	}
	for _, ph := range []phase{before, after} {
		for p := range pkgs {
			if n := a.errs[ph][p].Load(); n != 0 {
				t.Errorf("%s the failover, %s reported %d Redis errors", phaseNames[ph], pkgNames[p], n)
			}
		}
	}

	// Replicated sessions survived.
	intact := 0
	for i, c := range staticCookies {
		rec := a.get("/session/read", 0, c)
		if want := "0 s" + strconv.Itoa(i) + " "; rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), want) {
			t.Errorf("session %d written before the failover: %d %q, want %q", i, rec.Code, rec.Body, want)
			continue
		}
		intact++
	}

	// What asynchronous replication lost.
	var acked, stored, lostIncr, allowed, counted, lostUnits, failOpen int64
	for _, w := range ws {
		rec := a.get("/session/read", w.id, w.cookie)
		var n int64
		var v string
		if _, err := fmt.Sscanf(rec.Body.String(), "%d %s", &n, &v); rec.Code != http.StatusOK || err != nil {
			t.Errorf("worker %d's session after the failover: %d %q", w.id, rec.Code, rec.Body)
			continue
		}
		if attempts := a.attempts[w.id].Load(); n > attempts {
			t.Errorf("worker %d's counter is %d after %d increments: one was applied twice", w.id, n, attempts)
		}
		acked += w.acked
		stored += n
		lostIncr += max(w.acked-n, 0)

		res, err := a.limiter.AllowN(ctx, strconv.Itoa(w.id), 0, limit)
		if err != nil {
			t.Fatalf("limiter after the failover: %v", err)
		}
		used := int64(limit.Burst() - res.Limits[0].Remaining)
		// A decision whose reply was lost when a node died after running
		// it is retried by go-redis (MaxRetries) on the new primary, which
		// runs it again: that request costs two units. Requests are
		// sequential per worker, so at most one straddles each of the (at
		// most two) disruptions of a run: the limiter errs toward denying,
		// never toward allowing more than its limit.
		if extra := used - (w.redisAllowed + w.failOpen); extra > 2 {
			t.Errorf("worker %d: Redis counts %d units after %d requests", w.id, used, w.redisAllowed+w.failOpen)
		} else if extra > 0 {
			t.Logf("worker %d: %d unit(s) counted twice (a decision retried after its reply was lost)", w.id, extra)
		}
		allowed += w.redisAllowed
		counted += used
		lostUnits += max(w.redisAllowed-used, 0)
		failOpen += w.failOpen
	}
	t.Logf("sessions: %d increments answered 200, %d in Redis afterwards: %d lost", acked, stored, lostIncr)
	t.Logf("ratelimit: %d units allowed by Redis, %d counted afterwards: %d lost (the limiter will allow that many requests again); %d requests allowed by FailOpen uncounted during the election",
		allowed, counted, lostUnits, failOpen)
	t.Logf("sessions written and replicated before the failover: %d of %d intact", intact, statics)
	return losses{increments: lostIncr, units: lostUnits}
}

// latch is a countdown that closes a channel at zero.
type latch struct {
	n    atomic.Int32
	zero chan struct{}
}

func newLatch(n int) *latch {
	l := &latch{zero: make(chan struct{})}
	l.n.Store(int32(n))
	return l
}

func (l *latch) done() {
	if l.n.Add(-1) == 0 {
		close(l.zero)
	}
}

// waitLatch waits for l, failing the test after a minute: a bound for a
// failover that never completes, not a speed assumption.
func waitLatch(t *testing.T, l *latch, what string) {
	t.Helper()
	select {
	case <-l.zero:
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}
