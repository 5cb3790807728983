package scenario

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/throttled/throttled/v2"
	throttledstore "github.com/throttled/throttled/v2/store/goredisstore.v9"
	"github.com/ulule/limiter/v3"
	ululestdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ululestore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// redisRateLimit is go-redis/redis_rate behind a minimal 429 middleware,
// hand-written here since the library has none: Allow, then 429 with
// Retry-After or the next handler; a Redis error answers 500. It sets no
// RateLimit headers, which makes it cheaper than ours.
func redisRateLimit(env Env, s Scenario, allow bool) func(http.Handler) http.Handler {
	lim := redis_rate.NewLimiter(env.RDB)
	limit := redis_rate.PerHour(denyRate)
	if allow {
		limit = redis_rate.PerSecond(allowRate)
	}
	key := rateKey(s)
	prefix := env.Prefix // the library puts "rate:" in front of it
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, err := lim.Allow(r.Context(), prefix+key(r), limit)
			if err != nil {
				http.Error(w, "rate limiter unavailable", http.StatusInternalServerError)
				return
			}
			if res.Allowed == 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(res.RetryAfter.Seconds()))))
				http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ululeRateLimit is ulule/limiter's own stdlib middleware and redis store,
// with its defaults (including its default error handler, which panics).
func ululeRateLimit(env Env, s Scenario, allow bool) (func(http.Handler) http.Handler, error) {
	store, err := ululestore.NewStoreWithOptions(env.RDB, limiter.StoreOptions{
		Prefix:          env.Prefix + "ulule",
		CleanUpInterval: limiter.DefaultCleanUpInterval,
	})
	if err != nil {
		return nil, err
	}
	rate := limiter.Rate{Period: time.Hour, Limit: denyRate}
	if allow {
		rate = limiter.Rate{Period: time.Second, Limit: allowRate}
	}
	key := rateKey(s)
	mw := ululestdlib.NewMiddleware(limiter.New(store, rate), ululestdlib.WithKeyGetter(key))
	return mw.Handler, nil
}

// throttledRateLimit is throttled's HTTPRateLimiterCtx on its go-redis v9
// store, with its defaults.
func throttledRateLimit(env Env, s Scenario, allow bool) (func(http.Handler) http.Handler, error) {
	store, err := throttledstore.NewCtx(env.RDB, env.Prefix+"throttled:")
	if err != nil {
		return nil, err
	}
	// throttled's MaxBurst counts requests beyond the first.
	quota := throttled.RateQuota{MaxRate: throttled.PerHour(denyRate), MaxBurst: denyRate - 1}
	if allow {
		quota = throttled.RateQuota{MaxRate: throttled.PerSec(allowRate), MaxBurst: allowRate - 1}
	}
	rl, err := throttled.NewGCRARateLimiterCtx(store, quota)
	if err != nil {
		return nil, err
	}
	h := &throttled.HTTPRateLimiterCtx{RateLimiter: rl, VaryBy: keyFunc(rateKey(s))}
	return h.RateLimit, nil
}

// keyFunc adapts a key function to throttled's VaryBy.
type keyFunc func(*http.Request) string

func (f keyFunc) Key(r *http.Request) string { return f(r) }
