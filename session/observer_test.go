package session

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/redisware/redisware/middleware"
)

// recorder is an Observer that keeps what it is told, as short strings.
type recorder struct {
	mu     sync.Mutex
	events []string
	calls  []middleware.RedisCall
	states []middleware.BreakerEvent
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) observer() Observer {
	return Observer{
		OnLoad: func(_ context.Context, e LoadEvent) {
			if (e.Err != nil) != (e.Outcome == LoadFailed) {
				r.add(fmt.Sprintf("load %v with err %v", e.Outcome, e.Err))
				return
			}
			r.add("load " + e.Outcome.String())
		},
		OnSave: func(_ context.Context, e SaveEvent) {
			s := "save " + e.Outcome.String()
			for _, f := range []struct {
				on   bool
				name string
			}{{e.Created, "created"}, {e.Login, "login"}, {e.Destroyed, "destroyed"}} {
				if f.on {
					s += " " + f.name
				}
			}
			if (e.Err != nil) != (e.Outcome == SaveDropped || e.Outcome == SaveFailed) {
				s += fmt.Sprintf(" with err %v", e.Err)
			}
			r.add(s)
		},
		OnRedisCall: func(_ context.Context, c middleware.RedisCall) {
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		},
		OnBreaker: func(e middleware.BreakerEvent) {
			r.mu.Lock()
			r.states = append(r.states, e)
			r.mu.Unlock()
		},
	}
}

// take returns and forgets the events and the operations of the calls.
func (r *recorder) take() (events, ops []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		op := c.Operation
		if c.Err != nil {
			op += " failed"
		}
		ops = append(ops, op)
	}
	events = r.events
	r.events, r.calls = nil, nil
	return events, ops
}

func (r *recorder) expect(t *testing.T, step string, events, ops []string) {
	t.Helper()
	gotEvents, gotOps := r.take()
	if strings.Join(gotEvents, "|") != strings.Join(events, "|") || strings.Join(gotOps, "|") != strings.Join(ops, "|") {
		t.Fatalf("%s:\n events %q\n want   %q\n calls  %q\n want   %q", step, gotEvents, events, gotOps, ops)
	}
}

// TestObserver drives a session through its life and checks that every
// load, save and Redis call is reported as what it was.
func TestObserver(t *testing.T) {
	var rec recorder
	e := newEnv(t, Options{Observer: rec.observer()})
	e.warm()
	rec.take()
	put := func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Put("k", 1) }
	nothing := func(http.ResponseWriter, *http.Request) {}

	e.serve(nothing, nil)
	rec.expect(t, "no cookie, no change", []string{"load new"}, nil)

	_, c := e.serve(put, nil)
	rec.expect(t, "a new session", []string{"load new", "save stored created"}, []string{"save"})

	e.serve(nothing, c)
	rec.expect(t, "read only", []string{"load found"}, []string{"load"})

	e.serve(put, c)
	rec.expect(t, "an update", []string{"load found", "save stored"}, []string{"load", "save"})

	_, c2 := e.serve(func(w http.ResponseWriter, r *http.Request) { _ = FromContext(r.Context()).Login("ada") }, c)
	rec.expect(t, "a login", []string{"load found", "save stored created login"}, []string{"load", "save"})

	e.serve(nothing, c)
	rec.expect(t, "the ID before the login", []string{"load not-found"}, []string{"load"})

	e.serve(func(w http.ResponseWriter, r *http.Request) {
		// Another request destroys the session meanwhile.
		if err := e.raw.Del(r.Context(), e.m.key(e.cookieID(c2))).Err(); err != nil {
			t.Error(err)
		}
		_ = FromContext(r.Context()).Put("k", 2)
	}, c2)
	rec.expect(t, "a session gone meanwhile", []string{"load found", "save gone"}, []string{"load", "save"})

	_, c3 := e.serve(put, nil)
	rec.take()
	e.serve(func(w http.ResponseWriter, r *http.Request) { FromContext(r.Context()).Destroy() }, c3)
	rec.expect(t, "a logout", []string{"load found", "save stored destroyed"}, []string{"load", "save"})

	e.serve(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = FromContext(r.Context()).Put("late", 1)
	}, nil)
	rec.expect(t, "a new session after the header", []string{"load new", "save dropped"}, nil)

	if err := e.raw.Set(context.Background(), e.m.key(e.cookieID(c)), "foreign", 0).Err(); err != nil {
		t.Fatal(err)
	}
	e.serve(nothing, c)
	// The call itself failed, with a reply error (WRONGTYPE): the
	// session starts afresh.
	rec.expect(t, "foreign data", []string{"load corrupt"}, []string{"load failed"})
	_ = e.raw.Del(context.Background(), e.m.key(e.cookieID(c)))

	if _, err := e.m.Sessions(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.DestroyUser(context.Background(), "nobody"); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "administration", nil, []string{"list", "destroy-user"})
}

// TestObserverOutage: failed loads and saves are reported with their
// errors, and the breaker's opening after consecutive failures.
func TestObserverOutage(t *testing.T) {
	var rec recorder
	e, p := outage(t, Options{Observer: rec.observer()})
	c := e.newSessionCookie("a", 1)
	rec.take()

	e.serve(func(w http.ResponseWriter, r *http.Request) {
		p.Down() // between the load and the save
		_ = FromContext(r.Context()).Put("a", 2)
	}, c)
	rec.expect(t, "a save into an outage", []string{"load found", "save failed"}, []string{"load", "save failed"})

	for range 5 {
		e.serve(func(http.ResponseWriter, *http.Request) {}, c)
	}
	events, ops := rec.take()
	if len(events) != 5 || len(ops) != 4 { // the save and four loads failed: the breaker opened
		t.Fatalf("events %q, calls %q", events, ops)
	}
	for _, ev := range events {
		if ev != "load failed" {
			t.Fatalf("events %q", events)
		}
	}
	rec.mu.Lock()
	states := rec.states
	rec.mu.Unlock()
	if len(states) != 1 || states[0].Kind != middleware.BreakerOpened {
		t.Fatalf("breaker changes %v, want it opened", states)
	}
}
