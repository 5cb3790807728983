package scenario

import (
	"context"

	"github.com/redisware/redisware/aside"
)

// oursAside returns GetOrSet of our cache-aside on asideKey, with the local
// tier when local, and what closes it.
func oursAside(env Env, local, direct bool) (asideGetter, func() error, error) {
	o := aside.Options{Prefix: env.Prefix + "aside:", NoAutoPipeline: direct}
	if local {
		o.LocalSize = asideLocalMax
		o.LocalTTL = asideLocalTTL
	}
	a, err := aside.New(env.RDB, o)
	if err != nil {
		return nil, nil, err
	}
	get := func(ctx context.Context, fetch func(context.Context) (Item, error)) (Item, error) {
		return aside.GetOrSet(ctx, a, asideKey, asideTTL, fetch)
	}
	return get, a.Close, nil
}
