package cachehandler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

type asideItem struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// asideLogBuffer is a concurrency-safe log sink tests can inspect.
type asideLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *asideLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *asideLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// asideNew returns an Aside for the test with its keys under b.Prefix and
// the log it writes.
func asideNew(t testing.TB, rdb redis.UniversalClient, b *redistest.Backend, o AsideOptions) (*Aside, *asideLogBuffer) {
	t.Helper()
	logs := &asideLogBuffer{}
	o.Prefix = b.Prefix + o.Prefix
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := NewAside(rdb, o)
	t.Cleanup(func() { _ = a.Close() })
	if a.local != nil {
		// The confirmation purges the local tier: let it happen before
		// the test fills the tier.
		select {
		case <-a.ready:
		case <-time.After(5 * time.Second):
			t.Fatal("invalidation subscription not confirmed")
		}
	}
	return a, logs
}

// asideFetcher counts calls and returns item (or err).
type asideFetcher struct {
	n    atomic.Int64
	item asideItem
	err  error
}

func (f *asideFetcher) fetch(context.Context) (asideItem, error) {
	f.n.Add(1)
	return f.item, f.err
}

func TestAsideHitMissCorrupt(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	a, logs := asideNew(t, rdb, b, AsideOptions{})
	f := &asideFetcher{item: asideItem{ID: 42, Name: "lamp"}}

	tests := []struct {
		name      string
		before    func()
		wantFetch int64
	}{
		{"miss fetches", nil, 1},
		{"hit does not", nil, 1},
		{"corrupt value refetches", func() {
			if err := rdb.Set(ctx, b.Prefix+"item:42", "{not json", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"then hits again", nil, 2},
		{"wrong shape refetches", func() {
			if err := rdb.Set(ctx, b.Prefix+"item:42", `["a list"]`, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			got, err := GetOrSet(ctx, a, "item:42", time.Hour, f.fetch)
			if err != nil || got != f.item {
				t.Fatalf("got %+v, %v", got, err)
			}
			if n := f.n.Load(); n != tt.wantFetch {
				t.Fatalf("fetch ran %d times, want %d", n, tt.wantFetch)
			}
		})
	}
	if !strings.Contains(logs.String(), "does not decode") {
		t.Fatalf("corrupt value not logged:\n%s", logs)
	}
	// Stored as plain JSON, with an expiry, and the lock is gone.
	if v, err := rdb.Get(ctx, b.Prefix+"item:42").Result(); err != nil || v != `{"id":42,"name":"lamp"}` {
		t.Fatalf("stored %q, %v", v, err)
	}
	if ttl := rdb.PTTL(ctx, b.Prefix+"item:42").Val(); ttl <= 0 {
		t.Fatalf("PTTL %v: every key needs an expiry", ttl)
	}
	if n := rdb.Exists(ctx, b.Prefix+"item:42:lock").Val(); n != 0 {
		t.Fatal("lock key left behind")
	}
}

func TestAsideValidation(t *testing.T) {
	b := redistest.Start(t)
	a, _ := asideNew(t, b.Client(), b, AsideOptions{})
	ctx := context.Background()
	f := &asideFetcher{}
	tests := []struct {
		name string
		call func() error
	}{
		{"zero ttl", func() error { _, err := GetOrSet(ctx, a, "k", 0, f.fetch); return err }},
		{"negative ttl", func() error { _, err := GetOrSet(ctx, a, "k", -time.Second, f.fetch); return err }},
		{"empty key", func() error { _, err := GetOrSet(ctx, a, "", time.Second, f.fetch); return err }},
		{"nil fetch", func() error { _, err := GetOrSet[int](ctx, a, "k", time.Second, nil); return err }},
		{"Set zero ttl", func() error { return Set(ctx, a, "k", 1, 0) }},
		{"Set unencodable", func() error { return Set(ctx, a, "k", func() {}, time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if f.n.Load() != 0 {
		t.Fatal("fetch ran for an invalid call")
	}
	panics := []struct {
		name string
		o    AsideOptions
	}{
		{"jitter 1", AsideOptions{Jitter: 1}},
		{"early refresh 1", AsideOptions{EarlyRefresh: 1}},
		{"negative early refresh", AsideOptions{EarlyRefresh: -0.1}},
		{"negative duration", AsideOptions{LockWait: -1}},
		{"negative size", AsideOptions{LocalSize: -1}},
	}
	for _, tt := range panics {
		t.Run("panics/"+tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			NewAside(b.Client(), tt.o)
		})
	}
}

func TestAsideJitterBounds(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	const ttl = 1000 * time.Second
	tests := []struct {
		name   string
		jitter float64
		lo, hi time.Duration
	}{
		{"default ±10%", 0, 900 * time.Second, 1100 * time.Second},
		{"±30%", 0.3, 700 * time.Second, 1300 * time.Second},
		{"none", -1, ttl, ttl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := asideNew(t, rdb, b, AsideOptions{Prefix: fmt.Sprintf("j%v:", tt.jitter), Jitter: tt.jitter})
			seen := map[time.Duration]bool{}
			for i := range 50 {
				key := fmt.Sprint("k", i)
				if _, err := GetOrSet(ctx, a, key, ttl, func(context.Context) (int, error) { return i, nil }); err != nil {
					t.Fatal(err)
				}
				pttl := rdb.PTTL(ctx, a.o.Prefix+key).Val()
				// PTTL has already ticked a little since the SET.
				if pttl > tt.hi || pttl < tt.lo-time.Second {
					t.Fatalf("PTTL %v outside [%v, %v]", pttl, tt.lo, tt.hi)
				}
				seen[pttl.Round(time.Second)] = true
				if d := a.jitter(ttl); d < tt.lo || d > tt.hi {
					t.Fatalf("jitter(%v) = %v outside [%v, %v]", ttl, d, tt.lo, tt.hi)
				}
			}
			if spread := len(seen) > 1; spread != (tt.lo != tt.hi) {
				t.Fatalf("%d distinct expiries over 50 keys", len(seen))
			}
		})
	}
}

func TestAsideStampedeAcrossInstances(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	// Two instances: separate clients, separate singleflight groups.
	a1, _ := asideNew(t, b.Client(), b, AsideOptions{})
	a2, _ := asideNew(t, b.Client(), b, AsideOptions{})
	// The fetch does not finish before the other instance is waiting on
	// the lock, so the cross-instance path is what is tested.
	otherWaiting := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(otherWaiting) }) }
	a1.waiting, a2.waiting = signal, signal

	var fetches atomic.Int64
	fetch := func(context.Context) (asideItem, error) {
		fetches.Add(1)
		select {
		case <-otherWaiting:
		case <-time.After(10 * time.Second):
		}
		return asideItem{ID: 1, Name: "hot"}, nil
	}
	const n = 200
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		a := a1
		if i%2 == 1 {
			a = a2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := GetOrSet(ctx, a, "hot", time.Hour, fetch)
			if err == nil && got.Name != "hot" {
				err = fmt.Errorf("got %+v", got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 1 {
		t.Fatalf("fetch ran %d times for %d concurrent calls on 2 instances, want 1", got, n)
	}
	select {
	case <-otherWaiting:
	default:
		t.Fatal("no instance waited on the other's lock")
	}
	t.Logf("lock polls: instance 1: %d, instance 2: %d", a1.polls.Load(), a2.polls.Load())
}

func TestAsideFetchErrorsAndNegativeCache(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	errDB := errors.New("db down")
	tests := []struct {
		name        string
		notFoundTTL time.Duration
		err         error
		wantIs      error
		wantFetches int64 // after two calls
		wantCached  bool
	}{
		{"error is returned, not cached", 0, errDB, errDB, 2, false},
		{"not found without negative cache", 0, fmt.Errorf("item 7: %w", ErrNotFound), ErrNotFound, 2, false},
		{"not found with negative cache", time.Minute, fmt.Errorf("item 7: %w", ErrNotFound), ErrNotFound, 1, true},
		{"other errors with negative cache", time.Minute, errDB, errDB, 2, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := asideNew(t, rdb, b, AsideOptions{Prefix: fmt.Sprint(i, ":"), NotFoundTTL: tt.notFoundTTL})
			f := &asideFetcher{err: tt.err}
			for range 2 {
				if _, err := GetOrSet(ctx, a, "item:7", time.Hour, f.fetch); !errors.Is(err, tt.wantIs) {
					t.Fatalf("err %v, want %v", err, tt.wantIs)
				}
			}
			if n := f.n.Load(); n != tt.wantFetches {
				t.Fatalf("fetch ran %d times, want %d", n, tt.wantFetches)
			}
			key := a.o.Prefix + "item:7"
			if cached := rdb.Exists(ctx, key).Val() == 1; cached != tt.wantCached {
				t.Fatalf("cached = %v", cached)
			}
			if tt.wantCached {
				if pttl := rdb.PTTL(ctx, key).Val(); pttl <= 0 || pttl > 66*time.Second {
					t.Fatalf("negative entry PTTL %v, want about NotFoundTTL", pttl)
				}
			}
			if rdb.Exists(ctx, key+":lock").Val() != 0 {
				t.Fatal("lock left behind after a failed fetch")
			}
		})
	}
}

func TestAsideEarlyRefresh(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	a, _ := asideNew(t, rdb, b, AsideOptions{EarlyRefresh: 0.5})
	// Written with 10 minutes left: less than half of the 1 h ttl.
	if err := Set(ctx, a, "k", "old", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	fetch := func(context.Context) (string, error) {
		if fetches.Add(1) == 1 {
			close(started)
		}
		<-release // the refresh is slow: callers must not wait for it
		return "new", nil
	}
	got, err := GetOrSet(ctx, a, "k", time.Hour, fetch)
	if err != nil || got != "old" {
		t.Fatalf("got %q, %v; want the cached value served during the refresh", got, err)
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no background refresh")
	}
	// While it runs, more hits start no second refresh in this process.
	for range 5 {
		if got, err := GetOrSet(ctx, a, "k", time.Hour, fetch); err != nil || got != "old" {
			t.Fatalf("during the refresh: %q, %v", got, err)
		}
	}
	close(release)
	a.bg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("refresh fetched %d times, want 1", n)
	}
	if got, err := GetOrSet(ctx, a, "k", time.Hour, fetch); err != nil || got != "new" {
		t.Fatalf("after refresh: %q, %v", got, err)
	}
	if pttl := rdb.PTTL(ctx, a.o.Prefix+"k").Val(); pttl < 50*time.Minute {
		t.Fatalf("refreshed PTTL %v, want about 1 h", pttl)
	}
	// A fresh value is not refreshed.
	a.bg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("a fresh value was refreshed (%d fetches)", n)
	}
	if rdb.Exists(ctx, a.o.Prefix+"k:lock").Val() != 0 {
		t.Fatal("refresh lock left behind")
	}
}

func TestAsideLocalTierInvalidation(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	c1, c2 := b.Client(), b.Client()
	a1, _ := asideNew(t, c1, b, AsideOptions{LocalSize: 100, LocalTTL: time.Hour})
	a2, _ := asideNew(t, c2, b, AsideOptions{LocalSize: 100, LocalTTL: time.Hour})
	k2 := redistest.Count(c2)
	f := &asideFetcher{item: asideItem{ID: 1, Name: "v1"}}
	for _, a := range []*Aside{a1, a2} {
		if got, err := GetOrSet(ctx, a, "item", time.Hour, f.fetch); err != nil || got.Name != "v1" {
			t.Fatalf("got %+v, %v", got, err)
		}
	}
	k2.Reset()
	if got, _ := GetOrSet(ctx, a2, "item", time.Hour, f.fetch); got.Name != "v1" || k2.N() != 0 {
		t.Fatalf("warm local tier: %+v with %d round trips, want 0", got, k2.N())
	}

	t.Run("Delete evicts everywhere", func(t *testing.T) {
		if err := a1.Delete(ctx, "item"); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 2", func() bool { _, ok := a2.local.get(a2.o.Prefix + "item"); return !ok })
		f.item.Name = "v2"
		if got, _ := GetOrSet(ctx, a2, "item", time.Hour, f.fetch); got.Name != "v2" {
			t.Fatalf("instance 2 served %+v after Delete on instance 1", got)
		}
	})
	t.Run("Set evicts everywhere", func(t *testing.T) {
		if got, _ := GetOrSet(ctx, a1, "item", time.Hour, f.fetch); got.Name != "v2" {
			t.Fatalf("instance 1: %+v", got)
		}
		if err := Set(ctx, a2, "item", asideItem{ID: 1, Name: "v3"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 1", func() bool { _, ok := a1.local.get(a1.o.Prefix + "item"); return !ok })
		for i, a := range []*Aside{a1, a2} {
			if got, _ := GetOrSet(ctx, a, "item", time.Hour, f.fetch); got.Name != "v3" {
				t.Fatalf("instance %d: %+v after Set", i+1, got)
			}
		}
	})
	if n := f.n.Load(); n != 2 {
		t.Fatalf("fetch ran %d times, want 2", n)
	}
}

func TestAsideLocalTierBounds(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	a, _ := asideNew(t, b.Client(), b, AsideOptions{LocalSize: 3, LocalTTL: time.Minute})
	clock := redistest.NewClock(time.Unix(1e9, 0))
	a.local.now = clock.Now
	for i := range 5 {
		if _, err := GetOrSet(ctx, a, fmt.Sprint(i), time.Hour, func(context.Context) (int, error) { return i, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.local.len(); n != 3 {
		t.Fatalf("local tier holds %d entries, want 3", n)
	}
	if _, ok := a.local.get(a.o.Prefix + "0"); ok {
		t.Fatal("least recently used entry not evicted")
	}
	if _, ok := a.local.get(a.o.Prefix + "4"); !ok {
		t.Fatal("newest entry missing")
	}
	clock.Add(time.Minute)
	if _, ok := a.local.get(a.o.Prefix + "4"); ok {
		t.Fatal("entry outlived LocalTTL")
	}
}

func TestAsideRoundTrips(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name string
		o    AsideOptions
		want int64
	}{
		{"Redis hit", AsideOptions{}, 1},
		{"Redis hit with early refresh", AsideOptions{EarlyRefresh: 0.1}, 1},
		{"warm local tier", AsideOptions{LocalSize: 10}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := b.Client()
			tt.o.Prefix = fmt.Sprint(i, ":")
			a, _ := asideNew(t, rdb, b, tt.o)
			k := redistest.Count(rdb)
			f := &asideFetcher{item: asideItem{ID: 1}}
			for range 2 { // fill, then warm the local tier if any
				if _, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil {
					t.Fatal(err)
				}
			}
			k.Reset()
			if _, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil {
				t.Fatal(err)
			}
			if k.N() != tt.want {
				t.Fatalf("hit: %d round trips %v, want %d", k.N(), k.Commands(), tt.want)
			}
		})
	}
	t.Run("miss and Delete", func(t *testing.T) {
		rdb := b.Client()
		a, _ := asideNew(t, rdb, b, AsideOptions{Prefix: "miss:"})
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		k := redistest.Count(rdb)
		f := &asideFetcher{item: asideItem{ID: 1}}
		if _, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil {
			t.Fatal(err)
		}
		// GET; SET NX lock + GET; SET value + unlock.
		if k.N() != 3 {
			t.Fatalf("miss: %d round trips %v, want 3", k.N(), k.Commands())
		}
		k.Reset()
		if err := a.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if k.N() != 1 {
			t.Fatalf("Delete: %d round trips %v, want 1", k.N(), k.Commands())
		}
	})
}

func TestAsideRedisDown(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	ctx := context.Background()
	a, logs := asideNew(t, rdb, b, AsideOptions{Timeout: 100 * time.Millisecond, LocalSize: 10})
	var skew atomic.Int64 // moves the breaker's clock past its cool-down
	a.guard.Breaker.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	f := &asideFetcher{item: asideItem{ID: 5, Name: "x"}}
	if _, err := GetOrSet(ctx, a, "cached", time.Hour, f.fetch); err != nil {
		t.Fatal(err)
	}
	a.local.purge() // so the outage path is taken, not the local tier
	p.Down()
	for i, key := range []string{"cached", "new", "new", "new", "new", "new", "new"} {
		got, err := GetOrSet(ctx, a, key, time.Hour, f.fetch)
		if err != nil || got != f.item {
			t.Fatalf("call %d (%s) with Redis down: %+v, %v", i, key, got, err)
		}
	}
	if n := f.n.Load(); n != 8 {
		t.Fatalf("fetch ran %d times, want once per call with Redis down (8)", n)
	}
	if !strings.Contains(logs.String(), "redis failed") {
		t.Fatalf("outage not logged:\n%s", logs)
	}
	if !a.guard.Breaker.Open() {
		t.Fatal("breaker still closed after repeated failures")
	}
	if err := a.Delete(ctx, "cached"); err == nil {
		t.Fatal("Delete with Redis down: no error")
	}

	// Back up: once the cool-down has passed, a probe closes the breaker
	// and the value stored before the outage is served again.
	p.Up()
	before := f.n.Load()
	for i := 0; a.guard.Breaker.Open(); i++ {
		if i == 20 {
			t.Fatal("breaker did not close after Redis came back")
		}
		skew.Add(int64(2 * time.Second))
		if _, err := GetOrSet(ctx, a, "probe", time.Hour, f.fetch); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := GetOrSet(ctx, a, "cached", time.Hour, f.fetch); err != nil || got != f.item {
		t.Fatalf("after recovery: %+v, %v", got, err)
	}
	if n := f.n.Load() - before; n > 20 {
		t.Fatalf("fetch ran %d times while recovering", n)
	}
}

// TestAsideRedisStalled: on a half-open connection the client would wait
// out its own timeouts, an hour; GetOrSet fetches instead once
// AsideOptions.Timeout has passed.
func TestAsideRedisStalled(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	a, logs := asideNew(t, b.PatientClientAt(p.Addr()), b, AsideOptions{Timeout: 50 * time.Millisecond})
	f := &asideFetcher{item: asideItem{ID: 5, Name: "x"}}
	ctx := context.Background()
	// Storing the value also opens the connection the stall catches.
	if _, err := GetOrSet(ctx, a, "cached", time.Hour, f.fetch); err != nil {
		t.Fatal(err)
	}
	p.Stall()
	var got asideItem
	var err error
	redistest.Within(t, 10*time.Second, "GetOrSet on a stalled Redis", func() {
		got, err = GetOrSet(ctx, a, "cached", time.Hour, f.fetch)
	})
	if err != nil || got != f.item || f.n.Load() != 2 {
		t.Fatalf("%+v, %v, fetch ran %d times; want the fetched item", got, err, f.n.Load())
	}
	if !strings.Contains(logs.String(), context.DeadlineExceeded.Error()) {
		t.Fatalf("the timeout is not logged:\n%s", logs)
	}
}

func TestAsideCloseReleasesSubscription(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	a := NewAside(rdb, AsideOptions{Prefix: b.Prefix, LocalSize: 10, Logger: slog.New(slog.DiscardHandler)})
	<-a.ready
	channel := b.Prefix + "cache:aside:invalidate"
	if n := rdb.PubSubNumSub(ctx, channel).Val()[channel]; n != 1 {
		t.Fatalf("NUMSUB %s = %d, want 1", channel, n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a.Close() // twice is fine
	redistest.Eventually(t, "subscription released", func() bool { return rdb.PubSubNumSub(ctx, channel).Val()[channel] == 0 })
	redistest.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
	// Still usable, without the local tier kept in sync.
	if got, err := GetOrSet(ctx, a, "k", time.Minute, func(context.Context) (int, error) { return 3, nil }); err != nil || got != 3 {
		t.Fatalf("after Close: %d, %v", got, err)
	}
}
