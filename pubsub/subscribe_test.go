package pubsub

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items,omitempty"`
}

func numSub(t *testing.T, rdb redis.UniversalClient, channel string) int64 {
	t.Helper()
	m, err := rdb.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return m[channel]
}

type result[T any] struct {
	msg Message[T]
	err error
}

// collect ranges over seq in a goroutine and forwards what it yields.
func collect[T any](seq func(func(Message[T], error) bool)) (<-chan result[T], <-chan struct{}) {
	out := make(chan result[T], 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range seq {
			out <- result[T]{m, err}
		}
	}()
	return out, done
}

func next[T any](t *testing.T, ch <-chan result[T]) result[T] {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30 s")
		return result[T]{}
	}
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "orders"
	sub, err := Open[order](ctx, rdb, SubscribeOptions{Channels: []string{ch}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, done := collect(sub.Messages())

	tests := []struct {
		name string
		in   order
	}{
		{"plain", order{ID: 7}},
		{"with slice", order{ID: 8, Items: []string{"a", "b\nc"}}},
		{"zero", order{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Publish(ctx, rdb, ch, tt.in); err != nil {
				t.Fatal(err)
			}
			r := next(t, msgs)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.msg.Channel != ch || r.msg.Pattern != "" {
				t.Fatalf("channel %q pattern %q", r.msg.Channel, r.msg.Pattern)
			}
			if r.msg.Data.ID != tt.in.ID || len(r.msg.Data.Items) != len(tt.in.Items) {
				t.Fatalf("got %+v, want %+v", r.msg.Data, tt.in)
			}
		})
	}
	cancel()
	<-done
}

func TestSubscribeLazyAndPattern(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("channel", func(t *testing.T) {
		ch := b.Prefix + "lazy"
		msgs, _ := collect(Subscribe[int](ctx, rdb, ch))
		// The loop subscribes when it starts: wait until Redis counts it.
		redistest.Eventually(t, "subscriber", func() bool { return numSub(t, rdb, ch) == 1 })
		if err := Publish(ctx, rdb, ch, 42); err != nil {
			t.Fatal(err)
		}
		if r := next(t, msgs); r.err != nil || r.msg.Data != 42 {
			t.Fatalf("got %+v, %v", r.msg, r.err)
		}
	})
	t.Run("pattern", func(t *testing.T) {
		pat := b.Prefix + "orders:*"
		sub, err := Open[order](ctx, rdb, SubscribeOptions{Patterns: []string{pat}})
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := collect(sub.Messages())
		ch := b.Prefix + "orders:eu"
		if err := Publish(ctx, rdb, ch, order{ID: 3}); err != nil {
			t.Fatal(err)
		}
		r := next(t, msgs)
		if r.err != nil || r.msg.Data.ID != 3 || r.msg.Channel != ch || r.msg.Pattern != pat {
			t.Fatalf("got %+v, %v", r.msg, r.err)
		}
	})
	t.Run("psubscribe lazy", func(t *testing.T) {
		pat := b.Prefix + "p:*"
		msgs, _ := collect(PSubscribe[string](ctx, rdb, pat))
		redistest.Eventually(t, "pattern subscriber", func() bool {
			n, err := rdb.PubSubNumPat(ctx).Result()
			return err == nil && n >= 1
		})
		// NUMPAT counts every pattern on the server: publish until ours
		// answers, within the bound.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := Publish(ctx, rdb, b.Prefix+"p:x", "hi"); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-msgs:
				if r.err != nil || r.msg.Data != "hi" || r.msg.Pattern != pat {
					t.Fatalf("got %+v, %v", r.msg, r.err)
				}
				return
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("no message")
			}
		}
	})
}

func TestBadMessageDoesNotEndStream(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "orders"
	sub, err := Open[order](ctx, rdb, SubscribeOptions{Channels: []string{ch}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := collect(sub.Messages())
	if err := rdb.Publish(ctx, ch, "not json").Err(); err != nil {
		t.Fatal(err)
	}
	if err := Publish(ctx, rdb, ch, order{ID: 9}); err != nil {
		t.Fatal(err)
	}
	r := next(t, msgs)
	var de *DecodeError
	if !errors.As(r.err, &de) || de.Channel != ch || r.msg.Payload != "not json" {
		t.Fatalf("first: %+v, %v; want a DecodeError", r.msg, r.err)
	}
	if r := next(t, msgs); r.err != nil || r.msg.Data.ID != 9 {
		t.Fatalf("second: %+v, %v", r.msg, r.err)
	}
}

func TestSubscribeReleasesConnection(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, sub *Subscription[int])
		// brk makes the loop itself stop after the first message.
		brk bool
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ *Subscription[int]) { cancel() }, false},
		{"Close", func(_ context.CancelFunc, sub *Subscription[int]) { _ = sub.Close() }, false},
		{"loop breaks", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			rdb := b.Client()
			ctx := context.Background()
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			ch := b.Prefix + "c"
			baseline := runtime.NumGoroutine()

			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			sub, err := Open[int](sctx, rdb, SubscribeOptions{Channels: []string{ch}})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan int, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for m, err := range sub.Messages() {
					if err == nil {
						got <- m.Data
					}
					if tt.brk {
						break
					}
				}
			}()
			if n := numSub(t, rdb, ch); n != 1 {
				t.Fatalf("NUMSUB = %d, want 1", n)
			}
			if tt.brk {
				if err := Publish(ctx, rdb, ch, 1); err != nil {
					t.Fatal(err)
				}
			} else {
				tt.end(cancel, sub)
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("loop did not end")
			}
			redistest.Eventually(t, "server to drop the subscriber", func() bool { return numSub(t, rdb, ch) == 0 })
			redistest.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
		})
	}
}

func TestSubscribeSurvivesReconnect(t *testing.T) {
	b := redistest.Start(t)
	direct := b.Client()
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "c"
	sub, err := Open[int](ctx, rdb, SubscribeOptions{Channels: []string{ch}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := collect(sub.Messages())
	p.Down()
	r := next(t, msgs)
	if r.err == nil {
		t.Fatalf("got %+v with the connection cut, want an error", r.msg)
	}
	if numSub(t, direct, ch) != 0 {
		t.Fatal("still subscribed while the proxy is down")
	}
	p.Up()
	redistest.Eventually(t, "resubscription", func() bool { return numSub(t, direct, ch) == 1 })
	if err := Publish(ctx, direct, ch, 5); err != nil {
		t.Fatal(err)
	}
	for {
		r := next(t, msgs)
		if r.err != nil {
			continue // further failed attempts while reconnecting
		}
		if r.msg.Data != 5 {
			t.Fatalf("got %+v", r.msg)
		}
		break
	}
}

func TestOpenValidates(t *testing.T) {
	rdb, prefix := redistest.New(t)
	ctx := context.Background()
	tests := []struct {
		name string
		o    SubscribeOptions
	}{
		{"nothing", SubscribeOptions{}},
		{"empty channel", SubscribeOptions{Channels: []string{""}}},
		{"negative ping", SubscribeOptions{Channels: []string{prefix + "x"}, PingInterval: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open[int](ctx, rdb, tt.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// Subscribe yields the error once and ends.
	n := 0
	for _, err := range Subscribe[int](ctx, rdb) {
		if err == nil {
			t.Fatal("nil error")
		}
		n++
	}
	if n != 1 {
		t.Fatalf("yielded %d times", n)
	}
	if err := Publish(ctx, rdb, "", 1); err == nil {
		t.Fatal("Publish to empty channel: no error")
	}
	if err := Publish(ctx, rdb, prefix+"x", func() {}); err == nil {
		t.Fatal("Publish of a func: no error")
	}
}

func TestSubscribePingsQuietConnection(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "quiet"
	sub, err := Open[int](ctx, rdb, SubscribeOptions{Channels: []string{ch}, PingInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := collect(sub.Messages())
	// Let the receive loop time out and ping a number of times, then check
	// the subscription still delivers and no timeout surfaced as an error.
	for i := range 3 {
		select {
		case r := <-msgs:
			t.Fatalf("unexpected %+v, %v on a quiet channel", r.msg, r.err)
		case <-time.After(20 * time.Millisecond):
		}
		if err := Publish(ctx, rdb, ch, i); err != nil {
			t.Fatal(err)
		}
		if r := next(t, msgs); r.err != nil || r.msg.Data != i {
			t.Fatalf("got %+v, %v", r.msg, r.err)
		}
	}
}

// TestSubscribeDetectsHalfOpenConnection: when the connection stops
// answering without being closed, pings alone would go on succeeding (they
// are only written); the unanswered ping must drop it, and the
// subscription must come back on a new connection.
func TestSubscribeDetectsHalfOpenConnection(t *testing.T) {
	b := redistest.Start(t)
	direct := b.Client()
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "c"
	sub, err := Open[int](ctx, rdb, SubscribeOptions{Channels: []string{ch}, PingInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := collect(sub.Messages())
	p.Stall()
	r := next(t, msgs)
	if r.err == nil || !strings.Contains(r.err.Error(), "no answer to ping") {
		t.Fatalf("got %+v, %v; want the dead connection reported", r.msg, r.err)
	}
	// go-redis reconnects in the background: publish until the new
	// subscription answers, within the bound.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := Publish(ctx, direct, ch, 5); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-msgs:
			if r.err != nil {
				continue // failed attempts while reconnecting
			}
			if r.msg.Data != 5 {
				t.Fatalf("got %+v", r.msg)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after the reconnect")
		}
	}
}

// TestOpenWithEndedContext: Open with a context that has already ended
// fails with its error. The end of the context closes the subscription
// from another goroutine at once, so repeated calls give the race
// detector a chance to catch what that goroutine reads.
func TestOpenWithEndedContext(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		if _, err := Open[int](ctx, rdb, SubscribeOptions{Channels: []string{b.Prefix + "c"}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Open: %v, want context.Canceled", err)
		}
	}
}

// TestOpenEndsWithItsContext: on a server that accepts connections and
// never answers, Open and the lazy Subscribe return when their context
// ends, with a client that would wait an hour for the handshake; the
// abandoned handshake's connection is closed once the client gives up.
func TestOpenEndsWithItsContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancellation", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			rdb := b.PatientClientAt(p.Addr())
			baseline := runtime.NumGoroutine()
			p.Hang()
			ch := b.Prefix + "c"

			ctx, cancel := tt.ctx()
			defer cancel()
			var err error
			redistest.Within(t, 10*time.Second, "Open on a hung server", func() {
				_, err = Open[int](ctx, rdb, SubscribeOptions{Channels: []string{ch}})
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open: %v, want %v", err, tt.wantErr)
			}

			ctx, cancel = tt.ctx()
			defer cancel()
			redistest.Within(t, 10*time.Second, "Subscribe on a hung server", func() {
				for _, err := range Subscribe[int](ctx, rdb, ch) {
					t.Errorf("Subscribe yielded %v after its context ended", err)
				}
			})

			// The server finally hangs up: the handshakes end, and what
			// they left running with them.
			p.Down()
			redistest.Eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
		})
	}
}
