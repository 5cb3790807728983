package aside

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/redis/go-redis/v9"
)

// GetOrSet returns the value cached under key, decoded from JSON into T.
// On a miss it calls fetch, stores its result as JSON for ttl (jittered,
// see Options.Jitter) and returns it; concurrent misses share one
// fetch in the process and, through a lock key, across instances. ttl is
// required: GetOrSet returns an error without fetching if it is not
// positive.
//
// An error from fetch is returned as it is and nothing is cached, except
// ErrNotFound with Options.NotFoundTTL set: then ErrNotFound is cached
// and returned. fetch runs with a context that keeps ctx's values but not
// its cancellation, since callers that share the fetch still wait for it;
// a caller whose ctx ends stops waiting and gets ctx.Err(). Its context
// ends after Options.FetchTimeout, and the callers sharing it stop waiting
// then even if fetch does not return. A panic in fetch is logged with its
// stack and returned as an error to every caller sharing the fetch (it
// runs on a goroutine of its own, where it would otherwise end the
// process).
//
// A hit costs one Redis round trip, and none when the local tier holds the
// key; a miss three (on Redis Cluster five, as the key and its lock may
// live on different nodes). Each call decodes its own copy of the value.
//
// key goes into Redis as it is (after the prefix): hash or escape parts
// that come from untrusted input, and bound their length.
func GetOrSet[T any](ctx context.Context, a *Cache, key string, ttl time.Duration, fetch func(ctx context.Context) (T, error)) (T, error) {
	var v T
	switch {
	case ttl <= 0:
		return v, fmt.Errorf("aside: GetOrSet %q: ttl %v is not positive", key, ttl)
	case key == "":
		return v, errors.New("aside: GetOrSet: empty key")
	case fetch == nil:
		return v, fmt.Errorf("aside: GetOrSet %q: nil fetch", key)
	}
	full := a.o.Prefix + key
	// The local tier first, before any closure is built: its hits are
	// the hot path.
	if raw, ok := a.local.get(full); ok {
		err := decodeValue(raw, &v)
		if err == nil {
			a.got(ctx, GetHit, true)
			return v, nil
		}
		if errors.Is(err, ErrNotFound) {
			a.got(ctx, GetNegative, true)
			var zero T
			return zero, err
		}
		a.local.remove(full) // put there for another type
	}
	fill := func(ctx context.Context) ([]byte, error) {
		return a.runFetch(ctx, key, full, func(ctx context.Context) ([]byte, error) {
			x, err := fetch(ctx)
			if err != nil {
				return nil, err
			}
			raw, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("aside: GetOrSet %q: encode: %w", key, err)
			}
			return raw, nil
		})
	}
	check := func(raw []byte) error {
		var t T
		return decodeValue(raw, &t)
	}
	decode := func(raw []byte) error { return decodeValue(raw, &v) }
	if err := a.getOrSet(ctx, full, ttl, fill, check, decode); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Set stores v under key for ttl (jittered) and evicts the key from every
// instance's local tier. Redis failures are returned.
func Set[T any](ctx context.Context, a *Cache, key string, v T, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("aside: Set %q: ttl %v is not positive", key, ttl)
	}
	if key == "" {
		return errors.New("aside: Set: empty key")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("aside: Set %q: encode: %w", key, err)
	}
	if err := a.setRaw(ctx, a.o.Prefix+key, raw, a.jitter(ttl)); err != nil {
		return fmt.Errorf("aside: Set %q: %w", key, err)
	}
	return nil
}

// setRaw is Set of an encoded value, under its full key, for exp. It is
// not generic, so its Redis call allocates no closure.
func (a *Cache) setRaw(ctx context.Context, full string, raw []byte, exp time.Duration) error {
	err := do(ctx, a, "set", func(ctx context.Context, x callArgs) error {
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
	}, callArgs{a: a, full: full, raw: raw, exp: exp})
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
// tier (through a message on Options.Channel). Redis failures are
// returned: the key may still be cached.
func (a *Cache) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("aside: Delete: empty key")
	}
	full := a.o.Prefix + key
	err := do(ctx, a, "delete", func(ctx context.Context, x callArgs) error {
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
	}, callArgs{a: a, full: full})
	// After the DEL, not before: a GetOrSet of this process that read
	// the value before the DEL must not put it back (see Set).
	a.local.remove(full)
	if err != nil {
		return fmt.Errorf("aside: Delete %q: %w", key, err)
	}
	return nil
}

// runFetch runs fetch (a GetOrSet's fetch and its encoding) on a goroutine
// of its own, with ctx bounded by Options.FetchTimeout, and returns what it
// returns, or an error wrapping context.DeadlineExceeded once the bound
// passes, whether or not fetch honours its context: a fetch that never
// returns then leaks its goroutine, not its key, whose next GetOrSet
// fetches again. A panic in fetch becomes an error (on that goroutine it
// would otherwise end the process).
func (a *Cache) runFetch(ctx context.Context, key, full string, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	var start time.Time
	if a.o.Observer.OnFetch != nil {
		start = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, a.o.FetchTimeout)
	defer cancel()
	type result struct {
		raw []byte
		err error
	}
	ch := make(chan result, 1) // never blocks a fetch that outlived the wait
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				a.log.LogAttrs(ctx, slog.LevelError, "aside: fetch panicked",
					slog.String("key", full), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				r = result{err: fmt.Errorf("aside: GetOrSet %q: fetch panicked: %v", key, p)}
			}
			ch <- r
		}()
		r.raw, r.err = fetch(ctx)
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		r.err = fmt.Errorf("aside: GetOrSet %q: fetch ran past FetchTimeout (%v): %w", key, a.o.FetchTimeout, ctx.Err())
	}
	if a.o.Observer.OnFetch != nil {
		a.o.Observer.OnFetch(ctx, FetchEvent{Duration: time.Since(start), Err: r.err})
	}
	return r.raw, r.err
}

// decodeValue decodes raw into a zeroed *v; the negative-cache marker
// decodes as ErrNotFound.
func decodeValue[T any](raw []byte, v *T) error {
	var zero T
	*v = zero
	if string(raw) == negative {
		return ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

// usable reports whether a decode result means the raw value can be
// served: it decoded, or it is a negative-cache marker.
func usable(err error) bool { return err == nil || errors.Is(err, ErrNotFound) }

// filled is what one fill hands to every caller sharing it: the raw
// value and how long it is known to live in Redis (zero if it was not
// stored, so the local tier must not keep it).
type filled struct {
	raw  []byte
	life time.Duration
}

func (a *Cache) getOrSet(ctx context.Context, full string, ttl time.Duration,
	fill func(context.Context) ([]byte, error), check, decode func([]byte) error) error {
	epoch := a.local.epochNow()
	raw, pttl, err := a.read(ctx, full)
	redisUp := err == nil
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the caller left: fetch nothing
		}
		a.logRedis(ctx, "read", full, err)
		a.got(ctx, GetBypass, false)
	} else if raw != nil {
		derr := decode(raw)
		if usable(derr) {
			if derr == nil {
				a.got(ctx, GetHit, false)
			} else {
				a.got(ctx, GetNegative, false)
			}
			a.local.put(full, raw, pttl, epoch)
			life := ttl // what the entry was written with, before jitter
			if derr != nil {
				life = a.o.NotFoundTTL // zero (no refresh) if not ours
			}
			a.maybeRefresh(ctx, full, ttl, life, pttl, fill)
			return derr
		}
		a.log.LogAttrs(ctx, slog.LevelWarn, "aside: cached value does not decode; refetching",
			slog.String("key", full), slog.Any("err", derr))
	}
	if redisUp {
		a.got(ctx, GetMiss, false)
	}
	ch := a.fills.DoChan(full, func() (any, error) {
		fctx := context.WithoutCancel(ctx)
		if !redisUp {
			raw, err := fill(fctx)
			return filled{raw: raw}, err
		}
		return a.fillLocked(fctx, full, ttl, fill, check)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return r.Err
		}
		f := r.Val.(filled)
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
func (a *Cache) read(ctx context.Context, full string) (raw []byte, pttl time.Duration, err error) {
	r, err := call(ctx, a, "get", func(ctx context.Context, x callArgs) (readResult, error) {
		a, full := x.a, x.full
		if a.o.EarlyRefresh == 0 && a.local == nil {
			raw, err := a.send.Get(ctx, full)
			return readResult{raw: raw}, err
		}
		var get *redis.StringCmd
		var ttl *redis.DurationCmd
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, full)
			ttl = p.PTTL(ctx, full)
			return nil
		})
		raw, err := get.Bytes()
		return readResult{raw: raw, pttl: ttl.Val()}, err
	}, callArgs{a: a, full: full})
	if errors.Is(err, redis.Nil) {
		return nil, 0, nil
	}
	return r.raw, r.pttl, err
}

// jitter spreads ttl over ttl×(1±Jitter), never below 1 ms (an expiry of
// zero would mean none).
func (a *Cache) jitter(ttl time.Duration) time.Duration {
	d := ttl
	if a.o.Jitter > 0 {
		d = time.Duration(float64(ttl) * (1 + a.o.Jitter*(2*rand.Float64()-1)))
	}
	return max(d, time.Millisecond)
}
