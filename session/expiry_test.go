package session

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// expireAt returns when the key expires, read from PTTL against the real
// clock (on both backends TTLs run on the wall clock, while the Manager
// runs on the test's clock).
func (e *env) expireAt(key string) time.Time {
	e.t.Helper()
	ttl, err := e.raw.PTTL(e.t.Context(), key).Result()
	if err != nil || ttl <= 0 {
		e.t.Fatalf("PTTL %s = %v, %v", key, ttl, err)
	}
	return time.Now().Add(ttl)
}

// near reports whether a and b are within the slack a slow test run needs.
func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -5*time.Second && d < 5*time.Second
}

func (e *env) seenField(key string) time.Time {
	e.t.Helper()
	v, err := e.raw.HGet(e.t.Context(), key, fieldSeen).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(n)
}

func TestIdleExpiry(t *testing.T) {
	const idle = time.Hour
	e := newEnv(t, Options{IdleTimeout: idle, Lifetime: 10 * time.Hour})
	e.warm()
	start := e.clock.Now()
	c := e.newSessionCookie("a", 1)
	key := e.m.key(e.cookieID(c))
	if at := e.expireAt(key); !near(at, start.Add(idle)) {
		t.Fatalf("expires at %v, want now+idle %v", at, start.Add(idle))
	}

	// Within a quarter of the idle window a read writes nothing.
	e.clock.Add(idle/4 - time.Minute)
	e.n.Reset()
	if vals, _, _ := e.read(c); vals["a"] != "1" {
		t.Fatal("session lost")
	}
	if got := e.seenField(key); !got.Equal(start.Truncate(time.Millisecond)) {
		t.Fatalf("last seen moved to %v on an early read", got)
	}
	// The Manager knows now that no refresh is due before start+idle/4:
	// the next early read is one plain HGETALL, no script.
	e.n.Reset()
	if vals, _, _ := e.read(c); vals["a"] != "1" {
		t.Fatal("session lost")
	}
	if got := e.n.Commands(); len(got) != 1 || got[0] != "hgetall" {
		t.Fatalf("an early read with no refresh due sent %v, want one hgetall", got)
	}
	// Past it, the same single round trip refreshes the idle expiry.
	e.clock.Add(2 * time.Minute)
	e.n.Reset()
	e.read(c)
	if got := e.n.Commands(); len(got) != 1 || got[0] == "hgetall" {
		t.Fatalf("a read with a refresh due sent %v, want the load script alone", got)
	}
	now := e.clock.Now()
	if got := e.seenField(key); !got.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("last seen %v, want %v", got, now)
	}
	if at := e.expireAt(key); !near(at, now.Add(idle)) {
		t.Fatalf("expires at %v, want %v", at, now.Add(idle))
	}

	// Idle for the whole window: a new session, by the Manager's clock.
	e.clock.Add(idle)
	if vals, _, id := e.read(c); len(vals) != 0 || id != "" {
		t.Fatalf("idle session still served: %v", vals)
	}

	// And by Redis' own clock: the key expires.
	if e.b.Mini != nil {
		e2 := newEnvOn(t, e.b, e.b.Client(), Options{IdleTimeout: idle, Lifetime: 10 * time.Hour})
		k2 := e2.m.key(e2.cookieID(e2.newSessionCookie("b", 2)))
		e.b.FastForward(idle - time.Minute)
		if !e2.exists(k2) {
			t.Fatal("key expired early")
		}
		e.b.FastForward(time.Minute)
		if e2.exists(k2) {
			t.Fatal("key outlived its idle expiry in Redis")
		}
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	const idle, life = time.Hour, 3 * time.Hour
	e := newEnv(t, Options{IdleTimeout: idle, Lifetime: life})
	created := e.clock.Now()
	deadline := created.Add(life)
	c := e.newSessionCookie("n", 0)
	key := e.m.key(e.cookieID(c))
	bump := func(w http.ResponseWriter, r *http.Request) { _, _ = FromContext(r.Context()).Incr("n", 1) }
	// Busy every 40 minutes: the idle timeout never strikes.
	for i := 1; e.clock.Now().Add(40 * time.Minute).Before(deadline); i++ {
		e.clock.Add(40 * time.Minute)
		if rec, nc := e.serve(bump, c); rec.Code != http.StatusOK || nc != nil {
			t.Fatalf("step %d: status %d, new cookie %v", i, rec.Code, nc)
		}
		want := e.clock.Now().Add(idle)
		if deadline.Before(want) {
			want = deadline // PEXPIREAT is capped at the absolute deadline
		}
		if at := e.expireAt(key); !near(at, want) {
			t.Fatalf("step %d: expires at %v, want %v", i, at, want)
		}
		if vals, _, _ := e.read(c); vals["n"] != strconv.Itoa(i) {
			t.Fatalf("step %d: n = %s", i, vals["n"])
		}
	}
	e.clock.Add(deadline.Sub(e.clock.Now()))
	if vals, _, id := e.read(c); len(vals) != 0 || id != "" {
		t.Fatalf("session served past its absolute lifetime: %v", vals)
	}
	// A write at the deadline does not extend it either: it starts anew.
	_, nc := e.serve(bump, c)
	if nc == nil || e.cookieID(nc) == e.cookieID(c) {
		t.Fatal("an expired ID was adopted")
	}
}

// TestPlainReadChecksDeadlines: a read that skips the load script (no
// refresh due) still ends a session at its absolute deadline.
func TestPlainReadChecksDeadlines(t *testing.T) {
	const idle, life = time.Hour, time.Hour
	e := newEnv(t, Options{IdleTimeout: idle, Lifetime: life})
	e.warm()
	c := e.newSessionCookie("n", 1)
	e.clock.Add(50 * time.Minute)
	if vals, _, _ := e.read(c); vals["n"] != "1" { // refreshes: m:seen = now
		t.Fatal("session lost")
	}
	e.clock.Add(10 * time.Minute) // the deadline, 10 min after the refresh
	e.n.Reset()
	if vals, _, id := e.read(c); len(vals) != 0 || id != "" {
		t.Fatalf("session served at its absolute deadline: %v", vals)
	}
	if got := e.n.Commands(); len(got) != 1 || got[0] != "hgetall" {
		t.Fatalf("read sent %v, want one hgetall", got)
	}
}

// TestWriteMovesIdleExpiryAsReadsDo: a save moves m:seen and the key's
// expiry only when a quarter of IdleTimeout has passed since the last
// refresh, as a read does; the values are written either way.
func TestWriteMovesIdleExpiryAsReadsDo(t *testing.T) {
	const idle = time.Hour
	e := newEnv(t, Options{IdleTimeout: idle, Lifetime: 10 * time.Hour})
	start := e.clock.Now()
	c := e.newSessionCookie("n", 1)
	key := e.m.key(e.cookieID(c))
	put := func(v int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("n", v) }
	}
	e.clock.Add(idle/4 - time.Minute)
	if rec, _ := e.serve(put(2), c); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if got := e.seenField(key); !got.Equal(start.Truncate(time.Millisecond)) {
		t.Fatalf("an early write moved last seen to %v", got)
	}
	if at := e.expireAt(key); !near(at, start.Add(idle)) {
		t.Fatalf("an early write moved the expiry to %v", at)
	}
	e.clock.Add(2 * time.Minute)
	if rec, _ := e.serve(put(3), c); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	now := e.clock.Now()
	if got := e.seenField(key); !got.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("last seen %v, want %v", got, now)
	}
	if at := e.expireAt(key); !near(at, now.Add(idle)) {
		t.Fatalf("expires at %v, want %v", at, now.Add(idle))
	}
	if vals, _, _ := e.read(c); vals["n"] != "3" {
		t.Fatalf("n = %s", vals["n"])
	}
}
