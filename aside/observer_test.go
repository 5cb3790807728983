package aside

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// recorder is an Observer that keeps what it is told, as short strings;
// invalidations are also sent on inval.
type recorder struct {
	mu      sync.Mutex
	events  []string
	calls   []string
	breaker []middleware.BreakerEvent
	inval   chan bool
}

func newRecorder() *recorder { return &recorder{inval: make(chan bool, 100)} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) observer() Observer {
	return Observer{
		OnGet: func(_ context.Context, e GetEvent) {
			s := "get " + e.Outcome.String()
			if e.Local {
				s += " local"
			}
			r.add(s)
		},
		OnFetch: func(_ context.Context, e FetchEvent) {
			switch {
			case e.Duration < 0:
				r.add("fetch with a negative duration")
			case e.Err == nil:
				r.add("fetch ok")
			case errors.Is(e.Err, ErrNotFound):
				r.add("fetch not-found")
			case errors.Is(e.Err, context.DeadlineExceeded):
				r.add("fetch timeout")
			default:
				r.add("fetch failed")
			}
		},
		OnRefresh: func(_ context.Context, e RefreshEvent) { r.add("refresh " + e.Outcome.String()) },
		OnInvalidation: func(e InvalidationEvent) {
			r.inval <- e.Resync
		},
		OnRedisCall: func(_ context.Context, c middleware.RedisCall) {
			s := c.Operation
			if c.Err != nil {
				s += " failed"
			}
			r.mu.Lock()
			r.calls = append(r.calls, s)
			r.mu.Unlock()
		},
		OnBreaker: func(e middleware.BreakerEvent) {
			r.mu.Lock()
			r.breaker = append(r.breaker, e)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) take() (events, calls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	events, calls = r.events, r.calls
	r.events, r.calls = nil, nil
	return events, calls
}

func (r *recorder) expect(t *testing.T, step string, events, calls []string) {
	t.Helper()
	gotEvents, gotCalls := r.take()
	if strings.Join(gotEvents, "|") != strings.Join(events, "|") ||
		calls != nil && strings.Join(gotCalls, "|") != strings.Join(calls, "|") {
		t.Fatalf("%s:\n events %q\n want   %q\n calls  %q\n want   %q", step, gotEvents, events, gotCalls, calls)
	}
}

// invalidation waits for the next invalidation r hears of.
func (r *recorder) invalidation(t *testing.T) (resync bool) {
	t.Helper()
	select {
	case resync = <-r.inval:
		return resync
	case <-time.After(10 * time.Second):
		t.Fatal("no invalidation")
	}
	return false
}

// TestObserver drives every answer GetOrSet can give, fetches, early
// refreshes and invalidations, and checks each was reported as what it
// was.
func TestObserver(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	rec := newRecorder()
	opts := Options{NotFoundTTL: time.Minute, EarlyRefresh: 0.5, Observer: rec.observer()}
	plain, _ := newTestCache(t, b.Client(), b, opts)
	opts.LocalSize, opts.LocalTTL = 100, time.Hour
	local, _ := newTestCache(t, b.Client(), b, opts)
	if !rec.invalidation(t) {
		t.Fatal("the first subscription was not reported as a resync")
	}
	item := func(context.Context) (testItem, error) { return testItem{ID: 1}, nil }
	missing := func(context.Context) (testItem, error) { return testItem{}, ErrNotFound }

	_, _ = GetOrSet(ctx, local, "item", time.Hour, item)
	rec.expect(t, "a miss", []string{"get miss", "fetch ok"}, []string{"get", "lock", "store"})
	_, _ = GetOrSet(ctx, local, "item", time.Hour, item)
	rec.expect(t, "a local hit", []string{"get hit local"}, []string{})
	_, _ = GetOrSet(ctx, plain, "item", time.Hour, item)
	rec.expect(t, "a Redis hit", []string{"get hit"}, []string{"get"})

	_, _ = GetOrSet(ctx, local, "gone", time.Hour, missing)
	rec.expect(t, "a miss of an item that does not exist", []string{"get miss", "fetch not-found"}, nil)
	_, _ = GetOrSet(ctx, local, "gone", time.Hour, missing)
	_, _ = GetOrSet(ctx, plain, "gone", time.Hour, missing)
	rec.expect(t, "negative hits", []string{"get negative local", "get negative"}, nil)

	if err := plain.Delete(ctx, "item"); err != nil {
		t.Fatal(err)
	}
	if rec.invalidation(t) {
		t.Fatal("a Delete elsewhere was reported as a resync")
	}
	rec.expect(t, "a Delete", nil, []string{"delete"})

	// Written with 10 minutes left of a 1 h ttl: a hit refreshes it.
	if err := Set(ctx, plain, "old", testItem{ID: 2}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	_, _ = GetOrSet(ctx, plain, "old", time.Hour, item)
	plain.bg.Wait()
	rec.expect(t, "an early refresh", []string{"get hit", "fetch ok", "refresh stored"}, []string{"set", "get", "refresh-lock", "store"})
	if err := Set(ctx, plain, "old", testItem{ID: 2}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().Set(ctx, plain.o.Prefix+"old:lock", "another instance", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, _ = GetOrSet(ctx, plain, "old", time.Hour, item)
	plain.bg.Wait()
	rec.expect(t, "an early refresh another instance makes", []string{"get hit", "refresh skipped"}, nil)

	fast, _ := newTestCache(t, b.Client(), b, Options{FetchTimeout: time.Millisecond, Observer: rec.observer()})
	_, err := GetOrSet(ctx, fast, "slow", time.Hour, func(ctx context.Context) (testItem, error) {
		<-ctx.Done()
		return testItem{}, fmt.Errorf("interrupted: %w", ctx.Err())
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow fetch: %v", err)
	}
	rec.expect(t, "a fetch past FetchTimeout", []string{"get miss", "fetch timeout"}, nil)
}

// TestObserverOutage: with Redis down, GetOrSet fetches directly and says
// so; failed calls carry their errors, and the breaker's changes come with
// the outage's length and the calls it refused.
func TestObserverOutage(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	ctx := context.Background()
	rec := newRecorder()
	clock := redistest.NewClock(time.Now())
	a, _ := newTestCache(t, b.ClientAt(p.Addr()), b, Options{Timeout: time.Minute, Observer: rec.observer(),
		OnError: func(context.Context, error) {}, Now: clock.Now})
	item := func(context.Context) (testItem, error) { return testItem{ID: 1}, nil }
	p.Down()
	for range 7 { // five failed reads open the breaker, which refuses two
		if _, err := GetOrSet(ctx, a, "k", time.Hour, item); err != nil {
			t.Fatal(err)
		}
	}
	events, calls := rec.take()
	if len(events) != 14 || len(calls) != 5 {
		t.Fatalf("events %q, calls %q", events, calls)
	}
	for i, e := range events {
		if want := []string{"get bypass", "fetch ok"}[i%2]; e != want {
			t.Fatalf("events %q", events)
		}
	}
	for _, c := range calls {
		if c != "get failed" {
			t.Fatalf("calls %q", calls)
		}
	}
	p.Up()
	var waited time.Duration
	for i := 0; i < 4; i++ { // the first probe may meet a connection the outage closed
		clock.Add(time.Second)
		waited += time.Second
		_, _ = GetOrSet(ctx, a, "k", time.Hour, item)
		if _, calls := rec.take(); len(calls) > 0 && calls[0] == "get" {
			break
		}
	}
	rec.mu.Lock()
	changes := rec.breaker
	rec.mu.Unlock()
	if len(changes) != 2 || changes[0] != (middleware.BreakerEvent{Kind: middleware.BreakerOpened}) ||
		changes[1].Kind != middleware.BreakerClosed || changes[1].Outage != waited || changes[1].Refused != 2 {
		t.Fatalf("breaker changes %v: want opened, then closed after %v with 2 refused", changes, waited)
	}
}
