// Package breaker stops calling Redis for a short cool-down after
// consecutive failures, so an outage costs requests no latency: they are
// answered at once by the caller's failure policy.
package breaker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrOpen is returned in place of a Redis call while the breaker is open.
var ErrOpen = errors.New("redis circuit open")

// Breaker is safe for concurrent use. Its zero value works: it opens after 5
// consecutive failures for 1 s.
type Breaker struct {
	// Threshold is the number of consecutive failures that opens the
	// breaker. Zero means 5.
	Threshold int
	// Cooldown is how long the breaker stays open before it lets one call
	// probe Redis. Zero means 1 s.
	Cooldown time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// OnChange, if not nil, is called at each change of state: with Open
	// when the breaker opens (or opens again after a failed probe), HalfOpen
	// when it lets a probe through, Closed when a probe succeeds. outage is
	// how long ago the breaker first opened (zero at the first Open) and
	// refused how many calls it has refused since. It runs with the
	// breaker's lock held: it must be quick and must not call the breaker.
	OnChange func(to State, outage time.Duration, refused int64)

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	probing   bool
	openedAt  time.Time // when the current outage began; zero while closed
	refused   int64     // calls refused since openedAt
}

// State is the state of a Breaker.
type State uint8

const (
	// Closed: calls go through.
	Closed State = iota
	// Open: calls are refused until the cool-down has passed.
	Open
	// HalfOpen: one probe call is in flight; the others are refused.
	HalfOpen
)

// change reports a change of state to OnChange; b.mu is held.
func (b *Breaker) change(to State) {
	if b.OnChange == nil {
		return
	}
	var outage time.Duration
	if !b.openedAt.IsZero() {
		outage = b.now().Sub(b.openedAt)
	}
	b.OnChange(to, outage, b.refused)
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Allow reports whether a Redis call may be made now. While open it returns
// false; once the cool-down has passed it lets exactly one probe through,
// whose Done decides whether the breaker closes or opens again.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() {
		return true
	}
	if b.probing || b.now().Before(b.openUntil) {
		b.refused++
		return false
	}
	b.probing = true
	b.change(HalfOpen)
	return true
}

// Open reports whether the breaker is open (calls are refused).
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openUntil.IsZero()
}

// Done records the outcome of a call Allow let through. Only outage-like
// errors count (see Failure); the caller's own cancellation says nothing
// about Redis, so it neither counts nor closes the breaker (a cancelled
// probe frees the way for the next one); nil or anything else is a
// success.
func (b *Breaker) Done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		b.probing = false
		return
	}
	if !Failure(err) {
		b.failures = 0
		wasOpen := !b.openUntil.IsZero()
		b.openUntil = time.Time{}
		b.probing = false
		if wasOpen {
			b.change(Closed)
			b.openedAt, b.refused = time.Time{}, 0
		}
		return
	}
	b.failures++
	threshold := b.Threshold
	if threshold <= 0 {
		threshold = 5
	}
	if b.probing || b.failures >= threshold {
		// A call let through before the breaker opened may fail after:
		// it extends the cool-down, but the state does not change.
		reopen := b.openUntil.IsZero() || b.probing
		cool := b.Cooldown
		if cool <= 0 {
			cool = time.Second
		}
		now := b.now()
		b.openUntil = now.Add(cool)
		b.probing = false
		if b.openedAt.IsZero() {
			b.openedAt = now
		}
		if reopen {
			b.change(Open)
		}
	}
}

// Do runs fn if the breaker allows and records its outcome; otherwise it
// returns ErrOpen without calling fn.
func (b *Breaker) Do(fn func() error) error {
	if !b.Allow() {
		return ErrOpen
	}
	err := fn()
	b.Done(err)
	return err
}

// Failure reports whether err means Redis is unreachable or too slow: not
// nil, not redis.Nil, not a reply error from a server that answered (such as
// WRONGTYPE), and not the caller's own cancellation.
func Failure(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) && !isConnectionReply(re.Error()) {
		return false
	}
	return true
}

// isConnectionReply reports whether a server reply means the server cannot
// serve (loading, read-only replica after failover, cluster down).
func isConnectionReply(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN"} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}
