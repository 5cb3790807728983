package scenario

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/redisware/redisware/middleware"
	"github.com/redisware/redisware/ratelimit"
)

// The limits of the rate-limit scenarios: allowRate per second with an equal
// burst admits every request the machine can send; denyRate per hour admits
// a key's first request and denies the rest.
const (
	allowRate = 1_000_000
	denyRate  = 1
)

// rateKey is the key a peer limits by: the client IP (as RemoteAddr gives
// it; no proxies here) or the X-Key header. Ours uses middleware.KeyByIP and
// middleware.KeyByHeader, which do the same and hash the key.
func rateKey(s Scenario) func(*http.Request) string {
	if s.Keys > 1 {
		return func(r *http.Request) string { return r.Header.Get(KeyHeader) }
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
}

func buildRateLimit(env Env, s Scenario, impl string, b *Built) error {
	allow := s.Kind == RateLimitAllow
	var mw func(http.Handler) http.Handler
	var err error
	switch impl {
	case ImplOurs, ImplOursDirect:
		mw, err = oursRateLimit(env, s, allow, impl == ImplOursDirect)
	case ImplRedisRate:
		mw = redisRateLimit(env, s, allow)
	case ImplUlule:
		mw, err = ululeRateLimit(env, s, allow)
	case ImplThrottled:
		mw, err = throttledRateLimit(env, s, allow)
	default:
		return fmt.Errorf("no rate limiter %q", impl)
	}
	if err != nil {
		return err
	}
	app := App()
	if impl == ImplOurs || impl == ImplOursDirect {
		inner := app
		app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if res, ok := ratelimit.ResultFromContext(r.Context()); ok && res.Source == ratelimit.FromFailOpen {
				b.FailOpen.Add(1)
			}
			inner.ServeHTTP(w, r)
		})
	}
	b.Handler = mw(app)
	return nil
}

func oursRateLimit(env Env, s Scenario, allow, direct bool) (func(http.Handler) http.Handler, error) {
	lim, err := ratelimit.New(env.RDB, ratelimit.Options{Prefix: env.Prefix + "ratelimit:", NoAutoPipeline: direct})
	if err != nil {
		return nil, err
	}
	limit := ratelimit.PerHour(denyRate)
	if allow {
		limit = ratelimit.Per(allowRate, time.Second)
	}
	keyFn := middleware.KeyByIP
	if s.Keys > 1 {
		keyFn = middleware.KeyByHeader(KeyHeader)
	}
	return lim.Handler(keyFn, limit), nil
}
