package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder collects a breaker's events and log lines.
type recorder struct {
	mu     sync.Mutex
	events []Event
	logs   strings.Builder
}

func (r *recorder) on(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) kinds() []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []EventKind
	for _, ev := range r.events {
		ks = append(ks, ev.Kind)
	}
	return ks
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Split(strings.TrimSpace(r.logs.String()), "\n")
}

func newBreaker(t *testing.T, c *clock, threshold int, minC, maxC time.Duration) (*Breaker, *recorder) {
	t.Helper()
	rec := &recorder{}
	b, err := New(Options{Threshold: threshold, MinCooldown: minC, MaxCooldown: maxC, Name: "test",
		Logger: slog.New(slog.NewTextHandler(rec, nil)), OnStateChange: rec.on, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return b, rec
}

var down = io.ErrUnexpectedEOF

// TestOpensProbesBacksOffAndCloses: Threshold failures open the breaker;
// one probe at a time goes through once the cool-down has passed; each
// failed probe doubles the cool-down up to MaxCooldown; a successful
// probe closes it.
func TestOpensProbesBacksOffAndCloses(t *testing.T) {
	c := newClock()
	b, rec := newBreaker(t, c, 2, 10*time.Millisecond, 40*time.Millisecond)

	if err := b.Do(func() error { return down }); err != down {
		t.Fatalf("first failure: %v", err)
	}
	if b.Open() {
		t.Fatal("open after one failure with Threshold 2")
	}
	_ = b.Do(func() error { return down })
	if !b.Open() {
		t.Fatal("not open after Threshold failures")
	}
	called := false
	if err := b.Do(func() error { called = true; return nil }); !errors.Is(err, ErrOpen) || called {
		t.Fatalf("open breaker called fn (%v) or returned %v", called, err)
	}

	// Cool-downs: 10 ms, then 20, 40, 40 (the cap) after failed probes.
	for i, cool := range []time.Duration{10, 20, 40, 40} {
		cool *= time.Millisecond
		c.Add(cool - time.Millisecond)
		if p := b.Allow(); p != Refuse {
			t.Fatalf("probe %d: %v a millisecond before the %v cool-down ends", i, p, cool)
		}
		c.Add(time.Millisecond)
		if p := b.Allow(); p != Probe {
			t.Fatalf("probe %d: got %v after the %v cool-down, want Probe", i, p, cool)
		}
		if p := b.Allow(); p != Refuse {
			t.Fatalf("probe %d: a second call got %v while the probe is in flight", i, p)
		}
		if err := b.Done(Probe, down); !Quiet(err) {
			t.Fatalf("a failed probe's error is not Quiet: %v", err)
		}
	}
	c.Add(40 * time.Millisecond)
	if p := b.Allow(); p != Probe {
		t.Fatalf("got %v after the capped cool-down", p)
	}
	if err := b.Done(Probe, nil); err != nil {
		t.Fatal(err)
	}
	if b.Open() || b.Allow() != Pass {
		t.Fatal("a successful probe did not close the breaker")
	}
	if got, want := fmt.Sprint(rec.kinds()), fmt.Sprint([]EventKind{Opened, Closed}); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	closed := rec.events[1]
	if closed.OpenFor != 150*time.Millisecond || closed.Refused != 9 || closed.Probes != 4 {
		t.Fatalf("Closed event %+v: want OpenFor 150ms, Refused 9 (1 + 2 per probe), Probes 4", closed)
	}
	// After closing, a new outage starts from MinCooldown again.
	_ = b.Do(func() error { return down })
	_ = b.Do(func() error { return down })
	c.Add(10 * time.Millisecond)
	if p := b.Allow(); p != Probe {
		t.Fatalf("second outage: %v after MinCooldown, want Probe", p)
	}
	b.Done(Probe, nil)
}

// TestCancellationNeitherCountsNorCloses: the caller's own cancellation
// says nothing about Redis.
func TestCancellationNeitherCountsNorCloses(t *testing.T) {
	c := newClock()
	b, _ := newBreaker(t, c, 2, time.Second, time.Second)
	cancelled := fmt.Errorf("eval: %w", context.Canceled)

	// Closed: a cancellation between two failures does not reset the count.
	_ = b.Do(func() error { return down })
	_ = b.Do(func() error { return cancelled })
	_ = b.Do(func() error { return down })
	if !b.Open() {
		t.Fatal("a cancelled call reset the failure count")
	}
	// Closed: cancellations alone never open it.
	b2, _ := newBreaker(t, c, 2, time.Second, time.Second)
	for range 10 {
		_ = b2.Do(func() error { return cancelled })
	}
	if b2.Open() {
		t.Fatal("cancellations opened the breaker")
	}

	// Half-open: a cancelled probe leaves the breaker open and lets the
	// next call probe.
	c.Add(time.Second)
	if err := b.Do(func() error { return cancelled }); !errors.Is(err, context.Canceled) {
		t.Fatalf("probe: %v", err)
	}
	if !b.Open() {
		t.Fatal("a cancelled probe closed the breaker")
	}
	if b.Allow() != Probe {
		t.Fatal("no new probe after a cancelled one")
	}
	b.Done(Probe, down)
	if !b.Open() || b.Allow() != Refuse {
		t.Fatal("a failed probe after a cancelled one did not reopen the breaker")
	}
}

// TestLateCallsWhileOpen: a call let through before the breaker opened
// that ends while it is open changes nothing: its failure does not delay
// the probe, its success does not close the breaker.
func TestLateCallsWhileOpen(t *testing.T) {
	c := newClock()
	b, rec := newBreaker(t, c, 1, 10*time.Millisecond, 10*time.Millisecond)
	late := b.Allow()
	lateOK := b.Allow()
	_ = b.Do(func() error { return down })
	if !b.Open() {
		t.Fatal("not open")
	}
	if err := b.Done(late, down); !Quiet(err) {
		t.Fatalf("a late failure while open is not Quiet: %v", err)
	}
	if b.Done(lateOK, nil); !b.Open() {
		t.Fatal("a late success closed the breaker")
	}
	c.Add(10 * time.Millisecond)
	if p := b.Allow(); p != Probe {
		t.Fatalf("a late failure delayed the probe: %v", p)
	}
	b.Done(Probe, nil)
	if got := fmt.Sprint(rec.kinds()); got != fmt.Sprint([]EventKind{Opened, Closed}) {
		t.Fatalf("events %s", got)
	}
}

// TestQuiet: the first failure of a streak is reported by the caller; the
// rest, refusals and failed probes are covered by the breaker's lines.
func TestQuiet(t *testing.T) {
	c := newClock()
	b, _ := newBreaker(t, c, 3, time.Second, time.Second)
	first := b.Do(func() error { return down })
	second := b.Do(func() error { return down })
	b.Do(func() error { return nil }) // a success ends the streak
	again := b.Do(func() error { return down })
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"first failure", first, false},
		{"second failure", second, true},
		{"first failure after a success", again, false},
		{"refused", ErrOpen, true},
		{"wrapped refusal", fmt.Errorf("x: %w", ErrOpen), true},
		{"wrapped quiet failure", fmt.Errorf("x: %w", second), true},
		{"plain error", down, false},
		{"nil", nil, false},
	} {
		if got := Quiet(tc.err); got != tc.want {
			t.Errorf("%s: Quiet(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if !errors.Is(second, down) || second.Error() != down.Error() {
		t.Fatalf("a quiet error hides its cause: %v", second)
	}
}

// TestOutageLogsAHandfulOfLines: a 25 s outage with 10,000 refused calls
// logs one line when it opens, one every ReportEvery while open, and one
// when it closes, with the counts.
func TestOutageLogsAHandfulOfLines(t *testing.T) {
	c := newClock()
	b, rec := newBreaker(t, c, 5, 10*time.Millisecond, time.Second)
	for range 5 {
		_ = b.Do(func() error { return down })
	}
	for i := range 10000 {
		c.Add(2500 * time.Microsecond) // 25 s in all
		if p := b.Allow(); p == Probe {
			b.Done(Probe, fmt.Errorf("probe %d: %w", i, down))
		}
	}
	c.Add(time.Second)
	if p := b.Allow(); p != Probe {
		t.Fatalf("no probe after the capped cool-down: %v", p)
	}
	b.Done(Probe, nil)

	lines := rec.lines()
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4 (opened, still open twice, closed):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{"level=WARN msg=\"test: redis unavailable, breaker opened", "level=WARN msg=\"test: redis still unavailable", "level=WARN msg=\"test: redis still unavailable", "level=INFO msg=\"test: redis back, breaker closed"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "err=\"unexpected EOF\"") {
		t.Errorf("the opened line lacks the error: %s", lines[0])
	}
	if got := fmt.Sprint(rec.kinds()); got != fmt.Sprint([]EventKind{Opened, StillOpen, StillOpen, Closed}) {
		t.Fatalf("events %s", got)
	}
	var refusedAt10s uint64
	for _, ev := range rec.events {
		if ev.Kind == StillOpen && refusedAt10s == 0 {
			refusedAt10s = ev.Refused
			if ev.OpenFor < ReportEvery || ev.Err == nil || !strings.Contains(ev.Err.Error(), "probe") {
				t.Errorf("first StillOpen %+v: want OpenFor ≥ %v and the last probe's error", ev, ReportEvery)
			}
		}
	}
	closed := rec.events[3]
	if closed.Refused != b.Refused() || closed.Refused < 9900 || refusedAt10s == 0 || refusedAt10s >= closed.Refused {
		t.Fatalf("refusals: %d at the first reminder, %d at closing, %d in all", refusedAt10s, closed.Refused, b.Refused())
	}
	if closed.OpenFor != 26*time.Second {
		t.Fatalf("outage %v, want 26s", closed.OpenFor)
	}
	if !strings.Contains(lines[3], "outage=26s") || !strings.Contains(lines[3], fmt.Sprintf("refused=%d", closed.Refused)) {
		t.Fatalf("the closed line lacks the outage or the count: %s", lines[3])
	}
}

// TestEventsInOrderUnderConcurrency: many goroutines failing and
// succeeding never see events out of order (opened, then closed, ...).
func TestEventsInOrderUnderConcurrency(t *testing.T) {
	rec := &recorder{}
	b, err := New(Options{Threshold: 2, MinCooldown: time.Nanosecond, MaxCooldown: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(rec, nil)), OnStateChange: rec.on})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				_ = b.Do(func() error {
					if (i+g)%3 == 0 {
						return nil
					}
					return down
				})
			}
		})
	}
	wg.Wait()
	ks := rec.kinds()
	for i, k := range ks {
		want := Opened
		if i%2 == 1 {
			want = Closed
		}
		if k != want {
			t.Fatalf("event %d is %v, want %v (events: %v)", i, k, want, ks)
		}
	}
	if len(ks) == 0 {
		t.Fatal("the breaker never opened")
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"min above the default max", Options{MinCooldown: time.Second}, true},
		{"negative threshold", Options{Threshold: -1}, false},
		{"negative min", Options{MinCooldown: -1}, false},
		{"negative max", Options{MaxCooldown: -1}, false},
		{"max below min", Options{MinCooldown: time.Second, MaxCooldown: time.Millisecond}, false},
		{"max below the default min", Options{MaxCooldown: time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) = %v", tc.o, err)
			}
			if err == nil && b.maxCooldown() < b.minCooldown() {
				t.Fatalf("max %v < min %v", b.maxCooldown(), b.minCooldown())
			}
		})
	}
	var zero Breaker
	if zero.threshold() != DefaultThreshold || zero.minCooldown() != DefaultMinCooldown || zero.maxCooldown() != DefaultMaxCooldown {
		t.Fatal("the zero Breaker does not use the defaults")
	}
}

// TestClosedPathAllocatesNothing: a closed breaker costs a call no
// allocation and no lock.
func TestClosedPathAllocatesNothing(t *testing.T) {
	var b Breaker
	if n := testing.AllocsPerRun(100, func() { b.Done(b.Allow(), nil) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

func TestFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"redis.Nil", redis.Nil, false},
		{"wrapped redis.Nil", fmt.Errorf("x: %w", redis.Nil), false},
		{"caller canceled", context.Canceled, false},
		{"timeout", context.DeadlineExceeded, true},
		{"connection", io.EOF, true},
		{"reply error", redisErr("WRONGTYPE Operation against a key"), false},
		{"loading", redisErr("LOADING Redis is loading"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Failure(tt.err); got != tt.want {
				t.Fatalf("Failure(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}
