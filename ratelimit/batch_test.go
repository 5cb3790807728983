package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/redistest"
)

// gate is a hook that holds the first script call until released, so a
// test can queue requests behind a call in flight without timing anything.
type gate struct {
	once    sync.Once
	entered chan struct{} // closed when the first script call is held
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") {
			first := false
			g.once.Do(func() { first = true })
			if first {
				close(g.entered)
				<-g.release
			}
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// queued returns how many requests wait behind the call in flight for ck.
func (l *Limiter) queued(ck string) int {
	l.flightMu.Lock()
	defer l.flightMu.Unlock()
	return len(l.flight[ck])
}

// TestCoalescing: requests for one key that arrive while a call for it is
// in flight go to Redis as one script call, decided in arrival order with
// their own costs, each getting its own answer; the whole costs two round
// trips.
func TestCoalescing(t *testing.T) {
	e := newEnv(t)
	c := e.b.Client()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	g := newGate()
	c.AddHook(g)
	n := redistest.Count(c)
	l := e.limiterOn(t, c, Options{CacheSize: -1})
	lim := PerHour(4)
	ps, err := l.policySetFor([]Limit{lim})
	if err != nil {
		t.Fatal(err)
	}
	ck := keys.Hash("hot") + ps.sig

	type answer struct {
		res Result
		err error
	}
	costs := []int{1, 2, 2, 1, 1, 0}
	want := []bool{true, true, false, true, false, true}
	remaining := []int{3, 1, 1, 0, 0, 0}
	answers := make([]chan answer, len(costs))
	for i, cost := range costs {
		answers[i] = make(chan answer, 1)
		go func() {
			res, err := l.AllowN(context.Background(), "hot", cost, lim)
			answers[i] <- answer{res, err}
		}()
		if i == 0 {
			<-g.entered // the first call is in flight
		} else {
			redistest.Eventually(t, "request queued", func() bool { return l.queued(ck) == i })
		}
	}
	close(g.release)
	for i, ch := range answers {
		a := <-ch
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
		if a.res.Allowed != want[i] || a.res.Source != FromRedis {
			t.Errorf("request %d (cost %d): allowed=%v from %v, want allowed=%v from redis", i, costs[i], a.res.Allowed, a.res.Source, want[i])
		}
		if got := a.res.Limits[0].Remaining; got != remaining[i] {
			t.Errorf("request %d (cost %d): remaining %d, want %d", i, costs[i], got, remaining[i])
		}
	}
	if n.N() != 2 {
		t.Errorf("%d round trips (%v), want 2: the first call and one batch", n.N(), n.Commands())
	}
	if l.queued(ck) != 0 {
		t.Error("queue not empty")
	}
	l.flightMu.Lock()
	_, busy := l.flight[ck]
	l.flightMu.Unlock()
	if busy {
		t.Error("key still marked in flight")
	}
	// Redis holds the sum of what was allowed: nothing is left.
	if res := mustAllow(t, l, "hot", 1, lim); res.Allowed {
		t.Error("a fifth unit was allowed")
	}
}

// TestCoalescingCancelled: a request whose context ends while it is
// queued leaves the queue and spends nothing; the others are decided.
func TestCoalescingCancelled(t *testing.T) {
	e := newEnv(t)
	c := e.b.Client()
	g := newGate()
	c.AddHook(g)
	l := e.limiterOn(t, c, Options{CacheSize: -1})
	lim := PerHour(2)
	ps, err := l.policySetFor([]Limit{lim})
	if err != nil {
		t.Fatal(err)
	}
	ck := keys.Hash("hot") + ps.sig

	first := make(chan error, 1)
	go func() {
		_, err := l.Allow(context.Background(), "hot", lim)
		first <- err
	}()
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := l.AllowN(ctx, "hot", 1, lim)
		gone <- err
	}()
	redistest.Eventually(t, "request queued", func() bool { return l.queued(ck) == 1 })
	third := make(chan Result, 1)
	go func() {
		res, _ := l.Allow(context.Background(), "hot", lim)
		third <- res
	}()
	redistest.Eventually(t, "request queued", func() bool { return l.queued(ck) == 2 })
	cancel()
	if err := <-gone; !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want ErrUnavailable wrapping context.Canceled", err)
	}
	if l.queued(ck) != 1 {
		t.Fatalf("%d queued after the cancel, want 1", l.queued(ck))
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if res := <-third; !res.Allowed || res.Limits[0].Remaining != 0 {
		t.Fatalf("third request: allowed=%v remaining=%v, want the second unit", res.Allowed, res.Limits)
	}
}
