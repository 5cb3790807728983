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
	"github.com/redisware/redisware/internal/keys"
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
	policy := ps.policy
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
			res, err := l.decide(r.Context(), ps, keys.Hash(key), l.cost(r))
			h := w.Header()
			h["Ratelimit-Policy"] = []string{policy}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				// Only ErrCostExceedsBurst gets here: the request can
				// never pass, so there is no Retry-After to give. Debug,
				// as for a key error: a cost taken from the request
				// (its size, say) would let clients flood a Warn log.
				l.o.Logger.DebugContext(r.Context(), "ratelimit: request denied", "err", err)
				l.limited(w, r, &res)
				return
			}
			if err != nil && bounded.Gone(r.Context()) {
				return // Redis could not decide and the client left: nobody to answer
			}
			switch res.Source {
			case FromFailOpen:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, &res)))
				return
			case FromFailClosed:
				if l.o.ErrorHandler != nil {
					l.o.ErrorHandler(w, r, err)
					return
				}
				http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
				return
			}
			l.setHeaders(h, &res)
			if !res.Allowed {
				h.Set("Retry-After", strconv.FormatInt(ceilSeconds(res.RetryAfter), 10))
				l.limited(w, r, &res)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, &res)))
		})
	}, nil
}

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

func (l *Limiter) limited(w http.ResponseWriter, r *http.Request, res *Result) {
	if l.o.LimitedHandler != nil {
		l.o.LimitedHandler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, res)))
		return
	}
	http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
}

// setHeaders writes RateLimit (and the legacy headers) for the tightest
// limit of res.
func (l *Limiter) setHeaders(h http.Header, res *Result) {
	s, ok := res.Tightest()
	if !ok {
		return
	}
	// t is, in the draft's words, the time until additional quota is made
	// available: for a denied request the Retry-After moment (the draft
	// asks that Retry-After be no earlier than t), otherwise the next unit
	// the rate pays back. A limit at its full burst gets no more, so its t
	// is left out (t is optional).
	next, hasNext := res.RetryAfter, true
	if res.Allowed {
		next, hasNext = s.nextUnit()
	}
	t := ceilSeconds(next)
	buf := make([]byte, 0, 64)
	buf = append(buf, '"')
	buf = append(buf, s.Limit.name...)
	buf = append(buf, `";r=`...)
	buf = strconv.AppendInt(buf, int64(s.Remaining), 10)
	if hasNext {
		buf = append(buf, ";t="...)
		buf = strconv.AppendInt(buf, t, 10)
	}
	h["Ratelimit"] = []string{string(buf)}
	if l.o.LegacyHeaders {
		// X-RateLimit-Reset keeps its customary meaning: when the limit
		// is whole again, or when a denied request may retry.
		reset := ceilSeconds(s.Reset)
		if !res.Allowed {
			reset = t
		}
		h["X-Ratelimit-Limit"] = []string{strconv.Itoa(s.Limit.count)}
		h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(s.Remaining)}
		h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(reset, 10)}
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
