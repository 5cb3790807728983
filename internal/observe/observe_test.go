package observe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/middleware"
)

// TestGuard: a guard wired to hooks reports its calls and its breaker's
// events in the middleware types; wired to none, it sets nothing.
func TestGuard(t *testing.T) {
	now := time.Unix(1000, 0)
	var calls []middleware.RedisCall
	var events []middleware.BreakerEvent
	g := &bounded.Guard{Breaker: &breaker.Breaker{Threshold: 1, MinCooldown: time.Second, Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)}, Timeout: time.Second, Direct: true}
	Guard(g, func(_ context.Context, c middleware.RedisCall) { calls = append(calls, c) },
		func(e middleware.BreakerEvent) { events = append(events, e) })
	down := io.ErrUnexpectedEOF
	fn := func(_ context.Context, err error) error { return err }
	_ = bounded.GuardedDo(context.Background(), g, "save", fn, error(down)) // opens
	_ = bounded.GuardedDo(context.Background(), g, "save", fn, nil)         // refused
	now = now.Add(2 * time.Second)
	_ = bounded.GuardedDo(context.Background(), g, "load", fn, nil) // a probe, which closes it

	if len(calls) != 2 || calls[0].Operation != "save" || calls[0].Err == nil || calls[1].Operation != "load" || calls[1].Err != nil {
		t.Fatalf("calls %+v", calls)
	}
	want := []middleware.BreakerEvent{
		{Kind: middleware.BreakerOpened},
		{Kind: middleware.BreakerClosed, Outage: 2 * time.Second, Refused: 1},
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", events, want)
	}

	bare := &bounded.Guard{Breaker: &breaker.Breaker{}}
	Guard(bare, nil, nil)
	if bare.OnCall != nil || bare.Breaker.OnStateChange != nil {
		t.Fatal("a guard wired to no hooks got some")
	}
}
