package session

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/script"
)

func TestNewValidates(t *testing.T) {
	rdb := newEnv(t, Options{}).rdb
	short := make([]byte, 16)
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" means no error
	}{
		{"defaults", Options{Keys: testKeys}, ""},
		{"hash key only", Options{Keys: [][]byte{testHash}}, ""},
		{"rotation pairs", Options{Keys: [][]byte{testHash, testBlock, testHash, nil}}, ""},
		{"no keys", Options{}, "Keys is empty"},
		{"short hash key", Options{Keys: [][]byte{short}}, "at least 32"},
		{"bad block key", Options{Keys: [][]byte{testHash, make([]byte, 10)}}, "16, 24 or 32"},
		{"host prefix", Options{Keys: testKeys, CookieName: "__Host-s"}, ""},
		{"host prefix insecure", Options{Keys: testKeys, CookieName: "__Host-s", Insecure: true}, "__Host-"},
		{"host prefix domain", Options{Keys: testKeys, CookieName: "__Host-s", Domain: "example.com"}, "__Host-"},
		{"host prefix path", Options{Keys: testKeys, CookieName: "__Host-s", Path: "/app"}, "__Host-"},
		{"bad cookie name", Options{Keys: testKeys, CookieName: "a b"}, "cookie name"},
		{"bad path", Options{Keys: testKeys, Path: "/a;b"}, "cookie path"},
		{"bad domain", Options{Keys: testKeys, Domain: "exa mple.com"}, "cookie domain"},
		{"domain", Options{Keys: testKeys, Domain: "example.com"}, ""},
		{"lifetime below idle", Options{Keys: testKeys, IdleTimeout: time.Hour, Lifetime: time.Minute}, "shorter"},
		{"samesite none insecure", Options{Keys: testKeys, SameSite: http.SameSiteNoneMode, Insecure: true}, "SameSite=None"},
		{"unknown samesite", Options{Keys: testKeys, SameSite: 9}, "SameSite"},
		{"negative idle timeout", Options{Keys: testKeys, IdleTimeout: -time.Hour}, "IdleTimeout"},
		{"sub-millisecond idle timeout", Options{Keys: testKeys, IdleTimeout: time.Microsecond}, "IdleTimeout"},
		{"negative lifetime", Options{Keys: testKeys, Lifetime: -time.Hour}, "Lifetime"},
		{"negative timeout", Options{Keys: testKeys, Timeout: -time.Second}, "Timeout"},
		{"empty hash key", Options{Keys: [][]byte{nil}}, "at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(rdb, tt.o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, Options{Keys: testKeys}); err == nil {
		t.Fatal("New(nil client) succeeded")
	}
}

func TestCookieDefaults(t *testing.T) {
	e := newEnv(t, Options{})
	_, c := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("a", 1) }, nil)
	if c == nil {
		t.Fatal("no cookie")
	}
	if c.Name != "session" || c.Path != "/" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode ||
		c.MaxAge != int(DefaultLifetime/time.Second) || c.Domain != "" {
		t.Fatalf("cookie %+v", c)
	}
	if got := len(e.cookieID(c)); got != 43 {
		t.Fatalf("ID has %d characters, want 43 (256 bits, base64url)", got)
	}
}

func TestRoundTrips(t *testing.T) {
	e := newEnv(t, Options{})
	e.warm()
	valid := e.newSessionCookie("n", 1)
	other := newEnv(t, Options{Keys: [][]byte{[]byte(strings.Repeat("x", 32))}}).newSessionCookie("n", 1)
	other.Name = valid.Name
	readOnly := func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := Get[int](FromContext(r.Context()), "n"); err != nil {
			t.Error(err)
		}
	}
	write := func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("n", 2) }
	login := func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("u1") }
	tests := []struct {
		name    string
		cookie  *http.Cookie
		handler http.HandlerFunc
		max     int64
	}{
		{"no cookie, read only", nil, readOnly, 0},
		{"bad signature", other, readOnly, 0},
		{"garbage", &http.Cookie{Name: "session", Value: "garbage"}, readOnly, 0},
		{"valid cookie, read only", valid, readOnly, 1},
		{"valid cookie, changed", valid, write, 2},
		{"no cookie, changed", nil, write, 1},
		// Login: the load, then one pipeline (index, create, delete old).
		{"valid cookie, login", valid, login, 1 + 1},
		// Destroy: the load, then one DEL (with SREM when logged in).
		{"valid cookie, destroy", e.newSessionCookie("d", 1), func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Destroy() }, 1 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.n.Reset()
			rec, _ := e.serve(tt.handler, tt.cookie)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := e.n.N(); got != tt.max {
				t.Fatalf("round trips = %d, want %d: %v", got, tt.max, e.n.Commands())
			}
			t.Logf("%d round trips: %v", e.n.N(), e.n.Commands())
		})
	}
}

func TestTypedValues(t *testing.T) {
	e := newEnv(t, Options{})
	type cart struct {
		Items []string `json:"items"`
		Total float64  `json:"total"`
	}
	c := e.newSessionCookie("n", 42)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		_ = s.Put("cart", cart{Items: []string{"a", "b"}, Total: 2.5})
		_ = s.Put("flash", "saved")
		_ = s.Put("gone", true)
		s.Remove("gone")
	}, c)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if n, ok, err := Get[int](s, "n"); !ok || err != nil || n != 42 {
			t.Errorf("Get[int] = %v, %v, %v", n, ok, err)
		}
		if v, ok, err := Get[cart](s, "cart"); !ok || err != nil || len(v.Items) != 2 || v.Total != 2.5 {
			t.Errorf("Get[cart] = %+v, %v, %v", v, ok, err)
		}
		if _, ok, _ := Get[bool](s, "gone"); ok {
			t.Error("removed key still there")
		}
		if _, ok, err := Get[int](s, "cart"); !ok || err == nil {
			t.Errorf("Get[int] of an object: ok=%v err=%v, want a decode error", ok, err)
		}
		if v, ok, err := Pop[string](s, "flash"); !ok || err != nil || v != "saved" {
			t.Errorf("Pop = %q, %v, %v", v, ok, err)
		}
		if _, err := s.Incr("cart", 1); err == nil {
			t.Error("Incr of an object succeeded")
		}
		if err := s.Put("bad", make(chan int)); err == nil {
			t.Error("Put of a channel succeeded")
		}
	}, c)
	vals, _, _ := e.read(c)
	if _, ok := vals["flash"]; ok {
		t.Error("popped key survived")
	}
	if got := strings.Join(keysOf(vals), ","); got != "cart,n" {
		t.Errorf("keys after pop = %s", got)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Clear() }, c)
	if vals, _, id := e.read(c); len(vals) != 0 || id == "" {
		t.Errorf("after Clear: %v, id %q (the session itself must stay)", vals, id)
	}
}

func keysOf(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func TestMetaFieldsCannotCollide(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("m:created", "user data")
	e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("m:user", "mallory") }, c)
	vals, user, _ := e.read(c)
	if user != "" || vals["m:created"] != `"user data"` || vals["m:user"] != `"mallory"` {
		t.Fatalf("values %v user %q", vals, user)
	}
}

func TestConcurrentWritersToDifferentKeys(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("start", 0)
	b := newBarrier(2) // both requests load the session before either saves
	var done sync.WaitGroup
	for _, k := range []string{"a", "b"} {
		done.Add(1)
		go func() {
			defer done.Done()
			if rec := b.serve(e, func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put(k, k) }, c); rec.Code != http.StatusOK {
				t.Errorf("writer %s: status %d", k, rec.Code)
			}
		}()
	}
	done.Wait()
	vals, _, _ := e.read(c)
	if vals["a"] != `"a"` || vals["b"] != `"b"` || vals["start"] != "0" {
		t.Fatalf("a lost update: %v", vals)
	}
}

// TestConcurrentIncr holds 500 requests of one session after their load
// until all have loaded, so every save starts from the same stale view: a
// save that wrote the value it computed instead of adding in Redis would
// leave 1, not 500.
func TestConcurrentIncr(t *testing.T) {
	// 500 loads at once queue for the client's pool: a generous timeout
	// keeps a slow machine from failing them.
	e := newEnv(t, Options{Timeout: 30 * time.Second})
	e.warm()
	c := e.newSessionCookie("other", "x")
	const n = 500
	b := newBarrier(n)
	var done sync.WaitGroup
	var failed sync.Map
	e.n.Reset()
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			rec := b.serve(e, func(w http.ResponseWriter, r *http.Request) {
				if _, err := FromContext(r.Context()).Incr("hits", 1); err != nil {
					failed.Store(err.Error(), true)
				}
			}, c)
			if rec.Code != http.StatusOK {
				failed.Store(fmt.Sprint("status ", rec.Code), true)
			}
		}()
	}
	done.Wait()
	failed.Range(func(k, _ any) bool { t.Error(k); return true })
	// Commands, not round trips: the autopipeliner gathers concurrent
	// requests' commands into fewer round trips.
	if got := e.n.Sent(); got != 2*n {
		t.Errorf("%d requests sent %d commands, want a load and a save each", n, got)
	}
	vals, _, _ := e.read(c)
	if vals["hits"] != fmt.Sprint(n) {
		t.Fatalf("hits = %s after %d concurrent increments", vals["hits"], n)
	}
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		if v, ok, err := Get[int](FromContext(r.Context()), "hits"); !ok || err != nil || v != n {
			t.Errorf("Get[int] = %d, %v, %v", v, ok, err)
		}
	}, c)
}

func TestNoResurrectionAfterDestroy(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("a", 1)
	key := e.m.key(e.cookieID(c))
	loaded, destroyed := make(chan struct{}), make(chan struct{})
	res := make(chan *http.Cookie, 1)
	go func() {
		_, ck := e.serve(func(w http.ResponseWriter, r *http.Request) {
			close(loaded)
			<-destroyed
			_ = FromContext(r.Context()).Put("late", "write")
		}, c)
		res <- ck
	}()
	select {
	case <-loaded:
	case <-res:
		t.Fatal("the slow request never reached its handler")
	}
	rec, gone := e.serve(func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Destroy() }, c)
	close(destroyed)
	late := <-res
	if rec.Code != http.StatusOK || gone == nil || gone.MaxAge >= 0 {
		t.Fatalf("Destroy: status %d, cookie %+v; want an expired cookie", rec.Code, gone)
	}
	if e.exists(key) {
		t.Fatal("the destroyed session was resurrected by a late write")
	}
	if late != nil {
		t.Fatalf("the late request set a cookie %+v", late)
	}
	if vals, _, id := e.read(c); len(vals) != 0 || id != "" {
		t.Fatalf("old cookie still reads %v (id %q)", vals, id)
	}
}

func TestLoginRenewsID(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("cart", "x")
	oldKey := e.m.key(e.cookieID(c))
	var before string
	_, nc := e.serve(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		before = s.ID()
		if err := s.Login("alice"); err != nil {
			t.Error(err)
		}
		if err := s.Login(""); !errors.Is(err, ErrUserID) {
			t.Errorf("Login(\"\") = %v", err)
		}
	}, c)
	if nc == nil {
		t.Fatal("Login set no cookie")
	}
	newID := e.cookieID(nc)
	if newID == before || e.m.key(newID) == oldKey {
		t.Fatal("Login kept the ID")
	}
	if e.exists(oldKey) {
		t.Fatal("the old session key survived Login")
	}
	vals, user, _ := e.read(nc)
	if user != "alice" || vals["cart"] != `"x"` {
		t.Fatalf("after Login: user %q values %v", user, vals)
	}
	if vals, _, id := e.read(c); id != "" || len(vals) != 0 {
		t.Fatalf("the pre-login cookie still works: %v", vals)
	}
	members, err := e.raw.SMembers(t.Context(), e.m.userKey("alice")).Result()
	if err != nil || len(members) != 1 || members[0] != newID {
		t.Fatalf("user index %v, %v; want [%s]", members, err, newID)
	}
	if ttl := e.raw.PTTL(t.Context(), e.m.userKey("alice")).Val(); ttl <= 0 || ttl > DefaultLifetime {
		t.Fatalf("user index PTTL %v", ttl)
	}
	// Logging in as someone else moves the session between indexes.
	_, nc2 := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("bob") }, nc)
	if n := e.raw.SCard(t.Context(), e.m.userKey("alice")).Val(); n != 0 {
		t.Fatalf("alice's index still holds %d IDs", n)
	}
	if _, user, _ := e.read(nc2); user != "bob" {
		t.Fatalf("user %q", user)
	}
}

// TestConcurrentRequestKeepsLoginCookie: a request that loaded the session
// before a concurrent Login renewed its ID, and saves after, must neither
// write to the old ID nor expire the cookie, which the browser now holds
// for the new ID.
func TestConcurrentRequestKeepsLoginCookie(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("a", 1)
	loaded, renewed := make(chan struct{}), make(chan struct{})
	res := make(chan *http.Cookie, 1)
	go func() {
		_, ck := e.serve(func(w http.ResponseWriter, r *http.Request) {
			close(loaded)
			<-renewed
			_ = FromContext(r.Context()).Put("slow", "write")
		}, c)
		res <- ck
	}()
	select {
	case <-loaded:
	case <-res:
		t.Fatal("the slow request never reached its handler")
	}
	_, nc := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("ann") }, c)
	close(renewed)
	if late := <-res; late != nil {
		t.Fatalf("the slow request set cookie %+v, which would replace the Login's", late)
	}
	if nc == nil {
		t.Fatal("Login set no cookie")
	}
	if e.exists(e.m.key(e.cookieID(c))) {
		t.Fatal("the slow request resurrected the pre-login ID")
	}
	if vals, user, _ := e.read(nc); user != "ann" || vals["a"] != "1" {
		t.Fatalf("after Login: user %q values %v", user, vals)
	}
}

// TestLoginPartialFailure: when one command of Login's pipeline fails
// (here the user's index holds foreign data, as a down cluster node would
// fail it), the request gets the ErrorHandler's answer and no cookie, and
// every key the other commands left behind expires.
func TestLoginPartialFailure(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: time.Hour, Lifetime: 2 * time.Hour})
	c := e.newSessionCookie("a", 1)
	foreign := e.m.userKey("zoe")
	if err := e.raw.Set(t.Context(), foreign, "not a set", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	rec, nc := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("zoe") }, c)
	if rec.Code != http.StatusServiceUnavailable || nc != nil {
		t.Fatalf("status %d, cookie %v; want 503 and no cookie", rec.Code, nc)
	}
	// On one server the pipeline runs in order: the index fails, the new
	// session is written (nobody holds its cookie) and the old one deleted.
	var left []string
	iter := e.raw.Scan(t.Context(), 0, e.m.o.Prefix+"*", 100).Iterator()
	for iter.Next(t.Context()) {
		if k := iter.Val(); k != foreign {
			left = append(left, k)
			if ttl := e.raw.PTTL(t.Context(), k).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("%s left with PTTL %v, want at most the idle timeout", k, ttl)
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] == e.m.key(e.cookieID(c)) {
		t.Fatalf("left behind %v; want only the unreachable new session", left)
	}
	if vals, user, id := e.read(c); user != "" || id != "" || len(vals) != 0 {
		t.Fatalf("old cookie reads user %q values %v", user, vals)
	}
}

func TestLoginOnNewSession(t *testing.T) {
	e := newEnv(t, Options{})
	_, c := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("carol") }, nil)
	if c == nil {
		t.Fatal("no cookie")
	}
	if _, user, _ := e.read(c); user != "carol" {
		t.Fatalf("user %q", user)
	}
}

func TestUserKey(t *testing.T) {
	e := newEnv(t, Options{})
	key := UserKey(e.m)
	_, c := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if _, err := key(r); !errors.Is(err, ErrNotLoggedIn) {
			t.Errorf("anonymous: %v", err)
		}
		_ = FromContext(r.Context()).Login("dave")
	}, nil)
	e.serve(func(w http.ResponseWriter, r *http.Request) {
		if k, err := key(r); err != nil || k != "dave" {
			t.Errorf("UserKey = %q, %v", k, err)
		}
	}, c)
	if _, err := key(httptestRequest()); err == nil {
		t.Error("UserKey outside the middleware succeeded")
	}
}

func TestRetriedSaveAppliesOnce(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.newSessionCookie("n", 1)
	id := e.cookieID(c)
	s := newSession(e.m)
	s.id, s.key, s.stored = id, e.m.key(id), true
	s.values["n"] = "1"
	if _, err := s.Incr("n", 5); err != nil {
		t.Fatal(err)
	}
	_ = s.Put("k", "v")
	o, _ := e.m.saveOp(s.key, e.clock.Now(), s, false, nil)
	for i := range 2 { // a resend after a lost reply carries the same arguments
		ops := []script.Op{o}
		if err := e.m.exec(t.Context(), ops); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if res, _ := ops[0].Cmd.(interface{ Slice() ([]any, error) }).Slice(); len(res) == 0 || res[0] != int64(saveOK) {
			t.Fatalf("attempt %d: reply %v", i, res)
		}
	}
	if vals, _, _ := e.read(c); vals["n"] != "6" || vals["k"] != `"v"` {
		t.Fatalf("after a resent save: %v", vals)
	}
	// A create resent after its reply was lost is not "ID taken" either.
	fresh := newSession(e.m)
	fresh.values["a"] = "1"
	newKey := newID()
	o, _ = e.m.saveOp(e.m.key(newKey), e.clock.Now(), fresh, true, nil)
	for i := range 2 {
		ops := []script.Op{o}
		if err := e.m.exec(t.Context(), ops); err != nil {
			t.Fatal(err)
		}
		if res, _ := ops[0].Cmd.(interface{ Slice() ([]any, error) }).Slice(); len(res) == 0 || res[0] != int64(saveOK) {
			t.Fatalf("create attempt %d: reply %v", i, res)
		}
	}
}

func TestHostPrefixCookie(t *testing.T) {
	e := newEnv(t, Options{CookieName: "__Host-sid", SameSite: http.SameSiteStrictMode, BrowserSession: true})
	_, c := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("a", 1) }, nil)
	if c == nil || !c.Secure || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 0 {
		t.Fatalf("cookie %+v", c)
	}
	if vals, _, _ := e.read(c); vals["a"] != "1" {
		t.Fatalf("values %v", vals)
	}
}

// TestLoginWithColdScriptCache covers the fallback for scripts missing
// from the server's cache: a Login on a server that lost the scripts costs
// one extra round trip, not one per script. It flushes the script cache, so it runs only on
// the test's own miniredis, never on a shared server.
func TestLoginWithColdScriptCache(t *testing.T) {
	e := newEnv(t, Options{})
	if e.b.Mini == nil {
		t.Skip("flushing the script cache of a shared server would disturb other tests")
	}
	c := e.newSessionCookie("a", 1)
	if err := e.raw.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := loadScript.Load(t.Context(), e.raw).Err(); err != nil {
		t.Fatal(err)
	}
	e.n.Reset()
	_, nc := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("cold") }, c)
	if nc == nil || e.n.N() != 1+2 {
		t.Fatalf("cookie %v, %d round trips %v; want the load and 2", nc, e.n.N(), e.n.Commands())
	}
	if _, user, _ := e.read(nc); user != "cold" {
		t.Fatalf("user %q", user)
	}
}
