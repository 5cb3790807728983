package aside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redisware/redisware/middleware"
)

// Defaults of Options, used where a field is zero.
const (
	DefaultJitter   = 0.1
	DefaultLocalTTL = 5 * time.Second
	DefaultChannel  = "cache:aside:invalidate" // after Options.Prefix
	DefaultLockTTL  = 10 * time.Second
	DefaultLockWait = 5 * time.Second
	DefaultTimeout  = 250 * time.Millisecond
)

// Options configure a Cache. The zero value is the default everywhere: no
// prefix, ±10 % jitter, no negative cache, no early refresh, no local tier.
type Options struct {
	// Prefix is put in front of every key GetOrSet, Set and Delete are
	// given, e.g. "app:". Empty means the caller's key as it is.
	Prefix string
	// Jitter spreads each expiry uniformly over ttl×(1±Jitter), so keys
	// written together do not expire together. Zero means DefaultJitter
	// (±10 %); negative means no jitter. Must be below 1.
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
	// every LocalTTL, kept between 100 ms and 3 s. Zero means
	// DefaultLocalTTL (5 s).
	LocalTTL time.Duration
	// Channel is the pub/sub channel of invalidations. Empty means
	// Prefix + DefaultChannel.
	Channel string
	// LockTTL is how long the fill lock (<key>:lock) is held at most.
	// Zero means DefaultLockTTL (10 s), as in cachehandler.
	LockTTL time.Duration
	// LockWait is how long a caller waits for another instance's fill
	// before it fetches itself. Zero means DefaultLockWait (5 s).
	LockWait time.Duration
	// FetchTimeout bounds each run of a fetch function, and of an early
	// refresh: fetch runs detached from its callers' cancellation (they
	// share it), and without a bound one that never returns would hold
	// its key's fill in this process forever. When it passes, fetch's
	// context ends and the callers waiting on it get the context's
	// error. Zero means LockTTL, so the fill lock never outlives a fetch
	// that is still running.
	FetchTimeout time.Duration
	// Timeout bounds each Redis call. Zero means DefaultTimeout (250 ms),
	// as in cachehandler. It holds for any client, whatever its own
	// timeouts; a go-redis client with ContextTimeoutEnabled stops its
	// network I/O at the deadline itself, which spares the Cache a
	// goroutine per call.
	Timeout time.Duration

	// NoAutoPipeline sends each Redis command on its own instead of through
	// the client's autopipeliner. By default (false), when the client is a
	// *redis.Client or *redis.ClusterClient, the commands this package sends
	// one at a time on a request's path go through the client's deferred
	// autopipeliner (AsyncAutoPipeline, shared with the application and
	// closed with the client): concurrent requests' commands then share one
	// write and one read, which is what makes the package fast under load.
	// Order, read-your-writes, Timeout and the scripts' atomicity hold
	// either way; see the README's "Autopipelining".
	NoAutoPipeline bool
	// Breaker configures the circuit breaker in front of Redis: after
	// Breaker.Threshold consecutive failed calls, GetOrSet fetches
	// directly and Set and Delete fail at once, without calling Redis,
	// until a probe finds it back (see middleware.BreakerOptions). The
	// zero value means every default: open after 5 failures, probe after
	// 10 ms, then at most every 50 ms.
	Breaker middleware.BreakerOptions
	// Logger receives Redis failures (when OnError is nil), corrupt values
	// and the breaker's lines (opened, still open every 10 s, closed). Nil
	// means slog.Default().
	Logger *slog.Logger
	// OnError observes every failed Redis call of GetOrSet and of early
	// refreshes (but not the calls skipped while the circuit breaker is
	// open, nor those of a caller whose context was cancelled, which are
	// no Redis failure); it answers nothing: GetOrSet fetches directly
	// regardless. Set and Delete return their errors instead. Nil means
	// the error is logged with Logger at Warn level, or at Debug level
	// when the breaker's own lines report it (any but the first of
	// consecutive failures), so an outage is a handful of lines.
	OnError func(ctx context.Context, err error)
	// Observer receives where GetOrSet's answers come from, the fetches,
	// early refreshes and invalidations, the Redis calls and breaker
	// changes, for metrics and traces. The zero value observes nothing
	// and costs nothing.
	Observer Observer
	// Now is the clock of the local tier's expiries and of the breaker's
	// cool-downs; entries in Redis expire by Redis' clock, and LockWait
	// and FetchTimeout are timers. Nil means time.Now.
	Now func() time.Time
}

// withDefaults returns a copy of o with its defaults filled in, or an
// error naming the first option out of range.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Jitter >= 1:
		return o, fmt.Errorf("aside: Jitter %v must be below 1", o.Jitter)
	case o.EarlyRefresh < 0 || o.EarlyRefresh >= 1:
		return o, fmt.Errorf("aside: EarlyRefresh %v must be in [0, 1)", o.EarlyRefresh)
	case o.NotFoundTTL < 0, o.LocalTTL < 0, o.LockTTL < 0, o.LockWait < 0, o.FetchTimeout < 0, o.Timeout < 0:
		return o, errors.New("aside: negative duration in Options")
	case o.LocalSize < 0:
		return o, fmt.Errorf("aside: LocalSize %d is negative", o.LocalSize)
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	} else if o.Jitter < 0 {
		o.Jitter = 0
	}
	if o.LocalTTL == 0 {
		o.LocalTTL = DefaultLocalTTL
	}
	if o.Channel == "" {
		o.Channel = o.Prefix + DefaultChannel
	}
	if o.LockTTL == 0 {
		o.LockTTL = DefaultLockTTL
	}
	if o.LockWait == 0 {
		o.LockWait = DefaultLockWait
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = o.LockTTL
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
