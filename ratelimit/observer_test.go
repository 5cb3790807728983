package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/middleware"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	decisions []Decision
	calls     []middleware.RedisCall
	breaker   []middleware.BreakerEvent
}

func (r *recorder) observer() Observer {
	return Observer{
		OnDecision: func(_ context.Context, d Decision) {
			r.mu.Lock()
			r.decisions = append(r.decisions, d)
			r.mu.Unlock()
		},
		OnRedisCall: func(_ context.Context, c middleware.RedisCall) {
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		},
		OnBreaker: func(e middleware.BreakerEvent) {
			r.mu.Lock()
			r.breaker = append(r.breaker, e)
			r.mu.Unlock()
		},
	}
}

// take returns and forgets what r was told.
func (r *recorder) take() ([]Decision, []middleware.RedisCall, []middleware.BreakerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, c, b := r.decisions, r.calls, r.breaker
	r.decisions, r.calls, r.breaker = nil, nil, nil
	return d, c, b
}

// TestObserverDecisions: every decision is reported with the limit it
// counts under, its cost and who made it; each Redis call with its
// operation.
func TestObserverDecisions(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	l := e.limiter(t, Options{Observer: rec.observer()})
	// "daily" comes first, so allowed requests count under it; "api"
	// is the limit that denies.
	limits := []Limit{PerDay(100).Named("daily"), PerHour(2).Named("api")}
	h := l.Handler(middleware.KeyByIP, limits...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx := context.Background()

	for _, want := range []int{200, 200, 429, 429} { // the second 429 comes from the deny cache
		if w := serve(h, "198.51.100.4:1"); w.Code != want {
			t.Fatalf("status %d, want %d", w.Code, want)
		}
	}
	if _, err := l.AllowN(ctx, "k", 2, limits...); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AllowN(ctx, "k", 3, limits...); !errors.Is(err, ErrCostExceedsBurst) {
		t.Fatalf("cost 3: %v", err)
	}
	if _, err := l.AllowN(ctx, "k", -1, limits...); !errors.Is(err, ErrInvalidCost) {
		t.Fatalf("cost -1: %v", err)
	}

	got, calls, _ := rec.take()
	want := []Decision{
		{"daily", 1, true, FromRedis},
		{"daily", 1, true, FromRedis},
		{"api", 1, false, FromRedis},
		{"api", 1, false, FromCache},
		{"daily", 2, true, FromRedis},
		{"daily", 3, false, FromCost},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("decisions:\n got %v\nwant %v", got, want)
	}
	if len(calls) != 4 {
		t.Fatalf("%d Redis calls reported, want 4 (the cache and the cost decide alone): %v", len(calls), calls)
	}
	for _, c := range calls {
		if c.Operation != "decide" || c.Err != nil || c.Duration <= 0 {
			t.Fatalf("call %+v", c)
		}
	}
}

// TestObserverOutage: through an outage, decisions are reported as the
// failure policy made them, failed calls with their errors, and the
// breaker's changes with the outage's length and the requests it refused.
func TestObserverOutage(t *testing.T) {
	e := newEnv(t)
	p := e.b.NewProxy()
	var rec recorder
	l := e.limiterOn(t, e.b.ClientAt(p.Addr()), Options{Observer: rec.observer(), OnError: func(context.Context, error) {},
		Timeout: time.Second, Breaker: middleware.BreakerOptions{Threshold: 2, MinCooldown: time.Second, MaxCooldown: time.Second}})
	ctx := context.Background()
	lim := PerMinute(10).Named("api")
	if res, err := l.Allow(ctx, "k", lim); err != nil || !res.Allowed {
		t.Fatalf("before the outage: %v, %v", res, err)
	}

	p.Down()
	for range 5 { // two calls fail and open the breaker, which refuses three
		if res, err := l.Allow(ctx, "k", lim); !errors.Is(err, ErrUnavailable) || res.Source != FromFailOpen {
			t.Fatalf("outage: %v from %v", err, res.Source)
		}
	}
	got, calls, changes := rec.take()
	if len(got) != 6 || got[0] != (Decision{"api", 1, true, FromRedis}) {
		t.Fatalf("decisions %v", got)
	}
	for _, d := range got[1:] {
		if d != (Decision{"api", 1, true, FromFailOpen}) {
			t.Fatalf("outage decision %+v", d)
		}
	}
	if len(calls) != 3 || calls[0].Err != nil || calls[1].Err == nil || calls[2].Err == nil {
		t.Fatalf("calls %+v: want one answered, then two failed", calls)
	}
	if len(changes) != 1 || changes[0] != (middleware.BreakerEvent{Kind: middleware.BreakerOpened}) {
		t.Fatalf("breaker changes %v", changes)
	}

	p.Up()
	// The first probe may meet a connection the outage closed: allow a
	// few cool-downs (bounded, no sleeping).
	var waited time.Duration
	failed := 0 // probes
	for ; failed < 4; failed++ {
		e.advance(time.Second)
		waited += time.Second
		if _, err := l.Allow(ctx, "k", lim); err == nil {
			break
		}
	}
	_, _, changes = rec.take()
	want := middleware.BreakerEvent{Kind: middleware.BreakerClosed, Outage: waited, Refused: 3, FailedProbes: failed}
	if len(changes) != 1 || changes[0] != want {
		t.Fatalf("breaker changes %v: want it closed after %v with 3 refused and %d failed probes", changes, waited, failed)
	}
}
