package session

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

var (
	testHash  = bytes.Repeat([]byte("h"), 32)
	testBlock = bytes.Repeat([]byte("b"), 32)
	testKeys  = [][]byte{testHash, testBlock}
)

// env is one test's Manager on one backend, with a round-trip counter.
type env struct {
	t    testing.TB
	b    *redistest.Backend
	rdb  redis.UniversalClient
	raw  redis.UniversalClient // uncounted, for inspecting Redis
	n    *redistest.Counter
	m    *Manager
	logs *syncBuffer
	// clock is the Manager's Now. It starts at the real time, so PEXPIREAT
	// stays in the future on a real server, and moves only when a test
	// says so.
	clock *redistest.Clock
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	b := redistest.Start(t)
	return newEnvOn(t, b, b.Client(), o)
}

func newEnvOn(t testing.TB, b *redistest.Backend, rdb redis.UniversalClient, o Options) *env {
	t.Helper()
	return newEnvWith(t, b, rdb, b.Client(), b.Prefix, o)
}

// newEnvWith builds an env on rdb; raw is an uncounted client of the same
// server, prefix the test's key prefix, b nil on a cluster.
func newEnvWith(t testing.TB, b *redistest.Backend, rdb, raw redis.UniversalClient, prefix string, o Options) *env {
	t.Helper()
	e := &env{t: t, b: b, rdb: rdb, raw: raw, n: redistest.Count(rdb), clock: redistest.NewClock(time.Now()), logs: &syncBuffer{}}
	if o.Keys == nil {
		o.Keys = testKeys
	}
	if o.Prefix == "" {
		o.Prefix = prefix + "session:"
	}
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	if o.Timeout == 0 {
		// A bound no test reaches on a loaded machine (a call past it fails
		// closed, and a test of something else would fail with the
		// machine's speed); tests of outages set their own.
		o.Timeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	}
	m, err := New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	return e
}

// serve runs h under the middleware with cookie c (nil for none) and
// returns the recorder and the session cookie the response set, if any.
func (e *env) serve(h http.HandlerFunc, c *http.Cookie) (*httptest.ResponseRecorder, *http.Cookie) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	e.m.Middleware(h).ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == e.m.o.CookieName {
			return rec, ck
		}
	}
	return rec, nil
}

// newSessionCookie stores a session holding key=value and returns its
// cookie.
func (e *env) newSessionCookie(key string, value any) *http.Cookie {
	e.t.Helper()
	rec, c := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if err := FromContext(r.Context()).Put(key, value); err != nil {
			e.t.Error(err)
		}
	}, nil)
	if c == nil || rec.Code != http.StatusOK {
		e.t.Fatalf("no session cookie set: %d %q", rec.Code, rec.Body.String())
	}
	return c
}

// warm makes every script cached on the server, so round-trip counts do
// not include an EVALSHA → EVAL fallback.
func (e *env) warm() {
	e.t.Helper()
	if err := e.m.Preload(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	c := e.newSessionCookie("warm", 1)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		_ = FromContext(r.Context()).Login("warm-user")
	}, c)
	e.n.Reset()
}

// read returns the session a cookie names, as a request sees it.
func (e *env) read(c *http.Cookie) (values map[string]string, user string, id string) {
	e.t.Helper()
	rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		s.mu.Lock()
		values = map[string]string{}
		for k, v := range s.values {
			values[k] = v
		}
		user, id = s.user, s.id
		s.mu.Unlock()
	}, c)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("read: status %d", rec.Code)
	}
	return values, user, id
}

func (e *env) exists(key string) bool {
	e.t.Helper()
	n, err := e.raw.Exists(e.t.Context(), key).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n == 1
}

// cookieID returns the session ID a cookie carries.
func (e *env) cookieID(c *http.Cookie) string {
	e.t.Helper()
	id, err := e.m.codec.decode(c.Value)
	if err != nil {
		e.t.Fatalf("cookie does not decode: %v", err)
	}
	return id
}

func httptestRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }

// barrier holds concurrent requests in their handlers until all of them
// have loaded their session, so their saves start from the same view. A
// request that never reaches its handler (its load failed) is counted when
// it returns: the test then fails on its status instead of hanging.
type barrier struct{ loaded sync.WaitGroup }

func newBarrier(n int) *barrier {
	b := &barrier{}
	b.loaded.Add(n)
	return b
}

// serve runs h under e's middleware with cookie c once every request of
// the barrier has loaded, and returns the recorder.
func (b *barrier) serve(e *env, h http.HandlerFunc, c *http.Cookie) *httptest.ResponseRecorder {
	ran := false
	rec, _ := e.serve(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		b.loaded.Done()
		b.loaded.Wait()
		h(w, r)
	}, c)
	if !ran {
		b.loaded.Done()
	}
	return rec
}
