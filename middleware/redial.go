package middleware

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedialEvery is how often Redial's hook dials again when its
// interval is zero or less.
const DefaultRedialEvery = 10 * time.Millisecond

// Redial returns a go-redis hook that makes a client notice a restarted
// Redis within about every (DefaultRedialEvery, 10 ms, when every is zero or
// less): a dial that finds nobody listening (connection refused) is tried
// again every that long until the dial's context ends, instead of failing
// at once. Add it to a client before use:
//
//	rdb := redis.NewClient(opt)
//	rdb.AddHook(middleware.Redial(0))
//
// On a *redis.ClusterClient add it to each node's client, with
// rdb.OnNewNode(func(c *redis.Client) { c.AddHook(middleware.Redial(0)) }).
//
// Why: go-redis v9 counts failed dials, and once PoolSize of them have
// failed (10 per CPU by default; a handful of requests during an outage
// get there), its pool stops dialing: every request gets the last dial
// error at once, until a background re-dial succeeds, and that one tries
// once a second. So a client without this hook keeps failing for up to a
// second after Redis is back, whatever the breakers do. With it, that
// background re-dial waits for Redis, dialing every 10 ms for up to
// DialTimeout (5 s by default) before its one-second pause, and the pool
// dials again as soon as Redis accepts connections.
//
// The cost: while Redis is down, a dial waits until its context ends (the
// Timeout of the package making the call) rather than failing at once; a
// call with no deadline of its own waits up to the client's DialTimeout.
// Errors other than a refused connection (an unknown host, a timeout) are
// returned at once, as without the hook.
func Redial(every time.Duration) redis.Hook {
	if every <= 0 {
		every = DefaultRedialEvery
	}
	return redialHook{every}
}

type redialHook struct{ every time.Duration }

func (h redialHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var t *time.Timer
		for {
			conn, err := next(ctx, network, addr)
			if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
				if t != nil {
					t.Stop()
				}
				return conn, err
			}
			if t == nil {
				t = time.NewTimer(h.every)
			} else {
				t.Reset(h.every)
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, err
			case <-t.C:
			}
		}
	}
}

func (redialHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (redialHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
