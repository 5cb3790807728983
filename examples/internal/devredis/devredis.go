// Package devredis gives the runnable examples their Redis: the server
// named by REDIS_URL, or an embedded miniredis whose keys expire as they
// would on Redis.
//
// miniredis counts TTLs down only when told to (FastForward); left alone,
// nothing it holds ever expires, so a long-running demo would grow without
// bound and behave unlike Redis. Embedded tells it, several times a second,
// how much time has passed.
package devredis

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that selects a real Redis.
const EnvURL = "REDIS_URL"

// TickInterval is how often the embedded store's clock moves: a key
// expires at most this late.
const TickInterval = 250 * time.Millisecond

// Connect returns a client of the Redis named by REDIS_URL or, when it is
// unset, of a new Embedded store, and a function that closes what it opened.
// realUse is the command line that runs the program on a real Redis; it is
// logged with the warning that the embedded store is for trying things out.
// Nil logger means slog.Default().
func Connect(logger *slog.Logger, realUse string) (redis.UniversalClient, func(), error) {
	if logger == nil {
		logger = slog.Default()
	}
	if u := os.Getenv(EnvURL); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		opt.ContextTimeoutEnabled = true // go-redis then ends calls at redisware's timeouts itself
		rdb := redis.NewClient(opt)
		logger.Info("using Redis from "+EnvURL, "addr", opt.Addr)
		return rdb, func() { _ = rdb.Close() }, nil
	}
	e, err := Start()
	if err != nil {
		return nil, nil, err
	}
	logger.Warn(EnvURL+" is unset: using an embedded in-memory Redis (miniredis), for trying things out only; "+
		"its data is lost on exit. For real use: "+realUse, "addr", e.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: e.Addr(), ContextTimeoutEnabled: true})
	return rdb, func() { _ = rdb.Close(); e.Close() }, nil
}

// Embedded is an in-process miniredis whose TTLs run down with a clock.
type Embedded struct {
	mr  *miniredis.Miniredis
	now func() time.Time

	mu   sync.Mutex
	last time.Time // the clock's reading at the last Advance

	ticker   *time.Ticker // nil when the ticks come from elsewhere (tests)
	stop     context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// Start starts an Embedded store on a loopback port whose TTLs follow the
// wall clock, advanced every TickInterval. Close stops it.
func Start() (*Embedded, error) {
	t := time.NewTicker(TickInterval)
	e, err := start(time.Now, t.C)
	if err != nil {
		t.Stop()
		return nil, err
	}
	e.ticker = t
	return e, nil
}

// start starts a store whose TTLs follow now, advanced on every tick.
func start(now func() time.Time, ticks <-chan time.Time) (*Embedded, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, fmt.Errorf("devredis: embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{mr: mr, now: now, last: now(), stop: cancel, done: make(chan struct{})}
	go e.run(ctx, ticks)
	return e, nil
}

func (e *Embedded) run(ctx context.Context, ticks <-chan time.Time) {
	defer close(e.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			e.Advance()
		}
	}
}

// Addr is the store's host:port.
func (e *Embedded) Addr() string { return e.mr.Addr() }

// Advance moves every TTL down by the time the clock says has passed since
// the previous Advance; keys whose TTL runs out are deleted, as Redis would.
func (e *Embedded) Advance() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if d := now.Sub(e.last); d > 0 {
		e.mr.FastForward(d)
	}
	e.last = now
}

// Close stops the clock and the store. It is safe to call more than once.
func (e *Embedded) Close() {
	e.stopOnce.Do(func() {
		e.stop()
		<-e.done
		if e.ticker != nil {
			e.ticker.Stop()
		}
		e.mr.Close()
	})
}
