// Package redistest gives every test in the module the same two backends:
// the real Redis named by REDIS_URL when it is set, and an in-process
// miniredis otherwise.
//
// Each test gets its own key prefix and, on cleanup, deletes only the keys
// under that prefix (SCAN + DEL, never FLUSH), so tests can share one server.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable that selects a real Redis server.
const EnvURL = "REDIS_URL"

// Backend is one test's view of a Redis server.
type Backend struct {
	// Prefix is unique to the test; every key the test writes must start
	// with it. It contains only [a-z0-9:] so it is safe in a SCAN pattern.
	Prefix string
	// Mini is the embedded server, or nil when the test runs on real Redis.
	Mini *miniredis.Miniredis

	t    testing.TB
	addr string
	opt  *redis.Options
}

// Start returns the backend for t: real Redis when REDIS_URL is set (the test
// fails if that server does not answer), miniredis otherwise.
func Start(t testing.TB) *Backend {
	t.Helper()
	b := &Backend{t: t, Prefix: "rwtest:" + randomHex(6) + ":"}
	if url := os.Getenv(EnvURL); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("redistest: %s=%q: %v", EnvURL, url, err)
		}
		b.opt = opt
		b.addr = opt.Addr
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Ping(ctx).Err(); err != nil {
			_ = c.Close()
			t.Fatalf("redistest: %s=%q does not answer: %v", EnvURL, url, err)
		}
		t.Cleanup(func() {
			deletePrefix(t, c, b.Prefix)
			_ = c.Close()
		})
		return b
	}
	b.Mini = miniredis.RunT(t)
	b.addr = b.Mini.Addr()
	b.opt = &redis.Options{Addr: b.addr}
	return b
}

// New returns a client of t's backend and the key prefix unique to t.
func New(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	b := Start(t)
	return b.Client(), b.Prefix
}

// Real reports whether the backend is a real Redis server.
func (b *Backend) Real() bool { return b.Mini == nil }

// Addr is the server's host:port.
func (b *Backend) Addr() string { return b.addr }

// Options returns a copy of the client options that reach the backend.
func (b *Backend) Options() *redis.Options {
	o := *b.opt
	return &o
}

// Client returns a new client of the backend, with its own connection pool,
// closed when the test ends. Two calls give two independent clients, as two
// app instances would have.
func (b *Backend) Client() redis.UniversalClient {
	c := redis.NewClient(b.Options())
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClientAt returns a client of the backend that dials addr instead (a Proxy
// in front of the backend, say), closed when the test ends.
func (b *Backend) ClientAt(addr string) redis.UniversalClient {
	o := b.Options()
	o.Addr = addr
	c := redis.NewClient(o)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Now is the backend's clock as Lua scripts see it through TIME.
func (b *Backend) Now(ctx context.Context) time.Time {
	b.t.Helper()
	c := redis.NewClient(b.Options())
	defer c.Close()
	now, err := c.Time(ctx).Result()
	if err != nil {
		b.t.Fatalf("redistest: TIME: %v", err)
	}
	return now
}

// SetTime fixes the time miniredis' TIME returns. It reports false on real
// Redis, whose clock cannot be set; tests then reason relative to Now.
func (b *Backend) SetTime(t time.Time) bool {
	if b.Mini == nil {
		return false
	}
	b.Mini.SetTime(t)
	return true
}

// FastForward moves miniredis' TTLs forward by d; it does not move the time
// set with SetTime, so tests that use both advance both. It reports false on
// real Redis.
func (b *Backend) FastForward(d time.Duration) bool {
	if b.Mini == nil {
		return false
	}
	b.Mini.FastForward(d)
	return true
}

// deletePrefix removes every key under prefix. It reports failures with
// t.Errorf: a test that leaks keys on a shared server is a failing test.
func deletePrefix(t testing.TB, c *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			t.Errorf("redistest: cleanup of %s*: %v", prefix, err)
		}
		batch = batch[:0]
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			flush()
		}
	}
	if err := iter.Err(); err != nil {
		t.Errorf("redistest: cleanup scan of %s*: %v", prefix, err)
	}
	flush()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
