package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/keys"
	"github.com/redisware/redisware/internal/observe"
	"github.com/redisware/redisware/internal/pipe"
	"github.com/redisware/redisware/internal/script"
)

// Limiter decides requests against limits kept in Redis. It is safe for
// concurrent use; make one per application and share it between routes.
type Limiter struct {
	rdb     redis.UniversalClient
	o       Options
	guard   bounded.Guard  // breaker and Options.Timeout around every decision
	sender  pipe.Sender    // one command at a time, autopipelined
	scripts *script.Runner // runs gcraScript on rdb, autopipelined
	// batches runs the script call of a batch of several decisions (see
	// batch.go) on rdb directly: the batch already shares one round trip
	// among its requests, and only one batch of a key is in flight at a
	// time, so the autopipeliner would add its dispatch and gather
	// nothing. Measured on one hot key: 0.52 of bare through the
	// autopipeliner, 0.57 directly (BENCHMARKS.md, redisware-direct).
	batches *script.Runner
	denies  *tatLRU // nil when disabled
	local   *tatLRU // in-process limiter for FailLocal
	epoch   time.Time

	setsMu sync.RWMutex
	sets   map[string]*policySet // by appendSig, for Allow

	flightMu sync.Mutex
	flight   map[string][]*waiter // decision keys with a call in flight: the requests queued behind it (see batch.go)
}

// Errors callers may act on.
var (
	// ErrUnavailable is wrapped by errors of decisions Redis could not
	// make; the Result then holds the decision of Options.Failure.
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
		return nil, errors.New("ratelimit: nil Redis client")
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	guard, err := observe.NewGuard(rdb, observe.GuardOptions{Name: "ratelimit", Breaker: o.Breaker, Timeout: o.Timeout,
		Logger: o.Logger, Now: o.Now, OnCall: o.Observer.OnRedisCall, OnBreaker: o.Observer.OnBreaker})
	if err != nil {
		return nil, err
	}
	l := &Limiter{rdb: rdb, o: o, epoch: o.Now(), sets: make(map[string]*policySet), flight: make(map[string][]*waiter)}
	if l.sender, err = pipe.New(rdb, o.NoAutoPipeline); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	l.scripts = script.NewRunner(l.sender)
	direct, _ := pipe.New(rdb, true) // a direct Sender never fails
	l.batches = l.scripts.Via(direct)
	l.guard = guard
	size := o.CacheSize
	if size > 0 {
		if l.denies, err = newTATLRU(size); err != nil {
			return nil, fmt.Errorf("ratelimit: deny cache: %w", err)
		}
	} else {
		size = DefaultCacheSize
	}
	if l.local, err = newTATLRU(size); err != nil {
		return nil, fmt.Errorf("ratelimit: local limiter: %w", err)
	}
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
// the Result then holds the decision of Options.Failure, so a caller
// that only looks at Allowed follows it. Other errors (invalid limits,
// ErrInvalidCost, ErrCostExceedsBurst) come with a denying Result.
func (l *Limiter) AllowN(ctx context.Context, key string, cost int, limits ...Limit) (Result, error) {
	ps, err := l.policySetFor(limits)
	if err != nil {
		return Result{}, err
	}
	return l.decide(ctx, ps, decisionKey(key, ps), cost, nil)
}

// decisionKey returns the decision key of a client key on ps, in one
// allocation: keys.Hash(key), which goes into the Redis keys, followed by
// ps.sig, so the deny cache and the calls in flight tell routes apart.
func decisionKey(key string, ps *policySet) string {
	var sb strings.Builder
	sb.Grow(keys.HashLen + len(ps.sig))
	var buf [keys.HashLen]byte
	sb.Write(keys.AppendHashString(buf[:0], key))
	sb.WriteString(ps.sig)
	return sb.String()
}

// policySet is the precomputed form of a route's limits.
type policySet struct {
	limits   []Limit
	u        []units
	args     []any  // iv1, tol1, m1, iv2, tol2, m2 ... boxed once
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
		u:        make([]units, n),
		args:     make([]any, 3*n),
		sig:      string(appendSig(nil, limits)),
		minBurst: limits[0].burst,
	}
	var pol strings.Builder
	for i, lim := range ps.limits {
		u, err := lim.units()
		if err != nil {
			return nil, err // ValidateLimits checked it
		}
		ps.u[i] = u
		ps.args[3*i], ps.args[3*i+1], ps.args[3*i+2] = u.iv, u.tol, u.m
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

// nowNano returns the local clock in nanoseconds since the limiter was
// made (monotonic when Now is time.Now).
func (l *Limiter) nowNano() int64 { return int64(l.o.Now().Sub(l.epoch)) }

// decide is the whole decision for a decision key (see decisionKey),
// reported to the Observer. The Result's Limits use buf when it has room.
func (l *Limiter) decide(ctx context.Context, ps *policySet, ck string, cost int, buf []Status) (Result, error) {
	res, err := l.decision(ctx, ps, ck, cost, buf)
	if l.o.Observer.OnDecision != nil && !errors.Is(err, ErrInvalidCost) {
		l.observe(ctx, ps, cost, &res)
	}
	return res, err
}

// decision makes decide's decision.
func (l *Limiter) decision(ctx context.Context, ps *policySet, ck string, cost int, buf []Status) (Result, error) {
	if cost < 0 {
		return Result{}, ErrInvalidCost
	}
	if cost > ps.minBurst {
		return Result{Source: FromCost}, fmt.Errorf("%w: cost %d, smallest burst %d", ErrCostExceedsBurst, cost, ps.minBurst)
	}
	h := ck[:keys.HashLen]
	start := l.nowNano()
	if l.denies != nil && cost > 0 {
		if debts, ok := l.denies.get(ck); ok {
			if res := localResult(ps, debts, start, cost, true, buf); !res.Allowed {
				res.Source = FromCache
				return res, nil
			}
		}
	}
	d, err := l.eval(ctx, ps, h, ck, cost)
	if err != nil {
		if !errors.Is(err, breaker.ErrOpen) {
			err = fmt.Errorf("ratelimit: script: %w", err)
		}
		return l.fail(ctx, ps, ck, cost, err)
	}
	res := Result{Allowed: d[0] == 1, Limits: statuses(buf, len(ps.limits)), Source: FromRedis}
	for i := range ps.limits {
		res.Limits[i] = status(ps.limits[i], ps.u[i], d[i+1], cost, res.Allowed)
		res.RetryAfter = max(res.RetryAfter, res.Limits[i].RetryAfter)
	}
	if l.denies != nil && cost > 0 {
		if res.Allowed {
			l.denies.remove(ck)
		} else {
			// Debts from the local clock before the call, so the local
			// deny ends no later than Redis' would.
			debts := make([]int64, 2*len(ps.limits))
			for i := range ps.limits {
				debts[2*i], debts[2*i+1] = start, d[i+1]
			}
			l.denies.put(ck, debts)
		}
	}
	return res, nil
}

// evalArgs are run's arguments, passed to bounded.Guarded rather than
// captured, so the call allocates no closure. batch is nil for a decision
// of one request, of cost.
type evalArgs struct {
	l     *Limiter
	ps    *policySet
	h     string
	cost  int
	batch []*waiter
}

// run runs the script in one round trip (see script.Runner.Run) for one
// request of cost, or for every request of batch in order, and returns
// the script's reply: 1+len(ps.limits) values per request.
func (l *Limiter) run(ctx context.Context, ps *policySet, h string, cost int, batch []*waiter) ([]int64, error) {
	// The keys are parts of one string, made in one allocation; ks and
	// args live on the stack unless a batch is too long for argBuf.
	n := len(ps.limits)
	size := 0
	for _, lim := range ps.limits {
		size += len(l.o.Prefix) + len("{}:") + len(h) + len(lim.name) + len(keyVersion)
	}
	var sb strings.Builder
	sb.Grow(size)
	var ends [MaxLimits]int
	for i, lim := range ps.limits {
		sb.WriteString(l.o.Prefix)
		sb.WriteByte('{')
		sb.WriteString(h)
		sb.WriteString("}:")
		sb.WriteString(lim.name)
		sb.WriteString(keyVersion)
		ends[i] = sb.Len()
	}
	all := sb.String()
	var ksBuf [MaxLimits]string
	ks := ksBuf[:n]
	for i, start := 0, 0; i < n; i++ {
		ks[i], start = all[start:ends[i]], ends[i]
	}
	m := max(len(batch), 1)
	var argBuf [2 + 3*MaxLimits]any
	var args []any
	if k := 1 + m + len(ps.args); k <= len(argBuf) {
		args = argBuf[:k]
	} else {
		args = make([]any, k)
	}
	args[0] = m
	if batch == nil {
		args[1] = cost
	}
	for j, w := range batch {
		args[1+j] = w.cost
	}
	copy(args[1+m:], ps.args)

	r := l.scripts
	if len(batch) > 1 {
		r = l.batches
	}
	d, err := r.Int64s(ctx, gcraScript, ks, args)
	if err != nil {
		return nil, err
	}
	if len(d) != m*(1+len(ps.limits)) {
		return nil, fmt.Errorf("returned %d values, want %d", len(d), m*(1+len(ps.limits)))
	}
	return d, nil
}

// status turns a limit's debt d (its TAT minus now, in units, after the
// decision) into its Status.
func status(lim Limit, u units, d int64, cost int, allowed bool) Status {
	d = max(d, 0)
	s := Status{Limit: lim, Reset: unitsDuration(d, u.m)}
	if u.tol > d {
		s.Remaining = int((u.tol - d) / u.iv)
	}
	if s.Remaining < lim.burst {
		// Remaining is ⌊(tol − d)/iv⌋, so one more unit is back once d
		// has fallen to tol − (Remaining+1)·iv.
		s.next, s.hasNext = unitsDuration(max(d-u.tol+int64(s.Remaining+1)*u.iv, 0), u.m), true
	}
	if !allowed {
		if w := d + int64(cost)*u.iv - u.tol; w > 0 {
			s.RetryAfter = unitsDuration(w, u.m)
		}
	}
	return s
}

// unitsDuration converts d units of 1/m µs (d, m ≤ maxUnits, ×1000 within
// an int64) to a Duration, rounded up so that nobody who waits it is early.
func unitsDuration(d, m int64) time.Duration {
	return time.Duration((d*1000 + m - 1) / m)
}

// debtAt returns a debt of d units at local time base (ns) as it stands at
// now, with the time elapsed rounded down (up: rounded up, for the deny
// cache, which must never deny longer than Redis would).
func debtAt(u units, base, d, now int64, up bool) int64 {
	el := now - base
	if d <= 0 || el <= 0 {
		return max(d, 0)
	}
	if el >= unitsDuration(d, u.m).Nanoseconds() {
		return 0
	}
	// el < d×1000/m + 1, so el×m stays under d×1000 + m: no overflow.
	paid := el * u.m / 1000
	if up && el*u.m%1000 != 0 {
		paid++
	}
	return max(d-paid, 0)
}

// statuses returns n Statuses: buf's first n when it has room, else new.
func statuses(buf []Status, n int) []Status {
	if n <= len(buf) {
		return buf[:n:n]
	}
	return make([]Status, n)
}

// localResult evaluates stored local debts (base, debt pairs per limit, as
// debtAt takes them) at now for cost without changing them. Its Limits use
// buf when it has room.
func localResult(ps *policySet, debts []int64, now int64, cost int, up bool, buf []Status) Result {
	allowed := true
	var debtBuf [MaxLimits]int64
	cur := debtBuf[:len(ps.limits)]
	for i, u := range ps.u {
		cur[i] = min(debtAt(u, debts[2*i], debts[2*i+1], now, up), u.tol)
		if cur[i]+int64(cost)*u.iv > u.tol {
			allowed = false
		}
	}
	res := Result{Allowed: allowed, Limits: statuses(buf, len(ps.limits))}
	for i := range ps.limits {
		res.Limits[i] = status(ps.limits[i], ps.u[i], cur[i], cost, allowed)
		res.RetryAfter = max(res.RetryAfter, res.Limits[i].RetryAfter)
	}
	return res
}

// fail reports err and decides by Options.Failure.
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
// the script, on the local clock. Each limit keeps a debt at a base time
// that moves on only in whole steps of time that pay a whole number of
// units back (1000/gcd(m, 1000) ns), so repeated decisions lose no
// fraction of a unit to rounding.
func (l *Limiter) decideLocal(ps *policySet, ck string, cost int) Result {
	now := l.nowNano()
	var res Result
	l.local.update(ck, func(old []int64) []int64 {
		debts := make([]int64, 2*len(ps.limits))
		for i, u := range ps.u {
			base, d := now, int64(0)
			if old != nil {
				base, d = old[2*i], old[2*i+1]
				if el := now - base; el < 0 || debtAt(u, base, d, now, false) == 0 {
					base, d = now, 0
				} else {
					g := gcd(u.m, 1000)
					steps := el / (1000 / g)
					base += steps * (1000 / g)
					d -= steps * (u.m / g)
				}
			}
			debts[2*i], debts[2*i+1] = base, d
		}
		res = localResult(ps, debts, now, cost, false, nil)
		if !res.Allowed || cost == 0 {
			return nil
		}
		for i, u := range ps.u {
			debts[2*i+1] += int64(cost) * u.iv
			res.Limits[i] = status(ps.limits[i], u, debtAt(u, debts[2*i], debts[2*i+1], now, false), cost, true)
		}
		return debts
	})
	res.Source = FromLocal
	return res
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (l *Limiter) report(ctx context.Context, err error) {
	if bounded.Gone(ctx) {
		// The caller went away: no news of Redis, and nobody to tell.
		l.o.Logger.DebugContext(ctx, "ratelimit: caller gone before Redis answered", "err", err)
		return
	}
	if l.o.OnError != nil {
		l.o.OnError(ctx, err)
		return
	}
	level := slog.LevelWarn
	if breaker.Quiet(err) {
		level = slog.LevelDebug // the breaker's lines report the outage
	}
	l.o.Logger.Log(ctx, level, "ratelimit: redis call failed", "err", err, "failure", l.o.Failure.String())
}
