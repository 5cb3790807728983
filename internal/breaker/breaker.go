// Package breaker stops calling Redis after consecutive failures, so an
// outage costs requests no latency: they are answered at once by the
// caller's failure policy. While open it lets one call at a time probe
// Redis, after a cool-down that starts short and doubles with each failed
// probe up to a cap, so a Redis that is back is noticed within the cap.
//
// An outage is reported by a handful of log lines, not one per call: when
// the breaker opens (Warn, with the error), every ReportEvery while it
// stays open (Warn, with the calls refused so far), and when it closes
// (Info, with the outage's duration and the calls refused). The same
// moments reach Breaker.OnStateChange as Events, for metrics.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrOpen is returned in place of a Redis call while the breaker is open.
var ErrOpen = errors.New("redis circuit open")

// Defaults of a Breaker's settings, used where a field is zero. The
// middleware package exports them as DefaultBreakerThreshold,
// DefaultBreakerMinCooldown and DefaultBreakerMaxCooldown.
const (
	DefaultThreshold   = 5
	DefaultMinCooldown = 10 * time.Millisecond
	DefaultMaxCooldown = 50 * time.Millisecond
)

// ReportEvery is how often an open breaker logs that it is still open
// (and sends a StillOpen event), with the calls it refused so far. Only a
// call that arrives reports, so a breaker nobody calls stays quiet.
const ReportEvery = 10 * time.Second

// Breaker is safe for concurrent use. Its zero value works, with the
// defaults above and log lines to slog.Default(); New also checks the
// settings. Fields must not change once the Breaker is in use.
type Breaker struct {
	// Threshold is the number of consecutive failures that opens the
	// breaker. Zero means DefaultThreshold.
	Threshold int
	// MinCooldown is how long the breaker stays open before its first
	// probe. Zero means DefaultMinCooldown.
	MinCooldown time.Duration
	// MaxCooldown caps the cool-down, which doubles after each failed
	// probe. Zero means DefaultMaxCooldown, or MinCooldown when that is
	// longer.
	MaxCooldown time.Duration
	// Name says whose breaker it is in log lines ("session"). Empty means
	// "redis".
	Name string
	// Logger receives the open, still-open and closed lines. Nil means
	// slog.Default().
	Logger *slog.Logger
	// OnStateChange, if set, is called with every Event, after its log
	// line, in the order of the events, from the goroutine whose call
	// caused it (so it should return quickly). It must not call the
	// Breaker's methods. Nil means no call.
	OnStateChange func(Event)
	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	open    atomic.Bool   // mirrors openedAt != zero, for the closed fast path
	refused atomic.Uint64 // calls refused since the Breaker was made

	failures atomic.Int32 // consecutive failures while closed; written under mu

	mu         sync.Mutex
	openedAt   time.Time // zero while closed
	nextProbe  time.Time // when open: the earliest next probe
	cooldown   time.Duration
	probing    bool   // a probe is in flight
	probes     int    // failed probes since it opened
	refusedAt  uint64 // refused when it opened
	reportedAt time.Time
	lastErr    error

	emitMu sync.Mutex // held from an event's making to its delivery, so events arrive in order
}

// Options are New's settings: the exported fields of a Breaker.
type Options struct {
	Threshold                int
	MinCooldown, MaxCooldown time.Duration
	Name                     string
	Logger                   *slog.Logger
	OnStateChange            func(Event)
	Now                      func() time.Time
}

// New returns a Breaker with o's settings, or an error when one is
// negative or MaxCooldown is shorter than MinCooldown.
func New(o Options) (*Breaker, error) {
	if o.Threshold < 0 || o.MinCooldown < 0 || o.MaxCooldown < 0 {
		return nil, fmt.Errorf("breaker: Threshold %d, MinCooldown %v and MaxCooldown %v must not be negative", o.Threshold, o.MinCooldown, o.MaxCooldown)
	}
	b := &Breaker{Threshold: o.Threshold, MinCooldown: o.MinCooldown, MaxCooldown: o.MaxCooldown,
		Name: o.Name, Logger: o.Logger, OnStateChange: o.OnStateChange, Now: o.Now}
	if o.MaxCooldown != 0 && o.MaxCooldown < b.minCooldown() {
		return nil, fmt.Errorf("breaker: MaxCooldown %v is shorter than MinCooldown %v", o.MaxCooldown, b.minCooldown())
	}
	return b, nil
}

// EventKind says what happened to a breaker.
type EventKind uint8

const (
	// Opened: consecutive failures opened the breaker; calls are refused.
	Opened EventKind = iota + 1
	// StillOpen: the breaker has been open for another ReportEvery.
	StillOpen
	// Closed: a probe succeeded; calls go to Redis again.
	Closed
)

// String returns "opened", "still open" or "closed".
func (k EventKind) String() string {
	switch k {
	case Opened:
		return "opened"
	case StillOpen:
		return "still open"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Event is a change of a breaker's state, or a reminder that it stays
// open. OnStateChange receives one per log line.
type Event struct {
	Kind EventKind
	// Name is the Breaker's Name.
	Name string
	// At is when it happened, by the Breaker's clock.
	At time.Time
	// Err is the failure that opened the breaker (Opened) or the last
	// failed probe's, if any (StillOpen); nil for Closed.
	Err error
	// OpenFor is how long the breaker has been open (StillOpen), or was
	// (Closed): the outage as the breaker saw it. Zero for Opened.
	OpenFor time.Duration
	// Refused counts the calls refused since the breaker opened.
	Refused uint64
	// Probes counts the failed probes since the breaker opened.
	Probes int
	// Cooldown is the wait before the next probe (Opened, StillOpen).
	Cooldown time.Duration
}

// Permit is Allow's answer: whether a call may go to Redis, and as what.
type Permit uint8

const (
	// Refuse: the breaker is open; answer by the failure policy.
	Refuse Permit = iota
	// Pass: the breaker is closed; make the call.
	Pass
	// Probe: the breaker is open and this call tests whether Redis is back.
	Probe
)

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Breaker) threshold() int {
	if b.Threshold > 0 {
		return b.Threshold
	}
	return DefaultThreshold
}

func (b *Breaker) minCooldown() time.Duration {
	if b.MinCooldown > 0 {
		return b.MinCooldown
	}
	return DefaultMinCooldown
}

func (b *Breaker) maxCooldown() time.Duration {
	if b.MaxCooldown > 0 {
		return max(b.MaxCooldown, b.minCooldown())
	}
	return max(DefaultMaxCooldown, b.minCooldown())
}

// Allow says whether a Redis call may be made now. Closed, it returns
// Pass (without taking a lock). Open, it returns Refuse, and counts the
// refusal, until the cool-down has passed; then it returns Probe to
// exactly one call, whose Done decides whether the breaker closes or waits
// a longer cool-down. Every call Allow lets through must be followed by
// Done with its Permit.
func (b *Breaker) Allow() Permit {
	if !b.open.Load() {
		return Pass
	}
	b.mu.Lock()
	if b.openedAt.IsZero() { // closed meanwhile
		b.mu.Unlock()
		return Pass
	}
	now := b.now()
	if !b.probing && !now.Before(b.nextProbe) {
		b.probing = true
		b.mu.Unlock()
		return Probe
	}
	b.refused.Add(1)
	ev, ok := b.reminder(now)
	b.unlockEmit(ev, ok)
	return Refuse
}

// Done records the outcome of a call Allow let through with p, and
// returns err, marked Quiet when the breaker's own log lines cover it.
//
// Only outage-like errors count (see Failure); the caller's own
// cancellation says nothing about Redis, so it neither counts nor closes
// the breaker (a cancelled probe frees the way for the next one); nil or
// anything else is a success. While the breaker is open only the probe's
// outcome counts: a call let through before it opened that ends now says
// nothing about Redis' state since.
func (b *Breaker) Done(p Permit, err error) error {
	cancelled := errors.Is(err, context.Canceled)
	fail := Failure(err)
	if p == Pass && !fail && !cancelled && b.failures.Load() == 0 && !b.open.Load() {
		return err // the common case: no lock
	}
	b.mu.Lock()
	if p == Probe {
		b.probing = false
	}
	var ev Event
	var emit bool
	switch {
	case cancelled:
	case b.openedAt.IsZero(): // closed
		if !fail {
			b.failures.Store(0)
			break
		}
		n := b.failures.Add(1)
		if int(n) >= b.threshold() {
			ev, emit = b.trip(err), true
		}
		if n > 1 {
			err = quiet{err} // the first failure of the streak was reported
		}
	case p != Probe: // open, a call from before it opened: not news
		if fail {
			err = quiet{err}
		}
	case !fail: // open, the probe succeeded
		now := b.now()
		ev, emit = Event{Kind: Closed, Name: b.name(), At: now, OpenFor: now.Sub(b.openedAt),
			Refused: b.refused.Load() - b.refusedAt, Probes: b.probes}, true
		b.openedAt, b.probes, b.lastErr = time.Time{}, 0, nil
		b.failures.Store(0)
		b.open.Store(false)
	default: // open, the probe failed
		b.probes++
		b.lastErr = err
		b.cooldown = min(2*b.cooldown, b.maxCooldown())
		now := b.now()
		b.nextProbe = now.Add(b.cooldown)
		ev, emit = b.reminder(now)
		err = quiet{err}
	}
	b.unlockEmit(ev, emit)
	return err
}

// trip opens the closed breaker; b.mu is held.
func (b *Breaker) trip(err error) Event {
	now := b.now()
	b.openedAt, b.reportedAt = now, now
	b.cooldown = b.minCooldown()
	b.nextProbe = now.Add(b.cooldown)
	b.probes, b.probing, b.lastErr = 0, false, nil
	b.refusedAt = b.refused.Load()
	b.open.Store(true)
	return Event{Kind: Opened, Name: b.name(), At: now, Err: err, Cooldown: b.cooldown}
}

// reminder returns a StillOpen event when ReportEvery has passed since the
// last line; b.mu is held and the breaker open.
func (b *Breaker) reminder(now time.Time) (Event, bool) {
	if now.Sub(b.reportedAt) < ReportEvery {
		return Event{}, false
	}
	b.reportedAt = now
	return Event{Kind: StillOpen, Name: b.name(), At: now, Err: b.lastErr, OpenFor: now.Sub(b.openedAt),
		Refused: b.refused.Load() - b.refusedAt, Probes: b.probes, Cooldown: b.cooldown}, true
}

// unlockEmit releases b.mu and, with emit, logs ev and hands it to
// OnStateChange. Taking emitMu before releasing mu keeps the events of
// concurrent calls in the order they were made.
func (b *Breaker) unlockEmit(ev Event, emit bool) {
	if !emit {
		b.mu.Unlock()
		return
	}
	b.emitMu.Lock()
	b.mu.Unlock()
	defer b.emitMu.Unlock()
	b.log(ev)
	if b.OnStateChange != nil {
		b.OnStateChange(ev)
	}
}

func (b *Breaker) name() string {
	if b.Name != "" {
		return b.Name
	}
	return "redis"
}

func (b *Breaker) log(ev Event) {
	l := b.Logger
	if l == nil {
		l = slog.Default()
	}
	ctx := context.Background()
	switch ev.Kind {
	case Opened:
		l.LogAttrs(ctx, slog.LevelWarn, ev.Name+": redis unavailable, breaker opened: calls are answered by the failure policy until a probe succeeds",
			slog.Any("err", ev.Err), slog.Duration("first_probe_in", ev.Cooldown))
	case StillOpen:
		attrs := []slog.Attr{slog.Duration("open_for", ev.OpenFor.Round(time.Millisecond)),
			slog.Uint64("refused", ev.Refused), slog.Int("failed_probes", ev.Probes)}
		if ev.Err != nil {
			attrs = append(attrs, slog.Any("err", ev.Err))
		}
		l.LogAttrs(ctx, slog.LevelWarn, ev.Name+": redis still unavailable, breaker open", attrs...)
	case Closed:
		l.LogAttrs(ctx, slog.LevelInfo, ev.Name+": redis back, breaker closed",
			slog.Duration("outage", ev.OpenFor.Round(time.Millisecond)), slog.Uint64("refused", ev.Refused),
			slog.Int("failed_probes", ev.Probes))
	}
}

// Open reports whether the breaker is open (calls are refused but for
// the probes).
func (b *Breaker) Open() bool { return b.open.Load() }

// Refused returns the number of calls the breaker refused since it was
// made: a counter that only grows, for metrics.
func (b *Breaker) Refused() uint64 { return b.refused.Load() }

// Do runs fn if the breaker allows and records its outcome; otherwise it
// returns ErrOpen without calling fn.
func (b *Breaker) Do(fn func() error) error {
	p := b.Allow()
	if p == Refuse {
		return ErrOpen
	}
	return b.Done(p, fn())
}

// quiet marks a failure that the breaker's own log lines report.
type quiet struct{ error }

func (q quiet) Unwrap() error { return q.error }

// Quiet reports whether err needs no log line above Debug of its own:
// the breaker refused the call (ErrOpen), or err is a failure of an
// outage the breaker reports (any but the first of consecutive failures,
// a failed probe, a call that ended after the breaker opened). The first
// failure of a streak is not quiet: it may be all there is of a blip that
// never opens the breaker.
func Quiet(err error) bool {
	var q quiet
	return errors.Is(err, ErrOpen) || errors.As(err, &q)
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
