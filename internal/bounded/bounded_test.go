package bounded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/breaker"
	"github.com/redisware/redisware/internal/redistest"
)

func TestHonoursDeadlines(t *testing.T) {
	client := func(on bool) redis.UniversalClient {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: on})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	cluster := func(on bool) redis.UniversalClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: on})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ring := func(on bool) redis.UniversalClient {
		c := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: on})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	type wrapper struct{ redis.UniversalClient }
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		want bool
	}{
		{"client, default options", client(false), false},
		{"client, ContextTimeoutEnabled", client(true), true},
		{"cluster, default options", cluster(false), false},
		{"cluster, ContextTimeoutEnabled", cluster(true), true},
		{"ring, default options", ring(false), false},
		{"ring, ContextTimeoutEnabled", ring(true), true},
		{"unknown wrapper of a client that honours them", wrapper{client(true)}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HonoursDeadlines(tt.rdb); got != tt.want {
				t.Fatalf("HonoursDeadlines = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCall covers both paths with functions that answer, fail, or never
// answer; a function that never answers stands for a client that ignores
// the context.
func TestCall(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		direct  bool
		cancel  bool // the caller's context is cancelled before the call
		fn      func(ctx context.Context, release <-chan struct{}) (int, error)
		want    int
		wantErr error
	}{
		{"direct answer", true, false, func(context.Context, <-chan struct{}) (int, error) { return 7, nil }, 7, nil},
		{"goroutine answer", false, false, func(context.Context, <-chan struct{}) (int, error) { return 7, nil }, 7, nil},
		{"direct error", true, false, func(context.Context, <-chan struct{}) (int, error) { return 0, errBoom }, 0, errBoom},
		{"goroutine error", false, false, func(context.Context, <-chan struct{}) (int, error) { return 0, errBoom }, 0, errBoom},
		{"direct: the function sees the deadline", true, false, func(ctx context.Context, _ <-chan struct{}) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}, 0, context.DeadlineExceeded},
		{"goroutine: a function that ignores the deadline is abandoned", false, false, func(_ context.Context, release <-chan struct{}) (int, error) {
			<-release
			return 7, nil
		}, 0, context.DeadlineExceeded},
		{"goroutine: the caller's cancellation is reported", false, true, func(_ context.Context, release <-chan struct{}) (int, error) {
			<-release
			return 7, nil
		}, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			release := make(chan struct{})
			done := make(chan struct{})
			type arg struct {
				release <-chan struct{}
				done    chan<- struct{}
				fn      func(context.Context, <-chan struct{}) (int, error)
			}
			got, err := Call(ctx, 20*time.Millisecond, tt.direct, func(ctx context.Context, a arg) (int, error) {
				defer close(a.done)
				return a.fn(ctx, a.release)
			}, arg{release, done, tt.fn})
			close(release)
			<-done // an abandoned call still ends, and its send does not block
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDo(t *testing.T) {
	errBoom := errors.New("boom")
	for _, direct := range []bool{true, false} {
		var got string
		err := Do(context.Background(), time.Second, direct, func(_ context.Context, s string) error {
			got = s
			return errBoom
		}, "arg")
		if !errors.Is(err, errBoom) || got != "arg" {
			t.Fatalf("direct=%v: err %v, fn got %q", direct, err, got)
		}
	}
}

// TestStalledServer: on a half-open connection a default go-redis client
// waits out its own timeouts, an hour here, so returning at all shows Call
// ended the call at its timeout; a client with ContextTimeoutEnabled ends
// it itself.
func TestStalledServer(t *testing.T) {
	tests := []struct {
		name       string
		client     func(b *redistest.Backend, addr string) redis.UniversalClient
		wantDirect bool
	}{
		{"default client, through a goroutine", (*redistest.Backend).PatientClientAt, false},
		{"ContextTimeoutEnabled client, directly", func(b *redistest.Backend, addr string) redis.UniversalClient {
			o := b.Options()
			o.Addr = addr
			o.ReadTimeout, o.WriteTimeout = time.Hour, time.Hour
			o.ContextTimeoutEnabled = true
			c := redis.NewClient(o)
			t.Cleanup(func() { _ = c.Close() })
			return c
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			c := tt.client(b, p.Addr())
			ctx := context.Background()
			if err := c.Ping(ctx).Err(); err != nil { // opens the connection the stall catches
				t.Fatal(err)
			}
			p.Stall()
			direct := HonoursDeadlines(c)
			if direct != tt.wantDirect {
				t.Fatalf("HonoursDeadlines = %v", direct)
			}
			var err error
			redistest.Within(t, 10*time.Second, "PING on a stalled connection", func() {
				err = Do(ctx, 50*time.Millisecond, direct, func(ctx context.Context, c redis.UniversalClient) error {
					return c.Ping(ctx).Err()
				}, c)
			})
			var ne net.Error
			if !errors.Is(err, context.DeadlineExceeded) && !(direct && errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("PING on a stalled connection: %v, want a deadline error", err)
			}
		})
	}
}

// TestUntil: the caller's context alone bounds the call, for any client.
func TestUntil(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	c := b.PatientClientAt(p.Addr())
	ping := func(ctx context.Context, c redis.UniversalClient) error { return c.Ping(ctx).Err() }
	if err := Until(context.Background(), false, ping, c); err != nil { // no Done: runs in place
		t.Fatal(err)
	}
	p.Stall()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	redistest.Within(t, 10*time.Second, "PING on a stalled connection", func() { err = Until(ctx, false, ping, c) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PING on a stalled connection: %v, want a deadline error", err)
	}
}

// TestGuarded: a guard's breaker opens on failures, refuses calls without
// making them while open, and closes on the next success; OnCall hears of
// every call made, by operation, with redis.Nil reported as no error.
func TestGuarded(t *testing.T) {
	now := time.Unix(1000, 0)
	g := &Guard{Breaker: &breaker.Breaker{Threshold: 2, Now: func() time.Time { return now }}, Timeout: time.Second, Direct: true}
	var seen []string
	g.OnCall = func(_ context.Context, op string, d time.Duration, err error) {
		if d < 0 {
			t.Errorf("%s: negative duration %v", op, d)
		}
		seen = append(seen, fmt.Sprintf("%s:%v", op, err))
	}
	down := io.ErrUnexpectedEOF
	calls := 0
	call := func(_ context.Context, err error) (int, error) { calls++; return calls, err }
	do := func(_ context.Context, err error) error { calls++; return err }
	if v, err := Guarded(context.Background(), g, "get", call, nil); v != 1 || err != nil {
		t.Fatalf("Guarded = %d, %v", v, err)
	}
	if _, err := Guarded(context.Background(), g, "miss", call, error(redis.Nil)); err != redis.Nil {
		t.Fatalf("Guarded returned %v, want redis.Nil itself", err)
	}
	_ = GuardedDo(context.Background(), g, "set", do, error(down))
	_, _ = Guarded(context.Background(), g, "get", call, error(down))
	if _, err := Guarded(context.Background(), g, "get", call, nil); !errors.Is(err, breaker.ErrOpen) || calls != 4 {
		t.Fatalf("open breaker: err %v after %d calls, want ErrOpen after 4", err, calls)
	}
	if err := GuardedDo(context.Background(), g, "set", do, nil); !errors.Is(err, breaker.ErrOpen) || calls != 4 {
		t.Fatalf("open breaker (Do): err %v after %d calls", err, calls)
	}
	now = now.Add(time.Second) // the cool-down passes: one probe, which succeeds
	if err := GuardedDo(context.Background(), g, "set", do, nil); err != nil || g.Breaker.Open() {
		t.Fatalf("probe: %v, open %v", err, g.Breaker.Open())
	}
	want := []string{"get:<nil>", "miss:<nil>", "set:" + down.Error(), "get:" + down.Error(), "set:<nil>"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("OnCall saw %q, want %q", seen, want)
	}
}

// TestGuardedClientGone: calls that fail after the caller's context was
// cancelled (the client hung up) never open the breaker, whatever error
// the client returned, and their errors say the context was cancelled.
func TestGuardedClientGone(t *testing.T) {
	g := &Guard{Breaker: &breaker.Breaker{Threshold: 1}, Timeout: time.Second, Direct: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, direct := range []bool{true, false} {
		g.Direct = direct
		for range 3 {
			_, err := Guarded(ctx, g, "op", func(context.Context, int) (int, error) { return 0, io.ErrUnexpectedEOF }, 0)
			if !errors.Is(err, context.Canceled) || !errors.Is(err, io.ErrUnexpectedEOF) && direct {
				t.Fatalf("direct %v: %v, want it to wrap context.Canceled and the cause", direct, err)
			}
			if err := GuardedDo(ctx, g, "op", func(context.Context, int) error { return io.ErrUnexpectedEOF }, 0); !errors.Is(err, context.Canceled) {
				t.Fatalf("direct %v: GuardedDo: %v", direct, err)
			}
		}
	}
	if g.Breaker.Open() {
		t.Fatal("a client that hung up opened the breaker")
	}
	if !Gone(ctx) || Gone(context.Background()) {
		t.Fatal("Gone")
	}
	dl, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	if Gone(dl) {
		t.Fatal("a context past its deadline is not a client that went away")
	}
	// Without the cancellation the same failure opens it at once.
	if _, err := Guarded(context.Background(), g, "op", func(context.Context, int) (int, error) { return 0, io.ErrUnexpectedEOF }, 0); breaker.Quiet(err) || !g.Breaker.Open() {
		t.Fatalf("a failure: %v (quiet %v), open %v", err, breaker.Quiet(err), g.Breaker.Open())
	}
}

// TestDirectAllocs: the direct path costs what the timeout costs, nothing
// more, when fn captures nothing.
func TestDirectAllocs(t *testing.T) {
	ctx := context.Background()
	timeoutOnly := testing.AllocsPerRun(100, func() {
		_, cancel := context.WithTimeout(ctx, time.Second)
		cancel()
	})
	type arg struct {
		s string
		n int
	}
	call := testing.AllocsPerRun(100, func() {
		_, _ = Call(ctx, time.Second, true, func(_ context.Context, a arg) (int, error) { return a.n + len(a.s), nil }, arg{"k", 1})
	})
	do := testing.AllocsPerRun(100, func() {
		_ = Do(ctx, time.Second, true, func(_ context.Context, a arg) error { return nil }, arg{"k", 1})
	})
	if call != timeoutOnly || do != timeoutOnly {
		t.Fatalf("allocations: Call %v, Do %v; context.WithTimeout alone %v", call, do, timeoutOnly)
	}
	// Through a guard, with OnCall unset and set: the timing costs nothing.
	for _, g := range []*Guard{
		{Breaker: &breaker.Breaker{}, Timeout: time.Second, Direct: true},
		{Breaker: &breaker.Breaker{}, Timeout: time.Second, Direct: true, OnCall: func(context.Context, string, time.Duration, error) {}},
	} {
		guarded := testing.AllocsPerRun(100, func() {
			_, _ = Guarded(ctx, g, "op", func(_ context.Context, a arg) (int, error) { return a.n + len(a.s), nil }, arg{"k", 1})
		})
		guardedDo := testing.AllocsPerRun(100, func() {
			_ = GuardedDo(ctx, g, "op", func(_ context.Context, a arg) error { return nil }, arg{"k", 1})
		})
		if guarded != timeoutOnly || guardedDo != timeoutOnly {
			t.Fatalf("allocations (OnCall set: %v): Guarded %v, GuardedDo %v; context.WithTimeout alone %v",
				g.OnCall != nil, guarded, guardedDo, timeoutOnly)
		}
	}
}

// TestCallCallerDeadline: a caller's deadline sooner than the timeout is
// the call's bound as it stands (no context of Call's own, no allocation
// when direct); a later one is cut to the timeout.
func TestCallCallerDeadline(t *testing.T) {
	deadlineOf := func(ctx context.Context, _ int) (time.Time, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return time.Time{}, errors.New("no deadline")
		}
		return d, nil
	}
	for _, direct := range []bool{true, false} {
		soon, cancel := context.WithTimeout(context.Background(), time.Minute)
		want, _ := soon.Deadline()
		if got, err := Call(soon, time.Hour, direct, deadlineOf, 0); err != nil || !got.Equal(want) {
			t.Errorf("direct=%v, caller's deadline sooner: fn saw %v (%v), want the caller's %v", direct, got, err, want)
		}
		cancel()

		late, cancel := context.WithTimeout(context.Background(), time.Hour)
		callerDeadline, _ := late.Deadline()
		if got, err := Call(late, time.Minute, direct, deadlineOf, 0); err != nil || !got.Before(callerDeadline) {
			t.Errorf("direct=%v, caller's deadline later: fn saw %v (%v), want one before the caller's %v", direct, got, err, callerDeadline)
		}
		cancel()
	}

	// A function that ignores its context is abandoned at the caller's
	// deadline.
	soon, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	if _, err := Call(soon, time.Hour, false, func(_ context.Context, release chan struct{}) (int, error) {
		<-release
		return 7, nil
	}, release); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("abandoned at the caller's deadline: err %v, want DeadlineExceeded", err)
	}

	if redistest.RaceEnabled {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if n := testing.AllocsPerRun(100, func() {
		_, _ = Call(ctx, 2*time.Hour, true, func(_ context.Context, n int) (int, error) { return n + 1, nil }, 1)
	}); n != 0 {
		t.Errorf("direct call within the caller's deadline: %v allocations, want 0", n)
	}
}
