package aside

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"
)

// maybeRefresh starts a background refresh of an entry written for life
// that has pttl left, when that is close to expiry, unless one is running
// or the Cache is closed. The refreshed value is stored for ttl.
func (a *Cache) maybeRefresh(ctx context.Context, full string, ttl, life, pttl time.Duration, fill func(context.Context) ([]byte, error)) {
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
		token := strconv.FormatUint(rand.Uint64(), 36)
		acquired, err := call(rctx, a, "refresh-lock", func(ctx context.Context, x callArgs) (bool, error) {
			return x.a.rdb.SetNX(ctx, x.lock, x.token, x.a.o.LockTTL).Result()
		}, callArgs{a: a, lock: lock, token: token})
		if err != nil {
			a.logRedis(rctx, "refresh lock", full, err)
			a.refreshed(rctx, RefreshFailed)
			return
		}
		if !acquired {
			a.refreshed(rctx, RefreshSkipped)
			return // another instance is filling or refreshing
		}
		epoch := a.local.epochNow()
		f, err := a.fetchAndStore(rctx, full, lock, token, ttl, fill)
		if err != nil {
			a.log.LogAttrs(rctx, slog.LevelWarn, "aside: early refresh failed; the cached value stays",
				slog.String("key", full), slog.Any("err", err))
			a.refreshed(rctx, RefreshFailed)
			return
		}
		if f.life > 0 {
			a.local.put(full, f.raw, f.life, epoch)
			a.refreshed(rctx, RefreshStored)
		} else {
			a.refreshed(rctx, RefreshFailed) // fetched, but Redis would not store it
		}
	}()
}
