package breaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &Breaker{Threshold: 2, Cooldown: time.Second, Now: func() time.Time { return now }}
	down := io.ErrUnexpectedEOF

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

	now = now.Add(time.Second)
	if !b.Allow() {
		t.Fatal("no probe after the cool-down")
	}
	if b.Allow() {
		t.Fatal("a second probe while the first is in flight")
	}
	b.Done(down) // probe fails: open again for a full cool-down
	if b.Allow() {
		t.Fatal("allowed right after a failed probe")
	}
	now = now.Add(time.Second)
	if err := b.Do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b.Open() || !b.Allow() {
		t.Fatal("a successful probe did not close the breaker")
	}
}

func TestCancellationNeitherCountsNorCloses(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &Breaker{Threshold: 2, Cooldown: time.Second, Now: func() time.Time { return now }}
	down := io.ErrUnexpectedEOF
	cancelled := fmt.Errorf("eval: %w", context.Canceled)

	// Closed: a cancellation between two failures does not reset the count.
	_ = b.Do(func() error { return down })
	_ = b.Do(func() error { return cancelled })
	_ = b.Do(func() error { return down })
	if !b.Open() {
		t.Fatal("a cancelled call reset the failure count")
	}

	// Half-open: a cancelled probe leaves the breaker open and lets the
	// next call probe.
	now = now.Add(time.Second)
	if err := b.Do(func() error { return cancelled }); !errors.Is(err, context.Canceled) {
		t.Fatalf("probe: %v", err)
	}
	if !b.Open() {
		t.Fatal("a cancelled probe closed the breaker")
	}
	if !b.Allow() {
		t.Fatal("no new probe after a cancelled one")
	}
	b.Done(down)
	if !b.Open() || b.Allow() {
		t.Fatal("a failed probe after a cancelled one did not reopen the breaker")
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

// TestOnChange: every change of state is reported once, with the outage's
// length and the calls refused so far; a call that fails after the breaker
// opened changes nothing, and a new outage starts its counts afresh.
func TestOnChange(t *testing.T) {
	now := time.Unix(1000, 0)
	type change struct {
		to      State
		outage  time.Duration
		refused int64
	}
	var got []change
	b := &Breaker{Threshold: 2, Cooldown: time.Second, Now: func() time.Time { return now },
		OnChange: func(to State, outage time.Duration, refused int64) { got = append(got, change{to, outage, refused}) }}
	down := io.ErrUnexpectedEOF
	refuse := func(n int) {
		t.Helper()
		for range n {
			if b.Allow() {
				t.Fatal("allowed while open")
			}
		}
	}

	if !b.Allow() || !b.Allow() || !b.Allow() { // three calls in flight
		t.Fatal("closed breaker refused")
	}
	b.Done(down)
	b.Done(down) // opens
	b.Done(down) // a straggler: no new event
	refuse(3)
	now = now.Add(time.Second)
	if !b.Allow() { // half-open
		t.Fatal("no probe")
	}
	refuse(1)
	b.Done(down) // open again
	now = now.Add(1500 * time.Millisecond)
	_ = b.Do(func() error { return nil }) // half-open, then closed
	_ = b.Do(func() error { return down })
	_ = b.Do(func() error { return down }) // a new outage

	want := []change{
		{Open, 0, 0},
		{HalfOpen, time.Second, 3},
		{Open, time.Second, 4},
		{HalfOpen, 2500 * time.Millisecond, 4},
		{Closed, 2500 * time.Millisecond, 4},
		{Open, 0, 0},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes:\n got %v\nwant %v", got, want)
	}
}
