package redistest

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PatientClientAt is ClientAt with read and write timeouts of an hour and
// ContextTimeoutEnabled off (go-redis' default): on a stalled Proxy it
// waits that long, ignoring contexts, so a call through it that returns
// within a test was ended by the caller's own bound.
func (b *Backend) PatientClientAt(addr string) redis.UniversalClient {
	o := b.Options()
	o.Addr = addr
	o.ReadTimeout, o.WriteTimeout = time.Hour, time.Hour
	o.ContextTimeoutEnabled = false
	c := redis.NewClient(o)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Within runs fn and fails the test if fn has not returned after d: a bound
// for a broken build that leaves a call hanging, not a speed assumption,
// so make d generous. fn runs on another goroutine and must not call
// t.Fatal; it is left running if it overstays.
func Within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s has not returned after %v", what, d)
	}
}
