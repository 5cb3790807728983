package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Kind is what a scenario exercises.
type Kind uint8

// Kinds of scenario.
const (
	Bare Kind = iota
	RateLimitAllow
	RateLimitDeny
	SessionRead
	SessionWrite
	CacheHit
	AsideHit
)

// Keys is the number of distinct keys (X-Key values, sessions) of the
// spread-out variants of the rate-limit and session scenarios.
const Keys = 1000

// KeyHeader carries a request's rate-limit key in the spread-out variants.
const KeyHeader = "X-Key"

// ReadValue is the counter value a session-read scenario seeds and expects.
const ReadValue = 42

// Scenario is one measured situation.
type Scenario struct {
	// Name is the scenario's name on the command line and in the report.
	Name string
	// Kind is what it exercises.
	Kind Kind
	// Keys is 1 for one hot key (one client IP, one session), Keys for
	// requests spread over that many keys.
	Keys int
	// BodySize is the response body size of the cache scenarios.
	BodySize int
	// Local selects the in-process tier of the aside scenario.
	Local bool
	// Impls are the implementations measured, ours first.
	Impls []string
	// Doc says what a request does, for the report.
	Doc string
}

// Implementation names.
const (
	ImplBare = "net/http"
	ImplOurs = "redisware"
	// ImplOursDirect is ours with NoAutoPipeline: every command a round
	// trip of its own, to show what the autopipeliner is worth. It is not
	// a peer: ours ÷ best peer never takes it.
	ImplOursDirect  = "redisware-direct"
	ImplRedisRate   = "redis_rate"
	ImplUlule       = "ulule"
	ImplThrottled   = "throttled"
	ImplSCS         = "scs"
	ImplGorilla     = "gorilla"
	ImplGoCache     = "gocache"
	ImplGoCacheOnce = "gocache-once"
)

// Labels describe the implementations in the report; hand-written parts are
// named as such.
var Labels = map[string]string{
	ImplBare:        "bare net/http handler, no Redis",
	ImplOurs:        "redisware (this module)",
	ImplOursDirect:  "redisware with NoAutoPipeline: each command its own round trip (not a peer)",
	ImplRedisRate:   "go-redis/redis_rate v10 + hand-written minimal 429 middleware",
	ImplUlule:       "ulule/limiter v3, its stdlib middleware + redis store",
	ImplThrottled:   "throttled v2 HTTPRateLimiterCtx + store/goredisstore.v9",
	ImplSCS:         "alexedwards/scs v2 LoadAndSave + scs/goredisstore",
	ImplGorilla:     "gorilla/sessions v1.4 + rbcervilla/redisstore v9",
	ImplGoCache:     "hand-written response cache on go-redis/cache v9 Get/Set (no Once)",
	ImplGoCacheOnce: "hand-written response cache on go-redis/cache v9 Once",
}

var (
	rateImpls      = []string{ImplOurs, ImplRedisRate, ImplUlule, ImplThrottled}
	rateAllowImpls = []string{ImplOurs, ImplOursDirect, ImplRedisRate, ImplUlule, ImplThrottled}
	sessionImpls   = []string{ImplOurs, ImplOursDirect, ImplSCS, ImplGorilla}
	asideHitImpls  = []string{ImplOurs, ImplOursDirect, ImplGoCacheOnce}
	cacheImpls     = []string{ImplOurs, ImplOursDirect, ImplGoCache, ImplGoCacheOnce}
	asideImpls     = []string{ImplOurs, ImplGoCacheOnce}
)

// All lists every scenario in report order, bare first.
var All = []Scenario{
	{Name: "bare", Kind: Bare, Keys: 1, Impls: []string{ImplBare},
		Doc: "a ~100-byte GET / with no middleware: the baseline of every round"},
	{Name: "ratelimit-allow", Kind: RateLimitAllow, Keys: 1, Impls: rateAllowImpls,
		Doc: "1,000,000/s limit, every request allowed, one key (the client IP)"},
	{Name: "ratelimit-allow-1k", Kind: RateLimitAllow, Keys: Keys, Impls: rateAllowImpls,
		Doc: "1,000,000/s limit, every request allowed, 1,000 keys (X-Key header)"},
	{Name: "ratelimit-deny", Kind: RateLimitDeny, Keys: 1, Impls: rateImpls,
		Doc: "1/hour limit, all but the first request denied, one key (the client IP)"},
	{Name: "ratelimit-deny-1k", Kind: RateLimitDeny, Keys: Keys, Impls: rateImpls,
		Doc: "1/hour limit, all but each key's first request denied, 1,000 keys (X-Key header)"},
	{Name: "session-read", Kind: SessionRead, Keys: 1, Impls: sessionImpls,
		Doc: "read an integer from one session shared by all 32 connections"},
	{Name: "session-read-1k", Kind: SessionRead, Keys: Keys, Impls: sessionImpls,
		Doc: "read an integer from one of 1,000 sessions"},
	{Name: "session-write", Kind: SessionWrite, Keys: 1, Impls: sessionImpls,
		Doc: "increment an integer in one session shared by all 32 connections"},
	{Name: "session-write-1k", Kind: SessionWrite, Keys: Keys, Impls: sessionImpls,
		Doc: "increment an integer in one of 1,000 sessions"},
	{Name: "cache-hit-1k", Kind: CacheHit, Keys: 1, BodySize: 1 << 10, Impls: cacheImpls,
		Doc: "fresh hit of a 1 KiB response (Cache-Control: public, max-age=3600)"},
	{Name: "cache-hit-32k", Kind: CacheHit, Keys: 1, BodySize: 32 << 10, Impls: cacheImpls,
		Doc: "fresh hit of a 32 KiB response"},
	{Name: "aside-hit", Kind: AsideHit, Keys: 1, Impls: asideHitImpls,
		Doc: "cache-aside hit of a ~100-byte JSON value, Redis tier"},
	{Name: "aside-hit-local", Kind: AsideHit, Keys: 1, Local: true, Impls: asideImpls,
		Doc: "cache-aside hit of the same value, in-process tier in front of Redis"},
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Env is what a scenario is built on.
type Env struct {
	// RDB is the client every implementation shares.
	RDB *redis.Client
	// Prefix goes into every key written; see the package doc.
	Prefix string
}

// Built is one implementation of one scenario, ready to serve.
type Built struct {
	// Handler serves the measured GET /.
	Handler http.Handler
	// Seed creates a new session holding the counter ?n= and answers with
	// its cookie (session scenarios only, else nil).
	Seed http.Handler
	// Value answers the counter of the request's session as decimal text
	// (session scenarios only, else nil).
	Value http.Handler
	// Wrong counts answers that were wrong although the status was 2xx: a
	// session read that did not see the seeded value.
	Wrong *atomic.Int64
	// Origin counts the calls that reached the origin behind a cache (the
	// app handler of a cache scenario, the fetch of an aside scenario).
	Origin *atomic.Int64
	// FailOpen counts requests our rate limiter let through by its FailOpen
	// policy because Redis failed or was slower than its Timeout (the
	// peers have no such policy: they answer 500 or panic).
	FailOpen *atomic.Int64

	closers []func() error
}

// Close releases what the implementation holds (subscriptions, background
// goroutines). It does not close the client.
func (b *Built) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	return errors.Join(errs...)
}

func (b *Built) onClose(f func() error) { b.closers = append(b.closers, f) }

// Build returns implementation impl of scenario s.
func Build(ctx context.Context, env Env, s Scenario, impl string) (*Built, error) {
	if env.RDB == nil {
		return nil, errors.New("scenario: nil client")
	}
	if env.Prefix == "" || strings.ContainsAny(env.Prefix, "{}*?[]\\") {
		return nil, fmt.Errorf("scenario: prefix %q must be non-empty and free of {}*?[]\\", env.Prefix)
	}
	if !slices.Contains(s.Impls, impl) {
		return nil, fmt.Errorf("scenario: %s has no implementation %q (have %s)", s.Name, impl, strings.Join(s.Impls, ", "))
	}
	b := &Built{Wrong: new(atomic.Int64), Origin: new(atomic.Int64), FailOpen: new(atomic.Int64)}
	var err error
	switch s.Kind {
	case Bare:
		b.Handler = App()
	case RateLimitAllow, RateLimitDeny:
		err = buildRateLimit(env, s, impl, b)
	case SessionRead, SessionWrite:
		err = buildSession(ctx, env, s, impl, b)
	case CacheHit:
		err = buildCache(env, s, impl, b)
	case AsideHit:
		err = buildAside(env, s, impl, b)
	default:
		err = fmt.Errorf("scenario: unknown kind %d", s.Kind)
	}
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("scenario: %s/%s: %w", s.Name, impl, err)
	}
	return b, nil
}
