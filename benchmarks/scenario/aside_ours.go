package scenario

// This file is the only one that calls our cache-aside API, so the move of
// cache-aside into its own package (aside.New, aside.GetOrSet) changes only
// these lines.

import (
	"context"

	"github.com/redisware/redisware/cachehandler"
)

// oursAside returns GetOrSet of our cache-aside on asideKey, with the local
// tier when local, and what closes it.
func oursAside(env Env, local bool) (asideGetter, func() error, error) {
	o := cachehandler.AsideOptions{Prefix: env.Prefix + "aside:"}
	if local {
		o.LocalSize = asideLocalMax
		o.LocalTTL = asideLocalTTL
	}
	a := cachehandler.NewAside(env.RDB, o)
	get := func(ctx context.Context, fetch func(context.Context) (Item, error)) (Item, error) {
		return cachehandler.GetOrSet(ctx, a, asideKey, asideTTL, fetch)
	}
	return get, a.Close, nil
}
