package observe

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// TestGuard: a guard wired to hooks reports its calls and every change of
// its breaker's state in the middleware types; wired to none, it sets
// nothing.
func TestGuard(t *testing.T) {
	now := time.Unix(1000, 0)
	var calls []middleware.RedisCall
	var changes []middleware.BreakerEvent
	g := &bounded.Guard{Breaker: &breaker.Breaker{Threshold: 1, Cooldown: time.Second, Now: func() time.Time { return now }}, Timeout: time.Second, Direct: true}
	Guard(g, func(_ context.Context, c middleware.RedisCall) { calls = append(calls, c) },
		func(e middleware.BreakerEvent) { changes = append(changes, e) })
	down := io.ErrUnexpectedEOF
	fn := func(_ context.Context, err error) error { return err }
	_ = bounded.GuardedDo(context.Background(), g, "save", fn, error(down)) // opens
	_ = bounded.GuardedDo(context.Background(), g, "save", fn, nil)         // refused
	now = now.Add(2 * time.Second)
	_ = bounded.GuardedDo(context.Background(), g, "load", fn, nil) // half-open, closed

	if len(calls) != 2 || calls[0].Operation != "save" || calls[0].Err != down || calls[1].Operation != "load" || calls[1].Err != nil {
		t.Fatalf("calls %+v", calls)
	}
	want := []middleware.BreakerEvent{
		{State: middleware.BreakerOpen},
		{State: middleware.BreakerHalfOpen, Outage: 2 * time.Second, Refused: 1},
		{State: middleware.BreakerClosed, Outage: 2 * time.Second, Refused: 1},
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}

	bare := &bounded.Guard{Breaker: &breaker.Breaker{}}
	Guard(bare, nil, nil)
	if bare.OnCall != nil || bare.Breaker.OnChange != nil {
		t.Fatal("a guard wired to no hooks got some")
	}
}
