package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/script"
)

// Policy says what a decision does when Redis cannot be asked (an error,
// a timeout, or the circuit breaker open after repeated failures).
type Policy uint8

const (
	// FailOpen allows the request and logs the failure. The default: an
	// outage of the limiter does not become an outage of the site.
	FailOpen Policy = iota
	// FailClosed denies the request: HTTP requests get 503 from
	// Options.ErrorHandler.
	FailClosed
	// FailLocal decides with an in-process GCRA limiter of the same limits,
	// one per Limiter, so an outage still limits (each instance allows the
	// full rate on its own, starting from a full burst).
	FailLocal
)

// Default option values.
const (
	DefaultPrefix    = "ratelimit:"
	DefaultTimeout   = 100 * time.Millisecond
	DefaultCacheSize = 10000
)

// Options configure a Limiter. The zero value is ready to use; New fills
// defaults into its own copy.
type Options struct {
	// Prefix starts every key the limiter writes. Empty means
	// DefaultPrefix ("ratelimit:"). It must not contain '{' or '}', as the
	// hash tag follows it.
	Prefix string
	// Timeout bounds each Redis call. Zero means DefaultTimeout (100 ms);
	// negative is an error. It holds for any client, whatever its own
	// timeouts; a go-redis client with ContextTimeoutEnabled stops its
	// network I/O at the deadline itself, which spares the limiter a
	// goroutine per call.
	Timeout time.Duration
	// Failure is the policy when Redis cannot be asked. The zero value is
	// FailOpen.
	Failure Policy
	// CacheSize bounds the local deny cache, in keys (and the in-process
	// limiter of FailLocal). Zero means DefaultCacheSize (10000). Negative
	// disables the deny cache, so every decision asks Redis; FailLocal then
	// keeps DefaultCacheSize keys.
	CacheSize int
	// BreakerThreshold is the number of consecutive Redis failures after
	// which the limiter stops asking Redis for BreakerCooldown and answers
	// by Failure at once. Zero means 5.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one call
	// probes Redis again; a success closes it, so Redis coming back is
	// picked up without a restart. Zero means 1 s.
	BreakerCooldown time.Duration
	// Now is the local clock, used by the deny cache, the in-process
	// limiter and the breaker; decisions in Redis use Redis' clock. Nil
	// means time.Now.
	Now func() time.Time
	// OnError is told about every failed Redis call (whatever the policy).
	// Nil means it is logged with log/slog at Warn level (Debug while the
	// breaker is open, so an outage does not flood the log).
	OnError func(ctx context.Context, err error)

	// The fields below concern Handler only.

	// Skip exempts a request from limiting (health checks, allow-lists):
	// when it returns true the request goes straight to the next handler,
	// with no headers and no Redis call. Nil means no request is exempt.
	Skip func(*http.Request) bool
	// Cost returns what a request costs. Nil means the cost set on the
	// request's context with WithCost, or 1. A cost of 0 spends nothing but
	// still reports the headers; a negative cost counts as 0.
	Cost func(*http.Request) int
	// OnKeyError handles a request whose KeyFunc failed. It returns true if
	// it answered the request, false to let the request through unlimited.
	// Nil means the request is answered 400 Bad Request with a short plain
	// text body, and the error is logged at Debug level.
	OnKeyError func(w http.ResponseWriter, r *http.Request, err error) bool
	// OnLimited answers a denied request. The RateLimit headers and
	// Retry-After are already set and ResultFrom(r.Context()) returns the
	// decision; it should write status 429. Nil means 429 with the plain
	// text body "rate limit exceeded".
	OnLimited http.Handler
	// ErrorHandler answers a request that FailClosed denies because Redis
	// failed; err is for logging, never for the client. Nil means 503
	// Service Unavailable with a short plain text body (the error is
	// already reported to OnError).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds until the limit is whole again, or until
	// a denied request may retry) for the tightest limit, beside
	// the standard RateLimit and RateLimit-Policy. False means only the
	// standard ones.
	LegacyHeaders bool
}

// Limiter decides requests against limits kept in Redis. It is safe for
// concurrent use; make one per application and share it between routes.
type Limiter struct {
	rdb     redis.UniversalClient
	o       Options
	guard   bounded.Guard  // breaker and Options.Timeout around every decision
	scripts *script.Runner // runs gcraScript on rdb
	denies  *tatLRU        // nil when disabled
	local   *tatLRU        // in-process limiter for FailLocal
	epoch   time.Time

	setsMu sync.RWMutex
	sets   map[string]*policySet // by appendSig, for Allow
}

// Errors callers may act on.
var (
	// ErrUnavailable is wrapped by errors of decisions Redis could not
	// make; the Result then holds the Failure policy's decision.
	ErrUnavailable = errors.New("ratelimit: redis unavailable")
	// ErrCostExceedsBurst is returned when a cost is larger than a limit's
	// burst, so the request could never be allowed.
	ErrCostExceedsBurst = errors.New("ratelimit: cost exceeds burst")
	// ErrInvalidCost is returned for a negative cost.
	ErrInvalidCost = errors.New("ratelimit: negative cost")
)

// New returns a Limiter of rdb. It does not talk to Redis, so it works
// while Redis is down; see Preload to have the script cached ahead of the
// first request. It returns an error for a nil client or invalid options.
func New(rdb redis.UniversalClient, o Options) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: nil redis client")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("ratelimit: prefix %q must not contain '{' or '}'", o.Prefix)
	}
	if o.Timeout < 0 || o.BreakerCooldown < 0 || o.BreakerThreshold < 0 {
		return nil, errors.New("ratelimit: Timeout, BreakerCooldown and BreakerThreshold must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Failure > FailLocal {
		return nil, fmt.Errorf("ratelimit: unknown failure policy %d", o.Failure)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Limiter{rdb: rdb, o: o, epoch: o.Now(), sets: make(map[string]*policySet), scripts: script.NewRunner(rdb)}
	l.guard = bounded.Guard{
		Breaker: &breaker.Breaker{Threshold: o.BreakerThreshold, Cooldown: o.BreakerCooldown, Now: o.Now},
		Timeout: o.Timeout,
		Direct:  bounded.HonoursDeadlines(rdb),
	}
	size := o.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		l.denies = newTATLRU(size)
	} else {
		size = DefaultCacheSize
	}
	l.local = newTATLRU(size)
	return l, nil
}

// Preload puts the limiter's script into Redis' script cache (on every
// shard of a Cluster), so no decision pays for sending it whole. Calling it
// is optional: without it the first decision of a process sends the script
// whole (still one round trip), and a decision that finds the script
// missing (a flushed cache, or on a Cluster a shard that has not seen it
// yet) resends it: two round trips, once.
func (l *Limiter) Preload(ctx context.Context) error {
	err := bounded.Do(ctx, l.guard.Timeout, l.guard.Direct, func(ctx context.Context, r *script.Runner) error {
		return r.Load(ctx, gcraScript)
	}, l.scripts)
	if err != nil {
		return fmt.Errorf("ratelimit: preload: %w", err)
	}
	return nil
}

// Allow spends one unit of every limit for key, or none if any limit is
// exhausted. It is AllowN with a cost of 1.
func (l *Limiter) Allow(ctx context.Context, key string, limits ...Limit) (Result, error) {
	return l.AllowN(ctx, key, 1, limits...)
}

// AllowN spends cost units of every limit for key if all of them have
// that many left, and none otherwise. The key may be any string (it is
// hashed); the limits must pass ValidateLimits. A cost of 0 only reports
// the state.
//
// A non-nil error wrapping ErrUnavailable means Redis could not decide;
// the Result then holds the Failure policy's decision, so a caller that
// only looks at Allowed follows the policy. Other errors (invalid limits,
// ErrInvalidCost, ErrCostExceedsBurst) come with a denying Result.
func (l *Limiter) AllowN(ctx context.Context, key string, cost int, limits ...Limit) (Result, error) {
	ps, err := l.policySetFor(limits)
	if err != nil {
		return Result{}, err
	}
	return l.decide(ctx, ps, keys.Hash(key), cost)
}

// policySet is the precomputed form of a route's limits.
type policySet struct {
	limits   []Limit
	iv, tol  []int64
	args     []any  // iv1, tol1, iv2, tol2 ... boxed once
	sig      string // identifies the limits in local cache keys
	policy   string // RateLimit-Policy value
	minBurst int
}

func newPolicySet(limits []Limit) (*policySet, error) {
	if err := ValidateLimits(limits...); err != nil {
		return nil, err
	}
	n := len(limits)
	ps := &policySet{
		limits:   append([]Limit(nil), limits...),
		iv:       make([]int64, n),
		tol:      make([]int64, n),
		args:     make([]any, 2*n),
		sig:      string(appendSig(nil, limits)),
		minBurst: limits[0].burst,
	}
	var pol strings.Builder
	for i, lim := range ps.limits {
		ps.iv[i], ps.tol[i] = lim.interval(), lim.tolerance()
		ps.args[2*i], ps.args[2*i+1] = ps.iv[i], ps.tol[i]
		ps.minBurst = min(ps.minBurst, lim.burst)
		if i > 0 {
			pol.WriteString(", ")
		}
		lim.appendPolicy(&pol)
	}
	ps.policy = pol.String()
	return ps, nil
}

// appendSig appends a binary signature that tells sets of limits apart:
// each limit's name (length-prefixed), count, period and burst.
func appendSig(b []byte, limits []Limit) []byte {
	for _, l := range limits {
		b = binary.AppendUvarint(b, uint64(len(l.name)))
		b = append(b, l.name...)
		b = binary.AppendVarint(b, int64(l.count))
		b = binary.AppendVarint(b, int64(l.period))
		b = binary.AppendVarint(b, int64(l.burst))
	}
	return b
}

// maxSets bounds the policy sets Allow remembers; past it, new sets are
// built per call.
const maxSets = 1024

// policySetFor returns the policy set of limits, built once per distinct
// set, so Allow costs what Handler does.
func (l *Limiter) policySetFor(limits []Limit) (*policySet, error) {
	var buf [256]byte
	sig := appendSig(buf[:0], limits)
	l.setsMu.RLock()
	ps, ok := l.sets[string(sig)]
	l.setsMu.RUnlock()
	if ok {
		return ps, nil
	}
	ps, err := newPolicySet(limits)
	if err != nil {
		return nil, err
	}
	l.setsMu.Lock()
	if len(l.sets) < maxSets {
		l.sets[ps.sig] = ps
	}
	l.setsMu.Unlock()
	return ps, nil
}

// nowMicro returns the local clock in microseconds since the limiter was
// made (monotonic when Now is time.Now).
func (l *Limiter) nowMicro() int64 { return l.o.Now().Sub(l.epoch).Microseconds() }

// decide is the whole decision for a hashed key.
func (l *Limiter) decide(ctx context.Context, ps *policySet, h string, cost int) (Result, error) {
	if cost < 0 {
		return Result{}, ErrInvalidCost
	}
	if cost > ps.minBurst {
		return Result{Source: FromCost}, fmt.Errorf("%w: cost %d, smallest burst %d", ErrCostExceedsBurst, cost, ps.minBurst)
	}
	ck := h + ps.sig
	start := l.nowMicro()
	if l.denies != nil && cost > 0 {
		if tats, ok := l.denies.get(ck); ok {
			if res := localResult(ps, tats, start, cost); !res.Allowed {
				res.Source = FromCache
				return res, nil
			}
		}
	}
	d, err := bounded.Guarded(ctx, &l.guard, func(ctx context.Context, a evalArgs) ([]int64, error) {
		return a.l.run(ctx, a.ps, a.h, a.cost)
	}, evalArgs{l, ps, h, cost})
	if err != nil {
		if !errors.Is(err, breaker.ErrOpen) {
			err = fmt.Errorf("ratelimit: script: %w", err)
		}
		return l.fail(ctx, ps, ck, cost, err)
	}
	res := Result{Allowed: d[0] == 1, Limits: make([]Status, len(ps.limits)), Source: FromRedis}
	for i := range ps.limits {
		res.Limits[i] = status(ps, i, d[i+1], cost, res.Allowed)
		res.RetryAfter = max(res.RetryAfter, res.Limits[i].RetryAfter)
	}
	if l.denies != nil && cost > 0 {
		if res.Allowed {
			l.denies.remove(ck)
		} else {
			// TATs on the local clock, measured from before the call, so
			// the local deny ends no later than Redis' would.
			tats := make([]int64, len(ps.limits))
			for i := range tats {
				tats[i] = start + d[i+1]
			}
			l.denies.put(ck, tats)
		}
	}
	return res, nil
}

// evalArgs are run's arguments, passed to bounded.Guarded rather than
// captured, so the call allocates no closure.
type evalArgs struct {
	l    *Limiter
	ps   *policySet
	h    string
	cost int
}

// run runs the script in one round trip (see script.Runner.Run).
func (l *Limiter) run(ctx context.Context, ps *policySet, h string, cost int) ([]int64, error) {
	ks := make([]string, len(ps.limits))
	base := l.o.Prefix + "{" + h + "}:"
	for i, lim := range ps.limits {
		ks[i] = base + lim.name
	}
	args := make([]any, 1+len(ps.args))
	args[0] = cost
	copy(args[1:], ps.args)

	d, err := l.scripts.Run(ctx, gcraScript, ks, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(d) != 1+len(ps.limits) {
		return nil, fmt.Errorf("returned %d values, want %d", len(d), 1+len(ps.limits))
	}
	return d, nil
}

// status turns limit i's TAT offset d (µs, after the decision) into its
// Status.
func status(ps *policySet, i int, d int64, cost int, allowed bool) Status {
	iv, tol := ps.iv[i], ps.tol[i]
	d = max(d, 0)
	s := Status{Limit: ps.limits[i], Reset: time.Duration(d) * time.Microsecond}
	if tol > d {
		s.Remaining = int((tol - d) / iv)
	}
	if !allowed {
		if w := d + int64(cost)*iv - tol; w > 0 {
			s.RetryAfter = time.Duration(w) * time.Microsecond
		}
	}
	return s
}

// localResult evaluates stored local TATs at now for cost without changing
// them.
func localResult(ps *policySet, tats []int64, now int64, cost int) Result {
	allowed := true
	for i := range ps.limits {
		if max(tats[i], now)+int64(cost)*ps.iv[i]-now > ps.tol[i] {
			allowed = false
		}
	}
	res := Result{Allowed: allowed, Limits: make([]Status, len(ps.limits))}
	for i := range ps.limits {
		res.Limits[i] = status(ps, i, tats[i]-now, cost, allowed)
		res.RetryAfter = max(res.RetryAfter, res.Limits[i].RetryAfter)
	}
	return res
}

// fail reports err and decides by the failure policy.
func (l *Limiter) fail(ctx context.Context, ps *policySet, ck string, cost int, err error) (Result, error) {
	l.report(ctx, err)
	err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	switch l.o.Failure {
	case FailClosed:
		return Result{Source: FromFailClosed}, err
	case FailLocal:
		return l.decideLocal(ps, ck, cost), err
	default:
		return Result{Allowed: true, Source: FromFailOpen}, err
	}
}

// decideLocal is the in-process GCRA of FailLocal: the same arithmetic as
// the script, on the local clock.
func (l *Limiter) decideLocal(ps *policySet, ck string, cost int) Result {
	now := l.nowMicro()
	var res Result
	l.local.update(ck, func(old []int64) []int64 {
		tats := make([]int64, len(ps.limits))
		for i := range tats {
			tats[i] = now
			if old != nil {
				tats[i] = min(max(old[i], now), now+ps.tol[i])
			}
		}
		res = localResult(ps, tats, now, cost)
		if !res.Allowed || cost == 0 {
			return nil
		}
		for i := range tats {
			tats[i] += int64(cost) * ps.iv[i]
			res.Limits[i] = status(ps, i, tats[i]-now, cost, true)
		}
		return tats
	})
	res.Source = FromLocal
	return res
}

func (l *Limiter) report(ctx context.Context, err error) {
	if l.o.OnError != nil {
		l.o.OnError(ctx, err)
		return
	}
	level := slog.LevelWarn
	if errors.Is(err, breaker.ErrOpen) {
		level = slog.LevelDebug
	}
	slog.Log(ctx, level, "ratelimit: redis call failed", "err", err, "policy", l.o.Failure.String())
}

// String returns "open", "closed" or "local".
func (p Policy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return "unknown"
}
