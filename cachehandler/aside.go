package cachehandler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
)

// ErrNotFound is the sentinel a fetch function returns (or wraps) to say
// the item does not exist. With AsideOptions.NotFoundTTL set, GetOrSet
// remembers the answer in Redis for that long and returns ErrNotFound
// without calling fetch again.
var ErrNotFound = errors.New("cachehandler: not found")

// AsideOptions configure an Aside. The zero value is the default
// everywhere: no prefix, ±10 % jitter, no negative cache, no early refresh,
// no local tier.
type AsideOptions struct {
	// Prefix is put in front of every key GetOrSet, Set and Delete are
	// given, e.g. "app:". Empty means the caller's key as it is.
	Prefix string
	// Jitter spreads each expiry uniformly over ttl×(1±Jitter), so keys
	// written together do not expire together. Zero means 0.1 (±10 %);
	// negative means no jitter. Must be below 1.
	Jitter float64
	// NotFoundTTL, if positive, turns on the negative cache: when fetch
	// returns an error matching ErrNotFound (errors.Is), a marker is
	// stored for NotFoundTTL (jittered) and GetOrSet returns ErrNotFound
	// without fetching until it expires. Zero means fetch errors of every
	// kind are returned and nothing is cached.
	NotFoundTTL time.Duration
	// EarlyRefresh, if positive, refreshes a value in the background once
	// less than EarlyRefresh×ttl of its life remains in Redis, while the
	// cached value is served; one instance refreshes (it takes the fill
	// lock). Zero disables it. Must be below 1.
	EarlyRefresh float64
	// LocalSize, if positive, puts an in-process tier of at most that
	// many entries (least recently used evicted) in front of Redis. Set
	// and Delete on any instance evict the key from every instance's
	// local tier through pub/sub on Channel. Zero means no local tier.
	LocalSize int
	// LocalTTL bounds how long an entry stays in the local tier (never
	// longer than it has left in Redis). It also bounds staleness if an
	// invalidation is lost while the subscription reconnects, and so sets
	// how often a quiet subscription connection is checked with a ping:
	// every LocalTTL, kept between 100 ms and 3 s. Zero means 5 s.
	LocalTTL time.Duration
	// Channel is the pub/sub channel of invalidations. Zero means
	// Prefix + "cache:aside:invalidate".
	Channel string
	// LockTTL is how long the fill lock (<key>:lock) is held at most, and
	// the deadline of a background refresh. Zero means 5 s.
	LockTTL time.Duration
	// LockWait is how long a caller waits for another instance's fill
	// before it fetches itself. Zero means 5 s.
	LockWait time.Duration
	// Timeout bounds each Redis call. Zero means 1 s. It holds for any
	// client, whatever its own timeouts; a go-redis client with
	// ContextTimeoutEnabled stops its network I/O at the deadline itself,
	// which spares the Aside a goroutine per call.
	Timeout time.Duration
	// Logger receives Redis failures and corrupt values. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Aside is a typed cache-aside helper over Redis; use it with GetOrSet, Set
// and Delete. It is safe for concurrent use. Values are stored as JSON
// strings under the caller's key (with AsideOptions.Prefix), each with an
// expiry.
//
// # Stampedes
//
// Concurrent GetOrSet calls for one key in one process share one fetch
// (singleflight). Across instances the first to miss takes a lock key,
// <key>:lock (SET NX PX, LockTTL), and fetches; the others poll for the
// value with an exponential backoff (5 ms doubling to 100 ms) for at most
// LockWait, then fetch themselves. Polling costs a few GETs per waiting
// instance, not per waiting request, and needs no extra connection.
//
// # Redis keys
//
//	<Prefix><key>        string: the value as JSON (or a not-found marker); ttl, jittered
//	<Prefix><key>:lock   string: a random token while one instance fills; LockTTL
//
// Delete and Set publish "<instance id> <Prefix><key>" on Channel
// (default <Prefix>cache:aside:invalidate); with a local tier, each Aside
// holds one subscriber connection to it.
//
// # Failures
//
// When Redis fails or is slow (Timeout), or a circuit breaker is open after
// repeated failures, GetOrSet runs fetch directly and logs the error
// instead of returning it; Set and Delete return it. A cached value that
// does not decode is logged and treated as a miss.
type Aside struct {
	rdb     redis.UniversalClient
	o       AsideOptions
	log     *slog.Logger
	cluster bool
	id      string
	// guard: the breaker and AsideOptions.Timeout around every call.
	guard bounded.Guard

	fills singleflight.Group
	local *asideLocal

	mu         sync.Mutex // guards closed, refreshing and bg.Add
	closed     bool
	refreshing map[string]struct{}
	bg         sync.WaitGroup

	ps        *redis.PubSub
	subStop   context.CancelFunc // ends the invalidation subscriber; called by Close, before ps closes
	subDone   chan struct{}
	ready     chan struct{} // closed once the invalidation subscription is confirmed
	closeOnce sync.Once
	closeErr  error

	// waiting, if set (tests), is called when a fill starts waiting for
	// another instance's lock.
	waiting func()
	// polls counts lock polls (tests).
	polls atomic.Int64
}

// asideNegative is the value of a negative-cache entry. It is not JSON, so
// no real value is ever mistaken for it.
const asideNegative = "\x00cachehandler:notfound"

var asideUnlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// NewAside returns an Aside over rdb. With a local tier it subscribes to
// the invalidation channel in the background (Redis need not be up yet);
// call Close when done. Panics if rdb is nil or an option is out of range
// (negative durations or sizes, Jitter or EarlyRefresh of 1 or more).
func NewAside(rdb redis.UniversalClient, o AsideOptions) *Aside {
	if rdb == nil {
		panic("cachehandler: NewAside: nil redis client")
	}
	switch {
	case o.Jitter >= 1:
		panic(fmt.Sprintf("cachehandler: NewAside: Jitter %v must be below 1", o.Jitter))
	case o.EarlyRefresh < 0 || o.EarlyRefresh >= 1:
		panic(fmt.Sprintf("cachehandler: NewAside: EarlyRefresh %v must be in [0, 1)", o.EarlyRefresh))
	case o.NotFoundTTL < 0 || o.LocalTTL < 0 || o.LockTTL < 0 || o.LockWait < 0 || o.Timeout < 0:
		panic("cachehandler: NewAside: negative duration")
	case o.LocalSize < 0:
		panic("cachehandler: NewAside: negative LocalSize")
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	} else if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.LocalTTL == 0 {
		o.LocalTTL = 5 * time.Second
	}
	if o.Channel == "" {
		o.Channel = o.Prefix + "cache:aside:invalidate"
	}
	if o.LockTTL == 0 {
		o.LockTTL = 5 * time.Second
	}
	if o.LockWait == 0 {
		o.LockWait = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	a := &Aside{
		rdb:        rdb,
		o:          o,
		log:        o.Logger,
		id:         hex.EncodeToString(id),
		guard:      bounded.Guard{Breaker: &breaker.Breaker{}, Timeout: o.Timeout, Direct: bounded.HonoursDeadlines(rdb)},
		refreshing: map[string]struct{}{},
		ready:      make(chan struct{}),
	}
	_, a.cluster = rdb.(*redis.ClusterClient)
	if o.LocalSize > 0 {
		a.local = asideNewLocal(o.LocalSize, o.LocalTTL)
		a.subscribe()
	}
	return a
}

// Close stops the invalidation subscription and waits for background
// refreshes to finish. GetOrSet keeps working after Close, without early
// refresh and with a local tier no longer kept in sync (LocalTTL bounds
// its staleness). It is safe to call more than once.
func (a *Aside) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		if a.ps != nil {
			a.subStop()
			a.closeErr = a.ps.Close()
			<-a.subDone
		}
		a.bg.Wait()
	})
	return a.closeErr
}

// GetOrSet returns the value cached under key, decoded from JSON into T.
// On a miss it calls fetch, stores its result as JSON for ttl (jittered,
// see AsideOptions.Jitter) and returns it; concurrent misses share one
// fetch in the process and, through a lock key, across instances. ttl is
// required: GetOrSet returns an error without fetching if it is not
// positive.
//
// An error from fetch is returned as it is and nothing is cached, except
// ErrNotFound with AsideOptions.NotFoundTTL set: then ErrNotFound is cached
// and returned. fetch runs with a context that keeps ctx's values but not
// its cancellation, since callers that share the fetch still wait for it;
// a caller whose ctx ends stops waiting and gets ctx.Err(). A panic in
// fetch is logged with its stack and returned as an error to every caller
// sharing the fetch (it runs on a goroutine of its own, where it would
// otherwise end the process).
//
// A hit costs one Redis round trip, and none when the local tier holds the
// key; a miss three (on Redis Cluster five, as the key and its lock may
// live on different nodes). Each call decodes its own copy of the value.
//
// key goes into Redis as it is (after the prefix): hash or escape parts
// that come from untrusted input, and bound their length.
func GetOrSet[T any](ctx context.Context, a *Aside, key string, ttl time.Duration, fetch func(ctx context.Context) (T, error)) (T, error) {
	var v T
	switch {
	case ttl <= 0:
		return v, fmt.Errorf("cachehandler: GetOrSet %q: ttl %v is not positive", key, ttl)
	case key == "":
		return v, errors.New("cachehandler: GetOrSet: empty key")
	case fetch == nil:
		return v, fmt.Errorf("cachehandler: GetOrSet %q: nil fetch", key)
	}
	full := a.o.Prefix + key
	// The local tier first, before any closure is built: its hits are
	// the hot path.
	if raw, ok := a.local.get(full); ok {
		err := asideDecode(raw, &v)
		if err == nil {
			return v, nil
		}
		if errors.Is(err, ErrNotFound) {
			var zero T
			return zero, err
		}
		a.local.remove(full) // put there for another type
	}
	fill := func(ctx context.Context) (raw []byte, err error) {
		// fetch runs in a goroutine of its own (singleflight's DoChan, or
		// an early refresh), where a panic could not be recovered by the
		// caller's server and would end the process: make it an error
		// for everyone sharing the fetch, so the lock is released too.
		defer func() {
			if p := recover(); p != nil {
				a.log.LogAttrs(ctx, slog.LevelError, "cachehandler: aside: fetch panicked",
					slog.String("key", full), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				raw, err = nil, fmt.Errorf("cachehandler: GetOrSet %q: fetch panicked: %v", key, p)
			}
		}()
		x, err := fetch(ctx)
		if err != nil {
			return nil, err
		}
		raw, err = json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("cachehandler: GetOrSet %q: encode: %w", key, err)
		}
		return raw, nil
	}
	check := func(raw []byte) error {
		var t T
		return asideDecode(raw, &t)
	}
	decode := func(raw []byte) error { return asideDecode(raw, &v) }
	if err := a.getOrSet(ctx, full, ttl, fill, check, decode); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Set stores v under key for ttl (jittered) and evicts the key from every
// instance's local tier. Redis failures are returned.
func Set[T any](ctx context.Context, a *Aside, key string, v T, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cachehandler: Set %q: ttl %v is not positive", key, ttl)
	}
	if key == "" {
		return errors.New("cachehandler: Set: empty key")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cachehandler: Set %q: encode: %w", key, err)
	}
	if err := a.setRaw(ctx, a.o.Prefix+key, raw, a.jitter(ttl)); err != nil {
		return fmt.Errorf("cachehandler: Set %q: %w", key, err)
	}
	return nil
}

// setRaw is Set of an encoded value, under its full key, for exp. It is
// not generic, so its Redis call allocates no closure.
func (a *Aside) setRaw(ctx context.Context, full string, raw []byte, exp time.Duration) error {
	err := asideDo(a, ctx, func(ctx context.Context, x asideArgs) error {
		a, full, raw, exp := x.a, x.full, x.raw, x.exp
		if a.cluster {
			if err := a.rdb.Set(ctx, full, raw, exp).Err(); err != nil {
				return err
			}
			return a.rdb.Publish(ctx, a.o.Channel, a.id+" "+full).Err()
		}
		_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, full, raw, exp)
			p.Publish(ctx, a.o.Channel, a.id+" "+full)
			return nil
		})
		return err
	}, asideArgs{a: a, full: full, raw: raw, exp: exp})
	// The local tier changes only once Redis has: a GetOrSet of this
	// process that read the old value before the write must not put it
	// back afterwards (replace and remove bump the tier's epoch), and this
	// instance ignores its own invalidation message.
	if err != nil {
		a.local.remove(full)
		return err
	}
	a.local.replace(full, raw, exp)
	return nil
}

// Delete removes key from Redis and evicts it from every instance's local
// tier (through a message on AsideOptions.Channel). Redis failures are
// returned: the key may still be cached.
func (a *Aside) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("cachehandler: Delete: empty key")
	}
	full := a.o.Prefix + key
	err := asideDo(a, ctx, func(ctx context.Context, x asideArgs) error {
		a, full := x.a, x.full
		if a.cluster {
			if err := a.rdb.Del(ctx, full).Err(); err != nil {
				return err
			}
			return a.rdb.Publish(ctx, a.o.Channel, a.id+" "+full).Err()
		}
		_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, full)
			p.Publish(ctx, a.o.Channel, a.id+" "+full)
			return nil
		})
		return err
	}, asideArgs{a: a, full: full})
	// After the DEL, not before: a GetOrSet of this process that read
	// the value before the DEL must not put it back (see Set).
	a.local.remove(full)
	if err != nil {
		return fmt.Errorf("cachehandler: Delete %q: %w", key, err)
	}
	return nil
}

// asideDecode decodes raw into a zeroed *v; the negative-cache marker
// decodes as ErrNotFound.
func asideDecode[T any](raw []byte, v *T) error {
	var zero T
	*v = zero
	if string(raw) == asideNegative {
		return ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

// asideUsable reports whether a decode result means the raw value can be
// served: it decoded, or it is a negative-cache marker.
func asideUsable(err error) bool { return err == nil || errors.Is(err, ErrNotFound) }

// asideFilled is what one fill hands to every caller sharing it: the raw
// value and how long it is known to live in Redis (zero if it was not
// stored, so the local tier must not keep it).
type asideFilled struct {
	raw  []byte
	life time.Duration
}

func (a *Aside) getOrSet(ctx context.Context, full string, ttl time.Duration,
	fill func(context.Context) ([]byte, error), check, decode func([]byte) error) error {
	epoch := a.local.epochNow()
	raw, pttl, err := a.read(ctx, full)
	redisUp := err == nil
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller left: fetch nothing
		}
		a.logRedis(ctx, "read", full, err)
	} else if raw != nil {
		derr := decode(raw)
		if asideUsable(derr) {
			a.local.put(full, raw, pttl, epoch)
			life := ttl // what the entry was written with, before jitter
			if derr != nil {
				life = a.o.NotFoundTTL // zero (no refresh) if not ours
			}
			a.maybeRefresh(ctx, full, ttl, life, pttl, fill)
			return derr
		}
		a.log.LogAttrs(ctx, slog.LevelWarn, "cachehandler: aside: cached value does not decode; refetching",
			slog.String("key", full), slog.Any("err", derr))
	}
	ch := a.fills.DoChan(full, func() (any, error) {
		fctx := context.WithoutCancel(ctx)
		if !redisUp {
			raw, err := fill(fctx)
			return asideFilled{raw: raw}, err
		}
		return a.fillLocked(fctx, full, ttl, fill, check)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return r.Err
		}
		f := r.Val.(asideFilled)
		if f.life > 0 {
			a.local.put(full, f.raw, f.life, epoch)
		}
		return decode(f.raw)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read gets the value (and its remaining life when the early refresh or
// the local tier needs it) in one round trip. A missing key is nil, nil.
func (a *Aside) read(ctx context.Context, full string) (raw []byte, pttl time.Duration, err error) {
	r, err := asideCall(a, ctx, func(ctx context.Context, x asideArgs) (asideRead, error) {
		a, full := x.a, x.full
		if a.o.EarlyRefresh == 0 && a.local == nil {
			raw, err := a.rdb.Get(ctx, full).Bytes()
			return asideRead{raw: raw}, err
		}
		var get *redis.StringCmd
		var ttl *redis.DurationCmd
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, full)
			ttl = p.PTTL(ctx, full)
			return nil
		})
		raw, err := get.Bytes()
		return asideRead{raw: raw, pttl: ttl.Val()}, err
	}, asideArgs{a: a, full: full})
	if errors.Is(err, redis.Nil) {
		return nil, 0, nil
	}
	return r.raw, r.pttl, err
}

// fillLocked takes the fill lock or waits for whoever holds it. It runs
// once per key per process at a time (singleflight).
func (a *Aside) fillLocked(ctx context.Context, full string, ttl time.Duration,
	fill func(context.Context) ([]byte, error), check func([]byte) error) (asideFilled, error) {
	lock := full + ":lock"
	token := strconv.FormatUint(mrand.Uint64(), 36)
	deadline := time.Now().Add(a.o.LockWait)
	wait := 5 * time.Millisecond
	for first := true; ; first = false {
		a.polls.Add(1)
		acquired, raw, err := a.lockAndGet(ctx, full, lock, token)
		if err != nil {
			a.logRedis(ctx, "lock", full, err)
			if acquired { // the read failed after the lock was taken
				a.unlock(ctx, lock, token)
			}
			raw, err := fill(ctx) // Redis is failing: fetch, do not store
			return asideFilled{raw: raw}, err
		}
		if raw != nil && asideUsable(check(raw)) {
			if acquired {
				a.unlock(ctx, lock, token)
			}
			// Another instance just stored it: it lives at least the
			// shortest jittered expiry.
			life := ttl
			if string(raw) == asideNegative {
				life = a.o.NotFoundTTL
			}
			return asideFilled{raw: raw, life: time.Duration(float64(life) * (1 - a.o.Jitter))}, nil
		}
		if acquired {
			return a.fetchAndStore(ctx, full, lock, token, ttl, fill)
		}
		if first && a.waiting != nil {
			a.waiting()
		}
		left := time.Until(deadline)
		if left <= 0 {
			a.log.LogAttrs(ctx, slog.LevelWarn, "cachehandler: aside: gave up waiting for another instance's fill",
				slog.String("key", full), slog.Duration("waited", a.o.LockWait))
			return a.fetchAndStore(ctx, full, "", "", ttl, fill)
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// lockAndGet tries to take the lock, then reads the value. The order
// matters: a filler writes the value before it releases the lock, so if
// the lock was free, the value read after taking it is the newest.
func (a *Aside) lockAndGet(ctx context.Context, full, lock, token string) (acquired bool, raw []byte, err error) {
	r, err := asideCall(a, ctx, func(ctx context.Context, x asideArgs) (asideRead, error) {
		a, full, lock, token := x.a, x.full, x.lock, x.token
		if a.cluster {
			// The two keys may live on different nodes: keep the order.
			ok, err := a.rdb.SetNX(ctx, lock, token, a.o.LockTTL).Result()
			if err != nil {
				return asideRead{}, err
			}
			raw, err := a.rdb.Get(ctx, full).Bytes()
			return asideRead{raw: raw, acquired: ok}, err
		}
		var setnx *redis.BoolCmd
		var get *redis.StringCmd
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			setnx = p.SetNX(ctx, lock, token, a.o.LockTTL)
			get = p.Get(ctx, full)
			return nil
		})
		if err := setnx.Err(); err != nil {
			return asideRead{}, err
		}
		raw, err := get.Bytes()
		return asideRead{raw: raw, acquired: setnx.Val()}, err
	}, asideArgs{a: a, full: full, lock: lock, token: token})
	if errors.Is(err, redis.Nil) {
		return r.acquired, nil, nil
	}
	return r.acquired, r.raw, err
}

func (a *Aside) unlock(ctx context.Context, lock, token string) {
	err := asideDo(a, ctx, func(ctx context.Context, x asideArgs) error {
		return asideUnlockScript.Run(ctx, x.a.rdb, []string{x.lock}, x.token).Err()
	}, asideArgs{a: a, lock: lock, token: token})
	if err != nil {
		a.logRedis(ctx, "unlock", lock, err)
	}
}

// fetchAndStore runs fill and stores its result (or a negative-cache
// marker), releasing the lock if one is held.
func (a *Aside) fetchAndStore(ctx context.Context, full, lock, token string, ttl time.Duration,
	fill func(context.Context) ([]byte, error)) (asideFilled, error) {
	raw, err := fill(ctx)
	exp := a.jitter(ttl)
	if err != nil {
		if !errors.Is(err, ErrNotFound) || a.o.NotFoundTTL <= 0 {
			if lock != "" {
				a.unlock(ctx, lock, token)
			}
			return asideFilled{}, err
		}
		raw, exp = []byte(asideNegative), a.jitter(a.o.NotFoundTTL)
	}
	err = asideDo(a, ctx, func(ctx context.Context, x asideArgs) error {
		a, full, raw, exp, lock, token := x.a, x.full, x.raw, x.exp, x.lock, x.token
		if a.cluster || lock == "" {
			if err := a.rdb.Set(ctx, full, raw, exp).Err(); err != nil {
				return err
			}
			if lock == "" {
				return nil
			}
			return asideUnlockScript.Run(ctx, a.rdb, []string{lock}, token).Err()
		}
		// One node: the pipeline keeps the order value-then-unlock.
		_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, full, raw, exp)
			asideUnlockScript.Eval(ctx, p, []string{lock}, token)
			return nil
		})
		return err
	}, asideArgs{a: a, full: full, raw: raw, exp: exp, lock: lock, token: token})
	if err != nil {
		a.logRedis(ctx, "store", full, err)
		return asideFilled{raw: raw}, nil
	}
	return asideFilled{raw: raw, life: exp}, nil
}

// maybeRefresh starts a background refresh of an entry written for life
// that has pttl left, when that is close to expiry, unless one is running
// or the Aside is closed. The refreshed value is stored for ttl.
func (a *Aside) maybeRefresh(ctx context.Context, full string, ttl, life, pttl time.Duration, fill func(context.Context) ([]byte, error)) {
	if a.o.EarlyRefresh == 0 || pttl <= 0 || pttl > time.Duration(a.o.EarlyRefresh*float64(life)) {
		return
	}
	a.mu.Lock()
	if _, busy := a.refreshing[full]; busy || a.closed {
		a.mu.Unlock()
		return
	}
	a.refreshing[full] = struct{}{}
	a.bg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.bg.Done()
		defer func() {
			a.mu.Lock()
			delete(a.refreshing, full)
			a.mu.Unlock()
		}()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.LockTTL)
		defer cancel()
		lock := full + ":lock"
		token := strconv.FormatUint(mrand.Uint64(), 36)
		acquired, err := asideCall(a, rctx, func(ctx context.Context, x asideArgs) (bool, error) {
			return x.a.rdb.SetNX(ctx, x.lock, x.token, x.a.o.LockTTL).Result()
		}, asideArgs{a: a, lock: lock, token: token})
		if err != nil {
			a.logRedis(rctx, "refresh lock", full, err)
			return
		}
		if !acquired {
			return // another instance is filling or refreshing
		}
		epoch := a.local.epochNow()
		f, err := a.fetchAndStore(rctx, full, lock, token, ttl, fill)
		if err != nil {
			a.log.LogAttrs(rctx, slog.LevelWarn, "cachehandler: aside: early refresh failed; the cached value stays",
				slog.String("key", full), slog.Any("err", err))
			return
		}
		if f.life > 0 {
			a.local.put(full, f.raw, f.life, epoch)
		}
	}()
}

// jitter spreads ttl over ttl×(1±Jitter), never below 1 ms (an expiry of
// zero would mean none).
func (a *Aside) jitter(ttl time.Duration) time.Duration {
	d := ttl
	if a.o.Jitter > 0 {
		d = time.Duration(float64(ttl) * (1 + a.o.Jitter*(2*mrand.Float64()-1)))
	}
	return max(d, time.Millisecond)
}

// asideArgs are what an Aside's Redis call needs: the Aside, the key and,
// as the call requires, a value and its expiry, the fill lock and its
// token. They are passed to the call rather than captured by it (see
// bounded.Call).
type asideArgs struct {
	a           *Aside
	full        string
	raw         []byte
	exp         time.Duration
	lock, token string
}

// asideRead is what a read of a key returns: the value, its remaining
// life, and whether the fill lock was taken on the way.
type asideRead struct {
	raw      []byte
	pttl     time.Duration
	acquired bool
}

// asideCall makes one Redis call of a, fn(ctx, arg), through the breaker
// and bounded by AsideOptions.Timeout whatever the client.
func asideCall[T any](a *Aside, ctx context.Context, fn func(context.Context, asideArgs) (T, error), arg asideArgs) (T, error) {
	return bounded.Guarded(ctx, &a.guard, fn, arg)
}

// asideDo is asideCall for a function that returns only an error.
func asideDo(a *Aside, ctx context.Context, fn func(context.Context, asideArgs) error, arg asideArgs) error {
	return bounded.GuardedDo(ctx, &a.guard, fn, arg)
}

func (a *Aside) logRedis(ctx context.Context, op, key string, err error) {
	level := slog.LevelWarn
	if errors.Is(err, breaker.ErrOpen) {
		level = slog.LevelDebug // already logged when it opened
	}
	a.log.LogAttrs(ctx, level, "cachehandler: aside: redis failed; fetching directly",
		slog.String("op", op), slog.String("key", key), slog.Any("err", err))
}
