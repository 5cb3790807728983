package aside

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// lockWatch is a go-redis hook that sees a client's fill-lock attempts
// (SET <key>:lock <token> PX <ttl> NX) from outside the Cache: polls counts
// them, and onWait runs after each one that found the lock taken, that is
// whenever an instance starts or goes on waiting for another's fill.
type lockWatch struct {
	polls  atomic.Int64
	mu     sync.Mutex
	onWait func()
}

// watchLocks adds a lockWatch calling onWait (which may be nil) to rdb.
func watchLocks(rdb redis.UniversalClient, onWait func()) *lockWatch {
	w := &lockWatch{onWait: onWait}
	rdb.AddHook(w)
	return w
}

func (w *lockWatch) setOnWait(f func()) {
	w.mu.Lock()
	w.onWait = f
	w.mu.Unlock()
}

func (w *lockWatch) saw(cmds ...redis.Cmder) {
	for _, c := range cmds {
		bc, ok := c.(*redis.BoolCmd)
		args := c.Args()
		if !ok || c.Name() != "set" || len(args) < 2 || !strings.EqualFold(args[len(args)-1].(string), "nx") {
			continue
		}
		if k, _ := args[1].(string); !strings.HasSuffix(k, ":lock") {
			continue
		}
		w.polls.Add(1)
		if bc.Err() == nil && !bc.Val() {
			w.mu.Lock()
			f := w.onWait
			w.mu.Unlock()
			if f != nil {
				f()
			}
		}
	}
}

func (w *lockWatch) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w *lockWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		w.saw(cmd)
		return err
	}
}

func (w *lockWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		w.saw(cmds...)
		return err
	}
}
