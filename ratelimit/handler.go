package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/middleware"
)

// Handler returns a middleware that limits requests by the key keyFn
// derives, against all limits at once: a request is allowed only if every
// limit has room, and a denied request consumes nothing. Allowed requests
// carry the RateLimit-Policy and RateLimit headers; denied ones get 429
// with those headers and Retry-After (see the package documentation).
// When Redis cannot decide, Options.Failure does; but a request whose
// client went away meanwhile is answered nothing and not passed on.
//
// Limits are fixed per route, so Handler validates them once. It panics if
// keyFn is nil or the limits fail ValidateLimits: both are mistakes in the
// program, not in a request, and requests never panic. Use NewHandler for
// limits that come from configuration, to get the error instead.
func (l *Limiter) Handler(keyFn middleware.KeyFunc, limits ...Limit) func(http.Handler) http.Handler {
	h, err := l.NewHandler(keyFn, limits...)
	if err != nil {
		panic(err.Error())
	}
	return h
}

// NewHandler is Handler returning an error, wrapping ErrInvalidLimit when
// the limits fail ValidateLimits, instead of panicking.
func (l *Limiter) NewHandler(keyFn middleware.KeyFunc, limits ...Limit) (func(http.Handler) http.Handler, error) {
	if keyFn == nil {
		return nil, errors.New("ratelimit: Handler: nil KeyFunc")
	}
	ps, err := newPolicySet(limits)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: Handler: %w", err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if l.o.Skip != nil && l.o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			key, err := keyFn(r)
			if err != nil {
				if l.keyError(w, r, err) {
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			ctx := r.Context()
			d := &decided{Context: ctx}
			d.res, err = l.decide(ctx, ps, decisionKey(key, ps), l.cost(r), d.buf[:])
			res := &d.res
			h := w.Header()
			if err != nil && !errors.Is(err, ErrUnavailable) {
				// Only ErrCostExceedsBurst gets here: the request can
				// never pass, so there is no Retry-After to give. Debug,
				// as for a key error: a cost taken from the request
				// (its size, say) would let clients flood a Warn log.
				l.o.Logger.DebugContext(ctx, "ratelimit: request denied", "err", err)
				l.setHeaders(h, ps.policy, nil, l.o.LimitedHandler == nil)
				l.limited(w, r, d)
				return
			}
			if err != nil && bounded.Gone(ctx) {
				return // Redis could not decide and the client left: nobody to answer
			}
			switch res.Source {
			case FromFailOpen:
				l.setHeaders(h, ps.policy, nil, false)
				next.ServeHTTP(w, r.WithContext(d))
				return
			case FromFailClosed:
				l.setHeaders(h, ps.policy, nil, false)
				if l.o.ErrorHandler != nil {
					l.o.ErrorHandler(w, r, err)
					return
				}
				http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
				return
			}
			if !res.Allowed {
				l.setHeaders(h, ps.policy, res, l.o.LimitedHandler == nil)
				l.limited(w, r, d)
				return
			}
			l.setHeaders(h, ps.policy, res, false)
			next.ServeHTTP(w, r.WithContext(d))
		})
	}, nil
}

// decided is a request's decision, with room for the Statuses of a route
// of up to two limits, as the context that carries it to the handlers
// behind the limiter (see ResultFromContext): one allocation where the
// Result, its Limits and context.WithValue took three.
type decided struct {
	context.Context
	res Result
	buf [2]Status
}

// Value returns the decision for resultKey, and asks the parent context
// for any other key.
func (d *decided) Value(key any) any {
	if _, ok := key.(resultKey); ok {
		return &d.res
	}
	return d.Context.Value(key)
}

// String names the context as context.WithValue's would be named.
func (d *decided) String() string { return fmt.Sprint(d.Context) + ".WithValue(ratelimit.Result)" }

// LimitBy returns a middleware limiting requests by keyFn against limits,
// with a Limiter of its own made with default Options. It is the short
// form for a single route; share one Limiter (New + Handler) when several
// routes are limited. It panics as Handler does, or if rdb is nil.
func LimitBy(rdb redis.UniversalClient, keyFn middleware.KeyFunc, limits ...Limit) func(http.Handler) http.Handler {
	l, err := New(rdb, Options{})
	if err != nil {
		panic("ratelimit: LimitBy: " + err.Error())
	}
	return l.Handler(keyFn, limits...)
}

func (l *Limiter) cost(r *http.Request) int {
	if l.o.Cost != nil {
		return max(l.o.Cost(r), 0)
	}
	if c, ok := r.Context().Value(costKey{}).(int); ok {
		return max(c, 0)
	}
	return 1
}

func (l *Limiter) keyError(w http.ResponseWriter, r *http.Request, err error) bool {
	if l.o.KeyErrorHandler != nil {
		return l.o.KeyErrorHandler(w, r, err)
	}
	l.o.Logger.DebugContext(r.Context(), "ratelimit: request has no key", "err", err)
	http.Error(w, "bad request", http.StatusBadRequest)
	return true
}

// limitedBody is what http.Error writes for a denied request.
var limitedBody = []byte("rate limit exceeded\n")

// limited answers a denied request: by Options.LimitedHandler, or as
// http.Error(w, "rate limit exceeded", 429) would, whose Content-Type and
// X-Content-Type-Options setHeaders has set (plain).
func (l *Limiter) limited(w http.ResponseWriter, r *http.Request, d *decided) {
	if l.o.LimitedHandler != nil {
		l.o.LimitedHandler.ServeHTTP(w, r.WithContext(d))
		return
	}
	delete(w.Header(), "Content-Length") // it might be for some other content
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(limitedBody)
}

// setHeaders sets RateLimit-Policy to policy and, for a decision res
// (nil when there is none), RateLimit and the legacy headers for its
// tightest limit, and Retry-After when it denies; plain adds the
// Content-Type and X-Content-Type-Options of http.Error's answer. The
// values are one []string, each header a one-element slice of it (full,
// so that a later Add copies it), and the numbers parts of one string:
// two allocations for all of them.
func (l *Limiter) setHeaders(h http.Header, policy string, res *Result, plain bool) {
	var buf [192]byte
	b := buf[:0]
	var names [5]string
	var ends [5]int
	k := 0
	if res != nil {
		if s, ok := res.Tightest(); ok {
			// t is, in the draft's words, the time until additional quota
			// is made available: for a denied request the Retry-After
			// moment (the draft asks that Retry-After be no earlier than
			// t), otherwise the next unit the rate pays back. A limit at
			// its full burst gets no more, so its t is left out (t is
			// optional).
			next, hasNext := res.RetryAfter, true
			if res.Allowed {
				next, hasNext = s.nextUnit()
			}
			t := ceilSeconds(next)
			b = append(b, '"')
			b = append(b, s.Limit.name...)
			b = append(b, `";r=`...)
			b = strconv.AppendInt(b, int64(s.Remaining), 10)
			if hasNext {
				b = append(b, ";t="...)
				b = strconv.AppendInt(b, t, 10)
			}
			names[k], ends[k], k = "Ratelimit", len(b), k+1
			if l.o.LegacyHeaders {
				// X-RateLimit-Reset keeps its customary meaning: when the
				// limit is whole again, or when a denied request may retry.
				reset := ceilSeconds(s.Reset)
				if !res.Allowed {
					reset = t
				}
				b = strconv.AppendInt(b, int64(s.Limit.count), 10)
				names[k], ends[k], k = "X-Ratelimit-Limit", len(b), k+1
				b = strconv.AppendInt(b, int64(s.Remaining), 10)
				names[k], ends[k], k = "X-Ratelimit-Remaining", len(b), k+1
				b = strconv.AppendInt(b, reset, 10)
				names[k], ends[k], k = "X-Ratelimit-Reset", len(b), k+1
			}
		}
		if !res.Allowed {
			b = strconv.AppendInt(b, ceilSeconds(res.RetryAfter), 10)
			names[k], ends[k], k = "Retry-After", len(b), k+1
		}
	}
	n := 1 + k
	if plain {
		n += 2
	}
	vals := make([]string, n)
	set := func(i int, name, v string) {
		vals[i] = v
		h[name] = vals[i : i+1 : i+1]
	}
	set(0, "Ratelimit-Policy", policy)
	all := string(b)
	for i, start := 0, 0; i < k; i++ {
		set(1+i, names[i], all[start:ends[i]])
		start = ends[i]
	}
	if plain {
		// As http.Error: there might be a content type already set.
		set(n-2, "Content-Type", "text/plain; charset=utf-8")
		set(n-1, "X-Content-Type-Options", "nosniff")
	}
}

// ceilSeconds rounds d up to whole seconds, so a client that waits that
// long is never early.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

type costKey struct{}

type resultKey struct{}

// WithCost returns a copy of ctx that makes Handler charge cost units for
// the request (unless Options.Cost is set). Set it in a middleware that
// runs before the limiter.
func WithCost(ctx context.Context, cost int) context.Context {
	return context.WithValue(ctx, costKey{}, cost)
}

// ResultFromContext returns the decision Handler made for the request
// whose context is ctx, and whether there was one. Handlers behind the
// limiter and Options.LimitedHandler can read it.
func ResultFromContext(ctx context.Context) (Result, bool) {
	res, ok := ctx.Value(resultKey{}).(*Result)
	if !ok {
		return Result{}, false
	}
	return *res, true
}
