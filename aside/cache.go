package aside

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/observe"
	"github.com/redisware/redisware/internal/pipe"
	"github.com/redisware/redisware/internal/script"
	"golang.org/x/sync/singleflight"
)

// ErrNotFound is the sentinel a fetch function returns (or wraps) to say
// the item does not exist. With Options.NotFoundTTL set, GetOrSet
// remembers the answer in Redis for that long and returns ErrNotFound
// without calling fetch again.
var ErrNotFound = errors.New("aside: not found")

// Cache is a typed cache-aside helper over Redis; use it with GetOrSet, Set
// and Delete. It is safe for concurrent use. Values are stored as JSON
// strings under the caller's key (with Options.Prefix), each with an
// expiry. The package documentation describes stampede protection, the
// keys written and the failure policy.
type Cache struct {
	rdb     redis.UniversalClient
	o       Options
	log     *slog.Logger
	cluster bool
	id      string
	// guard: the breaker and Options.Timeout around every call.
	guard   bounded.Guard
	send    pipe.Sender // one command at a time, autopipelined
	scripts *script.Runner

	fills singleflight.Group
	local *tier

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
}

// negative is the value of a negative-cache entry. It is not JSON, so
// no real value is ever mistaken for it. (Its bytes predate this package
// and stay as they are, so that versions running side by side read each
// other's markers.)
const negative = "\x00cachehandler:notfound"

// New returns a Cache over rdb, or an error if rdb is nil or an option is
// out of range (negative durations or sizes, Jitter or EarlyRefresh of 1
// or more, invalid Breaker settings). With a local tier it subscribes to the invalidation channel in
// the background (Redis need not be up yet); call Close when done.
func New(rdb redis.UniversalClient, o Options) (*Cache, error) {
	if rdb == nil {
		return nil, errors.New("aside: nil redis client")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	guard, err := observe.NewGuard(rdb, observe.GuardOptions{Name: "aside", Breaker: o.Breaker, Timeout: o.Timeout,
		Logger: o.Logger, Now: o.Now, OnCall: o.Observer.OnRedisCall, OnBreaker: o.Observer.OnBreaker})
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	send, err := pipe.New(rdb, o.NoAutoPipeline)
	if err != nil {
		return nil, fmt.Errorf("aside: %w", err)
	}
	a := &Cache{
		rdb:        rdb,
		send:       send,
		o:          o,
		log:        o.Logger,
		cluster:    isCluster(rdb),
		id:         hex.EncodeToString(id),
		guard:      guard,
		scripts:    script.NewRunner(send),
		refreshing: map[string]struct{}{},
		ready:      make(chan struct{}),
	}
	if o.LocalSize > 0 {
		if a.local, err = newTier(o.LocalSize, o.LocalTTL, o.Now); err != nil {
			return nil, fmt.Errorf("aside: local tier: %w", err)
		}
		a.subscribe()
	}
	return a, nil
}

// isCluster reports whether rdb shards keys over several nodes, so that one
// pipeline holding a key and its lock key (in other hash slots) may run on
// two nodes in either order. It asks what rdb can do rather than what type
// it is: a *redis.ClusterClient, or any wrapper that embeds one, has
// ForEachMaster.
func isCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(interface {
		ForEachMaster(context.Context, func(context.Context, *redis.Client) error) error
	})
	return ok
}

// Close stops the invalidation subscription and waits for background
// refreshes to finish. GetOrSet keeps working after Close, without early
// refresh and with a local tier no longer kept in sync (LocalTTL bounds
// its staleness). It is safe to call more than once.
func (a *Cache) Close() error {
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

// callArgs are what an Cache's Redis call needs: the Cache, the key and,
// as the call requires, a value and its expiry, the fill lock and its
// token. They are passed to the call rather than captured by it (see
// bounded.Call).
type callArgs struct {
	a           *Cache
	full        string
	raw         []byte
	exp         time.Duration
	lock, token string
}

// readResult is what a read of a key returns: the value, its remaining
// life, and whether the fill lock was taken on the way.
type readResult struct {
	raw      []byte
	pttl     time.Duration
	acquired bool
}

// call makes one Redis call of a, fn(ctx, arg), reported as op to the
// Observer, through the breaker and bounded by Options.Timeout whatever
// the client.
func call[T any](ctx context.Context, a *Cache, op string, fn func(context.Context, callArgs) (T, error), arg callArgs) (T, error) {
	return bounded.Guarded(ctx, &a.guard, op, fn, arg)
}

// do is call for a function that returns only an error.
func do(ctx context.Context, a *Cache, op string, fn func(context.Context, callArgs) error, arg callArgs) error {
	return bounded.GuardedDo(ctx, &a.guard, op, fn, arg)
}

func (a *Cache) logRedis(ctx context.Context, op, key string, err error) {
	if errors.Is(err, breaker.ErrOpen) {
		// Already reported when it opened.
		a.log.LogAttrs(ctx, slog.LevelDebug, "aside: redis skipped while the breaker is open", slog.String("op", op))
		return
	}
	if bounded.Gone(ctx) {
		// The caller went away: no news of Redis.
		a.log.LogAttrs(ctx, slog.LevelDebug, "aside: caller gone", slog.String("op", op), slog.Any("err", err))
		return
	}
	if a.o.OnError != nil {
		a.o.OnError(ctx, fmt.Errorf("aside: %s %q: %w", op, key, err))
		return
	}
	level := slog.LevelWarn
	if breaker.Quiet(err) {
		level = slog.LevelDebug // the breaker's lines report the outage
	}
	a.log.LogAttrs(ctx, level, "aside: redis failed; fetching directly",
		slog.String("op", op), slog.String("key", key), slog.Any("err", err))
}
