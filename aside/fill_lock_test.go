package aside

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestLockProtocol covers the cross-instance fill lock: it expires,
// only its holder releases it, and a waiter that runs out of patience
// fetches itself.
func TestLockProtocol(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()

	t.Run("waiter gives up and fetches itself", func(t *testing.T) {
		a, logs := newTestCache(t, rdb, b, Options{Prefix: "giveup:", LockWait: 20 * time.Millisecond})
		lock := a.o.Prefix + "k:lock"
		if err := rdb.Set(ctx, lock, "other", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		f := &fetcher{item: testItem{ID: 1}}
		if got, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil || got.ID != 1 {
			t.Fatalf("got %+v, %v", got, err)
		}
		if f.n.Load() != 1 {
			t.Fatalf("fetch ran %d times", f.n.Load())
		}
		if !strings.Contains(logs.String(), "gave up waiting") {
			t.Fatalf("giving up not logged:\n%s", logs)
		}
		if v := rdb.Get(ctx, lock).Val(); v != "other" {
			t.Fatalf("lock %q: a waiter released another instance's lock", v)
		}
		if v := rdb.Get(ctx, a.o.Prefix+"k").Val(); v != `{"id":1,"name":""}` {
			t.Fatalf("stored %q", v)
		}
	})

	t.Run("a crashed holder's lock expires", func(t *testing.T) {
		c := b.Client()
		// miniredis only expires keys when told to; real Redis does it
		// 200 ms after the SET, well within LockWait (5 s).
		w := watchLocks(c, func() { b.FastForward(time.Second) })
		a, logs := newTestCache(t, c, b, Options{Prefix: "crashed:"})
		lock := a.o.Prefix + "k:lock"
		if err := rdb.Set(ctx, lock, "crashed", 200*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		f := &fetcher{item: testItem{ID: 2}}
		if got, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil || got.ID != 2 {
			t.Fatalf("got %+v, %v", got, err)
		}
		if strings.Contains(logs.String(), "gave up waiting") {
			t.Fatalf("waited the whole LockWait for an expired lock:\n%s", logs)
		}
		if w.polls.Load() < 2 {
			t.Fatalf("%d lock polls: the lock was never contended", w.polls.Load())
		}
		if rdb.Exists(ctx, lock).Val() != 0 {
			t.Fatal("lock left behind")
		}
	})

	t.Run("only the holder releases it", func(t *testing.T) {
		a, _ := newTestCache(t, rdb, b, Options{Prefix: "holder:", LockTTL: 3 * time.Second})
		lock := a.o.Prefix + "k:lock"
		fetch := func(context.Context) (int, error) {
			// While fetching, the lock is ours and expires by itself.
			if pttl := rdb.PTTL(ctx, lock).Val(); pttl <= 0 || pttl > 3*time.Second {
				return 0, errors.New("lock PTTL " + pttl.String() + ", want (0, LockTTL]")
			}
			// Our lock expired and another instance took it.
			if err := rdb.Set(ctx, lock, "next holder", time.Minute).Err(); err != nil {
				return 0, err
			}
			return 3, nil
		}
		if got, err := GetOrSet(ctx, a, "k", time.Hour, fetch); err != nil || got != 3 {
			t.Fatalf("got %d, %v", got, err)
		}
		if v := rdb.Get(ctx, lock).Val(); v != "next holder" {
			t.Fatalf("lock %q: released a lock this instance no longer held", v)
		}
	})
}

func TestFetchPanic(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	a, logs := newTestCache(t, rdb, b, Options{})
	_, err := GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (int, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("err %v, want the panic as an error", err)
	}
	if !strings.Contains(logs.String(), "fetch panicked") {
		t.Fatalf("panic not logged:\n%s", logs)
	}
	if rdb.Exists(ctx, a.o.Prefix+"k", a.o.Prefix+"k:lock").Val() != 0 {
		t.Fatal("value or lock left behind after a panic")
	}
	if got, err := GetOrSet(ctx, a, "k", time.Hour, func(context.Context) (int, error) { return 1, nil }); err != nil || got != 1 {
		t.Fatalf("after the panic: %d, %v", got, err)
	}
}

// beforeWrite is a go-redis hook that runs fn once, just before the
// first command named name on key is sent: a read racing a write.
type beforeWrite struct {
	name, key string
	armed     atomic.Bool
	fn        func()
}

func (h *beforeWrite) fire(cmds []redis.Cmder) {
	for _, c := range cmds {
		if args := c.Args(); c.Name() == h.name && len(args) > 1 && args[1] == h.key && h.armed.CompareAndSwap(true, false) {
			h.fn()
			return
		}
	}
}

func (h *beforeWrite) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeWrite) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.fire([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *beforeWrite) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.fire(cmds)
		return next(ctx, cmds)
	}
}

// TestLocalTierWriteRace: a GetOrSet of the same instance that reads
// the old value from Redis just before a Delete or Set reaches Redis must
// not leave that value in the local tier.
func TestLocalTierWriteRace(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	// newTestCache waits for the subscription: its purge must not be what
	// rejects the racing put.
	a, _ := newTestCache(t, rdb, b, Options{LocalSize: 10, LocalTTL: time.Hour})
	full := a.o.Prefix + "item"
	tests := []struct {
		name  string
		cmd   string
		write func() error
		want  string
	}{
		{"Delete", "del", func() error { return a.Delete(ctx, "item") }, "fetched"},
		{"Set", "set", func() error { return Set(ctx, a, "item", "set", time.Hour) }, "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch := func(context.Context) (string, error) { return "fetched", nil }
			if err := rdb.Set(ctx, full, `"old"`, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			a.local.purge() // the racing read goes to Redis
			var raced string
			h := &beforeWrite{name: tt.cmd, key: full, fn: func() {
				raced, _ = GetOrSet(ctx, a, "item", time.Hour, fetch)
			}}
			h.armed.Store(true)
			rdb.AddHook(h)
			defer h.armed.Store(false)
			if err := tt.write(); err != nil {
				t.Fatal(err)
			}
			if raced != "old" {
				t.Fatalf("the racing read got %q, want the old value: the race did not happen", raced)
			}
			if got, err := GetOrSet(ctx, a, "item", time.Hour, fetch); err != nil || got != tt.want {
				t.Fatalf("after %s: %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestNegativeCacheLocalLife(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	clock := redistest.NewClock(time.Unix(1e9, 0))
	a, _ := newTestCache(t, b.Client(), b, Options{LocalSize: 10, LocalTTL: time.Hour, NotFoundTTL: time.Minute, Now: clock.Now})
	f := &fetcher{err: ErrNotFound}
	if _, err := GetOrSet(ctx, a, "gone", time.Hour, f.fetch); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	if _, ok := a.local.get(a.o.Prefix + "gone"); !ok {
		t.Fatal("not-found answer not in the local tier")
	}
	// NotFoundTTL, jittered by at most 10 %, not the value ttl or LocalTTL.
	clock.Add(67 * time.Second)
	if _, ok := a.local.get(a.o.Prefix + "gone"); ok {
		t.Fatal("local tier keeps a not-found answer longer than NotFoundTTL")
	}
}

// TestNegativeMarkerIsNotAValue: no value a caller stores can read
// back as the negative-cache marker, nor the marker as a value.
func TestNegativeMarkerIsNotAValue(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	a, _ := newTestCache(t, b.Client(), b, Options{NotFoundTTL: time.Minute})
	f := func(context.Context) (string, error) { return "", ErrNotFound }
	for _, v := range []string{negative, "cachehandler:notfound", ""} {
		if err := Set(ctx, a, "k", v, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := GetOrSet(ctx, a, "k", time.Hour, f); err != nil || got != v {
			t.Fatalf("stored %q, read back %q, %v", v, got, err)
		}
	}
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := GetOrSet(ctx, a, "k", time.Hour, f); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	// The marker does not decode as a string, or anything else.
	var s string
	if err := decodeValue([]byte(negative), &s); !errors.Is(err, ErrNotFound) || s != "" {
		t.Fatalf("marker decoded as %q, %v", s, err)
	}
}

// TestEarlyRefreshOfNotFound: a negative-cache entry is refreshed
// early relative to NotFoundTTL, not to the value ttl (against which every
// not-found answer is always "close to expiry", so each hit would fetch).
func TestEarlyRefreshOfNotFound(t *testing.T) {
	b := redistest.Start(t)
	ctx := context.Background()
	a, _ := newTestCache(t, b.Client(), b, Options{EarlyRefresh: 0.5, NotFoundTTL: time.Minute})
	f := &fetcher{err: ErrNotFound}
	for range 3 {
		if _, err := GetOrSet(ctx, a, "gone", time.Hour, f.fetch); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v", err)
		}
		a.bg.Wait()
	}
	if n := f.n.Load(); n != 1 {
		t.Fatalf("fetch ran %d times for a cached not-found answer, want 1", n)
	}
	// Close to its own expiry, it is refreshed.
	if !b.FastForward(40 * time.Second) {
		if err := b.Client().PExpire(ctx, a.o.Prefix+"gone", 20*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := GetOrSet(ctx, a, "gone", time.Hour, f.fetch); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	a.bg.Wait()
	if n := f.n.Load(); n != 2 {
		t.Fatalf("fetch ran %d times, want a refresh near NotFoundTTL's end", n)
	}
}

// failGet is a go-redis hook that fails every GET of key once it has
// run, as a connection lost between the lock and the read would.
type failGet struct{ key string }

func (h failGet) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failGet) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h failGet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if args := c.Args(); c.Name() == "get" && args[1] == h.key && len(cmds) == 2 && cmds[0].Name() == "set" {
				c.SetErr(errors.New("connection lost"))
			}
		}
		return err
	}
}

// TestLockReleasedWhenReadFails: a lock taken just before the read
// failed is released, not left to block other instances for LockTTL.
func TestLockReleasedWhenReadFails(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	a, _ := newTestCache(t, rdb, b, Options{})
	rdb.AddHook(failGet{key: a.o.Prefix + "k"})
	f := &fetcher{item: testItem{ID: 4}}
	if got, err := GetOrSet(ctx, a, "k", time.Hour, f.fetch); err != nil || got.ID != 4 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if rdb.Exists(ctx, a.o.Prefix+"k:lock").Val() != 0 {
		t.Fatal("lock left behind after the read failed")
	}
}
