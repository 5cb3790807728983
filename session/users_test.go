package session

import (
	"net/http"
	"testing"
	"time"
)

func (e *env) login(user string) *http.Cookie {
	e.t.Helper()
	_, c := e.serve(func(w http.ResponseWriter, r *http.Request) {
		if err := FromContext(r.Context()).Login(user); err != nil {
			e.t.Error(err)
		}
	}, nil)
	if c == nil {
		e.t.Fatal("Login set no cookie")
	}
	return c
}

func TestDestroyUser(t *testing.T) {
	e := newEnv(t, Options{})
	var mine []*http.Cookie
	for range 3 {
		mine = append(mine, e.login("erin"))
		e.clock.Add(time.Minute)
	}
	other := e.login("frank")

	list, err := e.m.Sessions(t.Context(), "erin")
	if err != nil || len(list) != 3 {
		t.Fatalf("Sessions = %v, %v", list, err)
	}
	if !list[0].LastSeen.After(list[2].LastSeen) || list[0].ID != e.cookieID(mine[2]) {
		t.Fatalf("not most recent first: %+v", list)
	}
	for _, in := range list {
		if in.Created.IsZero() || in.LastSeen.Before(in.Created) {
			t.Fatalf("times %+v", in)
		}
	}

	e.warm()
	n, err := e.m.DestroyUser(t.Context(), "erin")
	if err != nil || n != 3 {
		t.Fatalf("DestroyUser = %d, %v", n, err)
	}
	if e.n.N() != 2 {
		t.Fatalf("DestroyUser took %d round trips: %v", e.n.N(), e.n.Commands())
	}
	for i, c := range mine {
		if e.exists(e.m.key(e.cookieID(c))) {
			t.Fatalf("session %d survived", i)
		}
		if _, user, _ := e.read(c); user != "" {
			t.Fatalf("session %d still logged in", i)
		}
	}
	if _, user, _ := e.read(other); user != "frank" {
		t.Fatal("another user's session was destroyed")
	}
	if list, err := e.m.Sessions(t.Context(), "erin"); err != nil || len(list) != 0 {
		t.Fatalf("Sessions after DestroyUser = %v, %v", list, err)
	}
	if n, err := e.m.DestroyUser(t.Context(), "nobody"); err != nil || n != 0 {
		t.Fatalf("DestroyUser(nobody) = %d, %v", n, err)
	}
}

func TestSessionsPrunes(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: time.Hour, Lifetime: 10 * time.Hour})
	gone := e.login("gina")
	idle := e.login("gina")
	e.clock.Add(50 * time.Minute)
	live := e.login("gina")
	e.serve(func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Destroy() }, gone)
	e.clock.Add(20 * time.Minute) // idle is now past its idle timeout, live is not
	// The first call prunes (3 round trips), the second has nothing to (2).
	for i, want := range []int64{3, 2} {
		e.n.Reset()
		list, err := e.m.Sessions(t.Context(), "gina")
		if err != nil || len(list) != 1 || list[0].ID != e.cookieID(live) {
			t.Fatalf("call %d: Sessions = %+v, %v", i, list, err)
		}
		if e.n.N() != want {
			t.Fatalf("call %d: %d round trips %v, want %d", i, e.n.N(), e.n.Commands(), want)
		}
	}
	members := e.raw.SMembers(t.Context(), e.m.userKey("gina")).Val()
	if len(members) != 1 || members[0] != e.cookieID(live) {
		t.Fatalf("index holds %v after pruning gone %s and idle %s", members, e.cookieID(gone), e.cookieID(idle))
	}
}

func TestUserIndexKeyIsSafe(t *testing.T) {
	e := newEnv(t, Options{})
	for _, uid := range []string{"plain-id_1.x", "with space", "{tag}", "a:b*c", string(make([]byte, 300))} {
		k := e.m.userKey(uid)
		if len(k) > len(e.m.o.Prefix)+5+65 {
			t.Errorf("userKey(%q) is %d bytes", uid, len(k))
		}
	}
	c := e.login("we:ird {user}*")
	if list, err := e.m.Sessions(t.Context(), "we:ird {user}*"); err != nil || len(list) != 1 || list[0].ID != e.cookieID(c) {
		t.Fatalf("Sessions = %v, %v", list, err)
	}
}
