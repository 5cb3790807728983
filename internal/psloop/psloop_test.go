package psloop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

type failure struct {
	err error
	n   int
}

// recorder forwards what Run hands its hooks to channels a test reads.
type recorder struct {
	ctx   context.Context // ends the hooks' sends once the test is over
	msgs  chan *redis.Message
	subs  chan *redis.Subscription
	fails chan failure
}

func newRecorder(ctx context.Context) *recorder {
	return &recorder{
		ctx:   ctx,
		msgs:  make(chan *redis.Message, 64),
		subs:  make(chan *redis.Subscription, 64),
		fails: make(chan failure, 64),
	}
}

func send[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

func (r *recorder) handler() Handler {
	return Handler{
		Message:    func(m *redis.Message) bool { send(r.ctx, r.msgs, m); return true },
		Subscribed: func(s *redis.Subscription) { send(r.ctx, r.subs, s) },
		Failed:     func(err error, n int) bool { send(r.ctx, r.fails, failure{err, n}); return true },
	}
}

// next returns the next value on ch, failing the test after 5 s without
// one.
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", what)
		var zero T
		return zero
	}
}

// start runs Run on ps with a recorder's hooks in a goroutine until the
// test ends, then stops it as callers do: ctx first, then the PubSub.
func start(t *testing.T, ps *redis.PubSub, ping time.Duration) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := newRecorder(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, ps, ping, r.handler())
	}()
	t.Cleanup(func() {
		cancel()
		_ = ps.Close()
		redistest.Within(t, 10*time.Second, "Run", func() { <-done })
	})
	return r
}

func subscribed(t *testing.T, subs <-chan *redis.Subscription, kind, channel string) {
	t.Helper()
	if s := next(t, subs, kind+" confirmation"); s.Kind != kind || s.Channel != channel {
		t.Fatalf("confirmation %s %s, want %s %s", s.Kind, s.Channel, kind, channel)
	}
}

func TestRunDelivers(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	ch, pat := b.Prefix+"c", b.Prefix+"p:*"
	ps := rdb.Subscribe(ctx, ch)
	if err := ps.PSubscribe(ctx, pat); err != nil {
		t.Fatal(err)
	}
	r := start(t, ps, time.Minute)
	subscribed(t, r.subs, "subscribe", ch)
	subscribed(t, r.subs, "psubscribe", pat)

	tests := []struct {
		name, channel, pattern string
	}{
		{"channel", ch, ""},
		{"pattern", b.Prefix + "p:x", pat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rdb.Publish(ctx, tt.channel, "hi").Err(); err != nil {
				t.Fatal(err)
			}
			m := next(t, r.msgs, "message")
			if m.Channel != tt.channel || m.Pattern != tt.pattern || m.Payload != "hi" {
				t.Fatalf("got %+v", m)
			}
		})
	}

	t.Run("unsubscribe confirmations are not passed on", func(t *testing.T) {
		if err := ps.Unsubscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		other := b.Prefix + "other"
		if err := ps.Subscribe(ctx, other); err != nil {
			t.Fatal(err)
		}
		subscribed(t, r.subs, "subscribe", other)
	})
	select {
	case f := <-r.fails:
		t.Fatalf("failure reported: %v", f.err)
	default:
	}
}

// pingCounter is a connection that counts the PINGs written through it.
type pingCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c pingCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\r\nping\r\n"))))
	return c.Conn.Write(p)
}

// TestRunPingsQuietConnection: a quiet connection is pinged, its pongs are
// consumed, and it is kept: no failure, no resubscription.
func TestRunPingsQuietConnection(t *testing.T) {
	b := redistest.Start(t)
	var pings atomic.Int64
	o := b.Options()
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return pingCounter{c, &pings}, nil
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	ch := b.Prefix + "quiet"
	ps := rdb.Subscribe(ctx, ch)
	r := start(t, ps, time.Millisecond)
	subscribed(t, r.subs, "subscribe", ch)
	redistest.Eventually(t, "a few pings", func() bool { return pings.Load() >= 3 })

	if err := rdb.Publish(ctx, ch, "still here").Err(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r.msgs, "message"); m.Payload != "still here" {
		t.Fatalf("got %+v", m)
	}
	select {
	case f := <-r.fails:
		t.Fatalf("failure reported on a quiet connection: %v", f.err)
	case s := <-r.subs:
		t.Fatalf("resubscribed (%s) on a quiet connection", s)
	default:
	}
}

// proxied is a subscription to one channel read by Run through a proxy
// that a test cuts or stalls.
type proxied struct {
	*recorder
	p      *redistest.Proxy
	ch     string
	direct redis.UniversalClient // around the proxy
}

// startProxied subscribes through a proxy, runs Run with ping and waits
// for the subscription's confirmation.
func startProxied(t *testing.T, ping time.Duration) proxied {
	t.Helper()
	b := redistest.Start(t)
	s := proxied{p: b.NewProxy(), ch: b.Prefix + "c", direct: b.Client()}
	ps := b.ClientAt(s.p.Addr()).Subscribe(context.Background(), s.ch)
	s.recorder = start(t, ps, ping)
	subscribed(t, s.subs, "subscribe", s.ch)
	return s
}

// delivers publishes around the proxy and checks that Run passes the
// message on.
func (s proxied) delivers(t *testing.T, payload string) {
	t.Helper()
	if err := s.direct.Publish(context.Background(), s.ch, payload).Err(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, s.msgs, "message"); m.Payload != payload {
		t.Fatalf("got %+v, want %q", m, payload)
	}
}

// TestRunDetectsHalfOpenConnection: when the connection stops answering
// without being closed, pings alone would go on succeeding (they are only
// written); the unanswered ping must drop it, and the subscription must
// come back on a new connection.
func TestRunDetectsHalfOpenConnection(t *testing.T) {
	s := startProxied(t, 20*time.Millisecond)
	s.p.Stall()
	f := next(t, s.fails, "failure")
	if !errors.Is(f.err, ErrNoAnswer) || f.n != 1 {
		t.Fatalf("failure %v (n = %d), want ErrNoAnswer first", f.err, f.n)
	}
	subscribed(t, s.subs, "subscribe", s.ch) // on the new connection
	s.delivers(t, "back")
}

// TestRunCountsFailuresPerOutage: failures in a row are numbered from 1,
// and a successful receive starts the count again.
func TestRunCountsFailuresPerOutage(t *testing.T) {
	s := startProxied(t, time.Minute)
	for outage := range 2 {
		s.p.Down()
		for want := 1; want <= 2; want++ {
			if f := next(t, s.fails, "failure"); f.n != want {
				t.Fatalf("outage %d: failure %v numbered %d, want %d", outage, f.err, f.n, want)
			}
		}
		s.p.Up()
		subscribed(t, s.subs, "subscribe", s.ch)
		// Failures reported between the two reads above and the
		// reconnect belong to this outage.
		for len(s.fails) > 0 {
			<-s.fails
		}
	}
	s.delivers(t, "back")
}

// stopEnv is what a TestRunStops case may act on.
type stopEnv struct {
	t      *testing.T
	b      *redistest.Backend
	p      *redistest.Proxy
	ps     *redis.PubSub
	cancel context.CancelFunc
}

func TestRunStops(t *testing.T) {
	tests := []struct {
		name string
		h    func(cancel context.CancelFunc) Handler
		// then makes Run stop, through the hooks or otherwise.
		then func(e stopEnv)
	}{
		{
			"context ended and PubSub closed while waiting",
			func(context.CancelFunc) Handler { return Handler{} },
			func(e stopEnv) {
				e.cancel()
				_ = e.ps.Close()
			},
		},
		{
			"Message returns false",
			func(context.CancelFunc) Handler {
				return Handler{Message: func(*redis.Message) bool { return false }}
			},
			func(e stopEnv) {
				if err := e.b.Client().Publish(context.Background(), e.b.Prefix+"c", "x").Err(); err != nil {
					e.t.Fatal(err)
				}
			},
		},
		{
			"Failed returns false",
			func(context.CancelFunc) Handler {
				return Handler{Failed: func(error, int) bool { return false }}
			},
			func(e stopEnv) { e.p.Down() },
		},
		{
			"context ended during the backoff",
			func(cancel context.CancelFunc) Handler {
				return Handler{Failed: func(error, int) bool { cancel(); return true }}
			},
			func(e stopEnv) { e.p.Down() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			rdb := b.ClientAt(p.Addr())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ps := rdb.Subscribe(ctx, b.Prefix+"c")
			t.Cleanup(func() { _ = ps.Close() })
			// The confirmation read here proves the subscription active.
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, ps, time.Hour, tt.h(cancel)) // an hour: only the case stops it
			}()
			tt.then(stopEnv{t, b, p, ps, cancel})
			redistest.Within(t, 10*time.Second, "Run", func() { <-done })
		})
	}
}

func TestRunPanicsWithoutPingInterval(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Run(context.Background(), nil, 0, Handler{})
}
