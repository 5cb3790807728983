package aside

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/script"
)

var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// fillLocked takes the fill lock or waits for whoever holds it. It runs
// once per key per process at a time (singleflight).
func (a *Cache) fillLocked(ctx context.Context, full string, ttl time.Duration,
	fill func(context.Context) ([]byte, error), check func([]byte) error) (filled, error) {
	lock := full + ":lock"
	token := strconv.FormatUint(rand.Uint64(), 36)
	deadline := time.Now().Add(a.o.LockWait)
	wait := 5 * time.Millisecond
	for {
		acquired, raw, err := a.lockAndGet(ctx, full, lock, token)
		if err != nil {
			a.logRedis(ctx, "lock", full, err)
			if acquired { // the read failed after the lock was taken
				a.unlock(ctx, lock, token)
			}
			raw, err := fill(ctx) // Redis is failing: fetch, do not store
			return filled{raw: raw}, err
		}
		if raw != nil && usable(check(raw)) {
			if acquired {
				a.unlock(ctx, lock, token)
			}
			// Another instance just stored it: it lives at least the
			// shortest jittered expiry.
			life := ttl
			if string(raw) == negative {
				life = a.o.NotFoundTTL
			}
			return filled{raw: raw, life: time.Duration(float64(life) * (1 - a.o.Jitter))}, nil
		}
		if acquired {
			return a.fetchAndStore(ctx, full, lock, token, ttl, fill)
		}
		left := time.Until(deadline)
		if left <= 0 {
			a.log.LogAttrs(ctx, slog.LevelWarn, "aside: gave up waiting for another instance's fill",
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
func (a *Cache) lockAndGet(ctx context.Context, full, lock, token string) (acquired bool, raw []byte, err error) {
	r, err := call(ctx, a, "lock", func(ctx context.Context, x callArgs) (readResult, error) {
		a, full, lock, token := x.a, x.full, x.lock, x.token
		if a.cluster {
			// The two keys may live on different nodes: keep the order.
			ok, err := a.rdb.SetNX(ctx, lock, token, a.o.LockTTL).Result()
			if err != nil {
				return readResult{}, err
			}
			raw, err := a.rdb.Get(ctx, full).Bytes()
			return readResult{raw: raw, acquired: ok}, err
		}
		var setnx *redis.BoolCmd
		var get *redis.StringCmd
		_, _ = a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			setnx = p.SetNX(ctx, lock, token, a.o.LockTTL)
			get = p.Get(ctx, full)
			return nil
		})
		if err := setnx.Err(); err != nil {
			return readResult{}, err
		}
		raw, err := get.Bytes()
		return readResult{raw: raw, acquired: setnx.Val()}, err
	}, callArgs{a: a, full: full, lock: lock, token: token})
	if errors.Is(err, redis.Nil) {
		return r.acquired, nil, nil
	}
	return r.acquired, r.raw, err
}

func (a *Cache) unlock(ctx context.Context, lock, token string) {
	err := do(ctx, a, "unlock", func(ctx context.Context, x callArgs) error {
		return x.a.scripts.Run(ctx, unlockScript, []string{x.lock}, x.token).Err()
	}, callArgs{a: a, lock: lock, token: token})
	if err != nil {
		a.logRedis(ctx, "unlock", lock, err)
	}
}

// fetchAndStore runs fill and stores its result (or a negative-cache
// marker), releasing the lock if one is held.
func (a *Cache) fetchAndStore(ctx context.Context, full, lock, token string, ttl time.Duration,
	fill func(context.Context) ([]byte, error)) (filled, error) {
	raw, err := fill(ctx)
	exp := a.jitter(ttl)
	if err != nil {
		if !errors.Is(err, ErrNotFound) || a.o.NotFoundTTL <= 0 {
			if lock != "" {
				a.unlock(ctx, lock, token)
			}
			return filled{}, err
		}
		raw, exp = []byte(negative), a.jitter(a.o.NotFoundTTL)
	}
	err = do(ctx, a, "store", func(ctx context.Context, x callArgs) error {
		a, full, raw, exp, lock, token := x.a, x.full, x.raw, x.exp, x.lock, x.token
		if a.cluster || lock == "" {
			if err := a.rdb.Set(ctx, full, raw, exp).Err(); err != nil {
				return err
			}
			if lock == "" {
				return nil
			}
			return a.scripts.Run(ctx, unlockScript, []string{lock}, token).Err()
		}
		// One node: the pipeline keeps the order value-then-unlock.
		return a.scripts.Exec(ctx, []script.Op{
			{Plain: func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.Set(ctx, full, raw, exp) }},
			{Script: unlockScript, Keys: []string{lock}, Args: []any{token}},
		})
	}, callArgs{a: a, full: full, raw: raw, exp: exp, lock: lock, token: token})
	if err != nil {
		a.logRedis(ctx, "store", full, err)
		return filled{raw: raw}, nil
	}
	return filled{raw: raw, life: exp}, nil
}
