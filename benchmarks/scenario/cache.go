package scenario

import (
	"fmt"

	"github.com/redisware/redisware/cachehandler"
)

func buildCache(env Env, s Scenario, impl string, b *Built) error {
	origin := cacheApp(s.BodySize, b.Origin)
	switch impl {
	case ImplOurs, ImplOursDirect:
		c, err := cachehandler.New(env.RDB, cachehandler.Options{Prefix: env.Prefix + "cache:", NoAutoPipeline: impl == ImplOursDirect})
		if err != nil {
			return err
		}
		b.onClose(c.Close)
		b.Handler = c.Middleware(origin)
	case ImplGoCache, ImplGoCacheOnce:
		b.Handler = goCacheMiddleware(env, impl == ImplGoCacheOnce)(origin)
	default:
		return fmt.Errorf("no response cache %q", impl)
	}
	return nil
}
