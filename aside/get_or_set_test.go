package aside

import (
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
	"github.com/redisware/redisware/middleware"
)

type testItem struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// newTestCache returns an Cache for the test with its keys under b.Prefix and
// the log it writes.
func newTestCache(t testing.TB, rdb redis.UniversalClient, b *redistest.Backend, o Options) (*Cache, *redistest.LogBuffer) {
	t.Helper()
	o.Prefix = b.Prefix + o.Prefix
	var logs *redistest.LogBuffer
	o.Logger, logs = redistest.Logger()
	a, err := New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if a.local != nil {
		// The confirmation purges the local tier: let it happen before
		// the test fills the tier.
		select {
		case <-a.ready:
		case <-time.After(30 * time.Second):
			t.Fatal("invalidation subscription not confirmed")
		}
	}
	return a, logs
}

// fetcher counts calls and returns item (or err).
type fetcher struct {
	n    atomic.Int64
	item testItem
	err  error
}

func (f *fetcher) fetch(context.Context) (testItem, error) {
	f.n.Add(1)
	return f.item, f.err
}

// TestHitMissCorrupt: each case starts from its own key and state, so
// any one of them runs alone (go test -run 'TestHitMissCorrupt/<case>').
func TestHitMissCorrupt(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	item := testItem{ID: 42, Name: "lamp"}
	const stored = `{"id":42,"name":"lamp"}`

	tests := []struct {
		name      string
		before    string // raw value in Redis before the call; "" for none
		wantFetch int64  // after two calls
		wantLog   string
	}{
		{"miss fetches once then hits", "", 1, ""},
		{"hit does not fetch", stored, 0, ""},
		{"corrupt value refetches then hits", "{not json", 1, "does not decode"},
		{"wrong shape refetches then hits", `["a list"]`, 1, "does not decode"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := newTestCache(t, rdb, b, Options{Prefix: fmt.Sprint(i, ":")})
			key := a.o.Prefix + "item:42"
			if tt.before != "" {
				if err := rdb.Set(ctx, key, tt.before, time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
			}
			f := &fetcher{item: item}
			for range 2 {
				got, err := GetOrSet(ctx, a, "item:42", time.Hour, f.fetch)
				if err != nil || got != item {
					t.Fatalf("got %+v, %v", got, err)
				}
			}
			if n := f.n.Load(); n != tt.wantFetch {
				t.Fatalf("fetch ran %d times, want %d", n, tt.wantFetch)
			}
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			// Stored as plain JSON, with an expiry, and the lock is gone.
			if v, err := rdb.Get(ctx, key).Result(); err != nil || v != stored {
				t.Fatalf("stored %q, %v", v, err)
			}
			if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 {
				t.Fatalf("PTTL %v: every key needs an expiry", ttl)
			}
			if n := rdb.Exists(ctx, key+":lock").Val(); n != 0 {
				t.Fatal("lock key left behind")
			}
		})
	}
}

// TestFetchTimeout: a fetch that never returns ends its callers' wait
// after FetchTimeout and does not hold its key: the next GetOrSet fetches
// again. (Before FetchTimeout existed, the second call joined the wedged
// fill and waited forever; its ctx bounds it here so the test fails rather
// than hangs.)
func TestFetchTimeout(t *testing.T) {
	b := redistest.Start(t)
	a, _ := newTestCache(t, b.Client(), b, Options{FetchTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stuck := make(chan struct{})
	defer close(stuck)
	started := make(chan struct{})
	_, err := GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (int, error) {
		close(started)
		<-stuck // ignores its context, as a badly written fetch does
		return 1, nil
	})
	<-started
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "FetchTimeout") {
		t.Fatalf("err %v, want a FetchTimeout error wrapping DeadlineExceeded", err)
	}
	if n := b.Client().Exists(ctx, a.o.Prefix+"k:lock").Val(); n != 0 {
		t.Fatal("the fill lock outlived the abandoned fetch")
	}
	got, err := GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (int, error) { return 2, nil })
	if err != nil || got != 2 {
		t.Fatalf("after the stuck fetch: got %d, %v; want 2 from a new fetch", got, err)
	}
}

func TestValidation(t *testing.T) {
	b := redistest.Start(t)
	a, _ := newTestCache(t, b.Client(), b, Options{})
	ctx := context.Background()
	f := &fetcher{}
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
	bad := []struct {
		name string
		rdb  redis.UniversalClient
		o    Options
	}{
		{"nil client", nil, Options{}},
		{"jitter 1", b.Client(), Options{Jitter: 1}},
		{"early refresh 1", b.Client(), Options{EarlyRefresh: 1}},
		{"negative early refresh", b.Client(), Options{EarlyRefresh: -0.1}},
		{"negative lock wait", b.Client(), Options{LockWait: -1}},
		{"negative fetch timeout", b.Client(), Options{FetchTimeout: -1}},
		{"negative timeout", b.Client(), Options{Timeout: -1}},
		{"negative size", b.Client(), Options{LocalSize: -1}},
	}
	for _, tt := range bad {
		t.Run("New errors/"+tt.name, func(t *testing.T) {
			a, err := New(tt.rdb, tt.o)
			if err == nil || a != nil {
				t.Fatalf("New = %v, %v; want an error", a, err)
			}
			if !strings.HasPrefix(err.Error(), "aside: ") {
				t.Fatalf("error %q does not name the package", err)
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
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
			a, _ := newTestCache(t, rdb, b, Options{Prefix: fmt.Sprintf("j%v:", tt.jitter), Jitter: tt.jitter})
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

func TestStampedeAcrossInstances(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	// Two instances: separate clients, separate singleflight groups.
	c1, c2 := b.Client(), b.Client()
	// The fetch does not finish before the other instance is waiting on
	// the lock, so the cross-instance path is what is tested.
	otherWaiting := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(otherWaiting) }) }
	w1, w2 := watchLocks(c1, signal), watchLocks(c2, signal)
	// Every Redis call must succeed for the count to hold: a call that
	// fails (or outlives Timeout) is answered by the failure policy, a
	// direct fetch. With the defaults, 100 concurrent first reads per
	// instance queue for a pool of 10 × GOMAXPROCS connections, and on a
	// loaded machine some waited past the 250 ms Timeout (the flake seen
	// as "fetch ran 6 times"). This test is not about timeouts: it sets
	// bounds it cannot reach, and LockWait likewise.
	o := Options{Timeout: time.Minute, LockWait: time.Minute}
	a1, logs1 := newTestCache(t, c1, b, o)
	a2, logs2 := newTestCache(t, c2, b, o)

	var fetches atomic.Int64
	fetch := func(context.Context) (testItem, error) {
		fetches.Add(1)
		select {
		case <-otherWaiting:
		case <-time.After(10 * time.Second):
		}
		return testItem{ID: 1, Name: "hot"}, nil
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
		t.Fatalf("fetch ran %d times for %d concurrent calls on 2 instances, want 1\ninstance 1 logged:\n%s\ninstance 2 logged:\n%s", got, n, logs1, logs2)
	}
	select {
	case <-otherWaiting:
	default:
		t.Fatal("no instance waited on the other's lock")
	}
	t.Logf("lock polls: instance 1: %d, instance 2: %d", w1.polls.Load(), w2.polls.Load())
}

func TestFetchErrorsAndNegativeCache(t *testing.T) {
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
			a, _ := newTestCache(t, rdb, b, Options{Prefix: fmt.Sprint(i, ":"), NotFoundTTL: tt.notFoundTTL})
			f := &fetcher{err: tt.err}
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

func TestEarlyRefresh(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	a, _ := newTestCache(t, rdb, b, Options{EarlyRefresh: 0.5})
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
	case <-time.After(30 * time.Second):
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

func TestLocalTierInvalidation(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	c1, c2 := b.Client(), b.Client()
	a1, _ := newTestCache(t, c1, b, Options{LocalSize: 100, LocalTTL: time.Hour})
	a2, _ := newTestCache(t, c2, b, Options{LocalSize: 100, LocalTTL: time.Hour})
	k2 := redistest.Count(c2)
	// warm caches key as "v1" in both instances' local tiers; each case
	// has its own key, so any one of them runs alone.
	warm := func(t *testing.T, key string) *fetcher {
		t.Helper()
		f := &fetcher{item: testItem{ID: 1, Name: "v1"}}
		for _, a := range []*Cache{a1, a2} {
			if got, err := GetOrSet(ctx, a, key, time.Hour, f.fetch); err != nil || got.Name != "v1" {
				t.Fatalf("got %+v, %v", got, err)
			}
		}
		k2.Reset()
		if got, _ := GetOrSet(ctx, a2, key, time.Hour, f.fetch); got.Name != "v1" || k2.N() != 0 {
			t.Fatalf("warm local tier: %+v with %d round trips, want 0", got, k2.N())
		}
		return f
	}

	t.Run("Delete evicts everywhere", func(t *testing.T) {
		f := warm(t, "deleted")
		if err := a1.Delete(ctx, "deleted"); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 2", func() bool { _, ok := a2.local.get(a2.o.Prefix + "deleted"); return !ok })
		f.item.Name = "v2"
		if got, _ := GetOrSet(ctx, a2, "deleted", time.Hour, f.fetch); got.Name != "v2" {
			t.Fatalf("instance 2 served %+v after Delete on instance 1", got)
		}
		if n := f.n.Load(); n != 2 {
			t.Fatalf("fetch ran %d times, want 2", n)
		}
	})
	t.Run("Set evicts everywhere", func(t *testing.T) {
		f := warm(t, "set")
		if err := Set(ctx, a2, "set", testItem{ID: 1, Name: "v3"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, "eviction on instance 1", func() bool {
			raw, ok := a1.local.get(a1.o.Prefix + "set")
			return !ok || strings.Contains(string(raw), "v3")
		})
		for i, a := range []*Cache{a1, a2} {
			if got, _ := GetOrSet(ctx, a, "set", time.Hour, f.fetch); got.Name != "v3" {
				t.Fatalf("instance %d: %+v after Set", i+1, got)
			}
		}
		if n := f.n.Load(); n != 1 {
			t.Fatalf("fetch ran %d times, want 1", n)
		}
	})
}

func TestLocalTierBounds(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	clock := redistest.NewClock(time.Unix(1e9, 0))
	a, _ := newTestCache(t, b.Client(), b, Options{LocalSize: 3, LocalTTL: time.Minute, Now: clock.Now})
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

func TestRoundTrips(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name string
		o    Options
		want int64
	}{
		{"Redis hit", Options{}, 1},
		{"Redis hit with early refresh", Options{EarlyRefresh: 0.1}, 1},
		{"warm local tier", Options{LocalSize: 10}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := b.Client()
			tt.o.Prefix = fmt.Sprint(i, ":")
			a, _ := newTestCache(t, rdb, b, tt.o)
			k := redistest.Count(rdb)
			f := &fetcher{item: testItem{ID: 1}}
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
		a, _ := newTestCache(t, rdb, b, Options{Prefix: "miss:"})
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		k := redistest.Count(rdb)
		f := &fetcher{item: testItem{ID: 1}}
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

func TestRedisDown(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	ctx := context.Background()
	// The outage refuses connections, which fails fast: the Timeout is one
	// no call reaches, so the calls before it cannot time out on a loaded
	// machine.
	clock := redistest.NewClock(time.Now()) // moved past the breaker's cool-down below
	a, logs := newTestCache(t, rdb, b, Options{Timeout: time.Minute, LocalSize: 10, Now: clock.Now})
	f := &fetcher{item: testItem{ID: 5, Name: "x"}}
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
		clock.Add(2 * time.Second)
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

// TestRedisStalled: on a half-open connection the client would wait
// out its own timeouts, an hour; GetOrSet fetches instead once
// Options.Timeout has passed.
func TestRedisStalled(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	a, logs := newTestCache(t, b.PatientClientAt(p.Addr()), b, Options{Timeout: time.Minute})
	f := &fetcher{item: testItem{ID: 5, Name: "x"}}
	ctx := context.Background()
	// Storing the value also opens the connection the stall catches.
	if _, err := GetOrSet(ctx, a, "cached", time.Hour, f.fetch); err != nil {
		t.Fatal(err)
	}
	// Only the stalled call is to time out: the store before it had a
	// minute, which a loaded machine does not reach.
	a.guard.Timeout = 50 * time.Millisecond
	p.Stall()
	var got testItem
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

func TestCloseReleasesSubscription(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The client's autopipeliner starts with the first Cache on it and
	// belongs to the client, not to the Cache: start it before counting.
	if _, err := New(rdb, Options{Prefix: b.Prefix}); err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	a, err := New(rdb, Options{Prefix: b.Prefix, LocalSize: 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
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

// TestOnError: with OnError set, a failed Redis call reaches it (named by
// operation, wrapping the client's error) instead of the log.
func TestOnError(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	var mu sync.Mutex
	var seen []error
	a, logs := newTestCache(t, b.ClientAt(p.Addr()), b, Options{Timeout: 100 * time.Millisecond, OnError: func(_ context.Context, err error) {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
	}})
	p.Down()
	f := &fetcher{item: testItem{ID: 1}}
	if got, err := GetOrSet(context.Background(), a, "k", time.Hour, f.fetch); err != nil || got != f.item {
		t.Fatalf("with Redis down: %+v, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || !strings.HasPrefix(seen[0].Error(), `aside: read "`) {
		t.Fatalf("OnError saw %v, want the failed read", seen)
	}
	if strings.Contains(logs.String(), "redis failed") {
		t.Fatalf("logged although OnError is set:\n%s", logs)
	}
}

// TestRedisDownLogsAHandful: an outage of many calls logs the first
// failure and the breaker opening, not a line per call; Options.Breaker
// reaches the breaker, and bad settings are New's error.
func TestRedisDownLogsAHandful(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	a, logs := newTestCache(t, b.ClientAt(p.Addr()), b, Options{Timeout: time.Second,
		Breaker: middleware.BreakerOptions{Threshold: 3, MinCooldown: time.Hour}})
	f := &fetcher{item: testItem{ID: 1, Name: "x"}}
	p.Down()
	for i := range 200 {
		if got, err := GetOrSet(context.Background(), a, "k", time.Hour, f.fetch); err != nil || got != f.item {
			t.Fatalf("call %d: %+v, %v", i, got, err)
		}
	}
	var above []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			above = append(above, l)
		}
	}
	if len(above) != 2 || !strings.Contains(above[0]+above[1], "breaker opened") || !strings.Contains(above[0]+above[1], "redis failed") {
		t.Fatalf("200 calls in an outage logged %d lines above Debug, want the first failure and the breaker opening:\n%s", len(above), strings.Join(above, "\n"))
	}
	if a.guard.Breaker.Refused() < 190 {
		t.Fatalf("MinCooldown 1h: only %d calls refused", a.guard.Breaker.Refused())
	}
	if _, err := New(b.Client(), Options{Breaker: middleware.BreakerOptions{Threshold: -1}}); err == nil || !strings.Contains(err.Error(), "Options.Breaker") {
		t.Fatalf("a negative Threshold: %v", err)
	}
}

// TestCallerGone: calls whose caller's context was cancelled while Redis
// is down return the cancellation, log nothing above Debug and never
// count toward the breaker.
func TestCallerGone(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	var errs []error
	a, logs := newTestCache(t, b.ClientAt(p.Addr()), b, Options{Timeout: time.Second,
		Breaker: middleware.BreakerOptions{Threshold: 1},
		OnError: func(_ context.Context, err error) { errs = append(errs, err) }})
	f := &fetcher{item: testItem{ID: 1, Name: "x"}}
	p.Down()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		if _, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); !errors.Is(err, context.Canceled) {
			t.Fatalf("GetOrSet for a caller that left: %v", err)
		}
	}
	if a.guard.Breaker.Open() || len(errs) != 0 || f.n.Load() != 0 {
		t.Fatalf("callers that left: breaker open %v, OnError told %v, fetched %d times", a.guard.Breaker.Open(), errs, f.n.Load())
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l != "" && !strings.Contains(l, "level=DEBUG") {
			t.Fatalf("logged above Debug for a caller that left: %s", l)
		}
	}
}
