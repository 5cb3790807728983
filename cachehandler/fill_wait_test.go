package cachehandler

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestHTTPSubscribingHandoff: a subscription opened before the waiter
// takes it is handed over; one opened after the waiter gave up (a call
// abandoned at the timeout that succeeded late) is closed, not leaked.
func TestHTTPSubscribingHandoff(t *testing.T) {
	tests := []struct {
		name       string
		putFirst   bool
		wantHanded bool
	}{
		{"opened in time", true, true},
		{"opened after the waiter gave up", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
			t.Cleanup(func() { _ = rdb.Close() })
			ps := rdb.Subscribe(context.Background()) // no channels: no connection yet
			h := &subscribing{}
			var got *redis.PubSub
			if tt.putFirst {
				h.put(ps)
				got = h.take()
			} else {
				got = h.take()
				h.put(ps)
			}
			if handed := got == ps; handed != tt.wantHanded {
				t.Fatalf("handed over: %v, want %v", handed, tt.wantHanded)
			}
			// Close fails on a subscription that is closed already.
			if closed := ps.Close() != nil; closed == tt.wantHanded {
				t.Fatalf("closed by put: %v, want %v", closed, !tt.wantHanded)
			}
		})
	}
}

// TestFillWaitSurvivesHalfOpenConnection: the waiter's fill subscription
// goes half-open while another instance fills. The connection is pinged,
// dropped and replaced; the resubscription wakes the waiter to look again,
// and the fill still reaches it, whether it ends after the reconnect (its
// announcement comes through the new connection) or during the outage
// (the announcement is lost; the look after the resubscription finds the
// entry). The waiter never runs the handler itself.
func TestFillWaitSurvivesHalfOpenConnection(t *testing.T) {
	tests := []struct {
		name         string
		fillInOutage bool // the fill ends while the subscription is stalled
	}{
		{"fill after the reconnect", false},
		{"fill during the outage", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redistest.Start(t)
			p := b.NewProxy()
			clock := testNewClock()
			filler, _ := testCache(t, b.Client(), b.Prefix, clock, nil)
			// Idle pooled connections count as expired, so every command
			// dials anew: the stall leaves only the subscription, which
			// holds its connection, broken.
			o := b.Options()
			o.Addr, o.ConnMaxIdleTime = p.Addr(), time.Nanosecond
			rdb := redis.NewClient(o)
			t.Cleanup(func() { _ = rdb.Close() })
			logger, logs := redistest.Logger()
			waiter, errs := testCache(t, rdb, b.Prefix, clock, func(o *Options) {
				o.FillWait = time.Hour
				o.Logger = logger
			})
			waiter.fills.ping = 50 * time.Millisecond
			var seen int64 // waits observed so far
			next := func(what string) {
				t.Helper()
				seen++
				select {
				case <-whenWaiting(seen, waiter):
				case <-time.After(30 * time.Second): // safety net for a broken build: fail, don't hang
					t.Fatalf("no %s", what)
				}
			}

			const url = "http://example.com/halfopen"
			entered, release := make(chan struct{}), make(chan struct{})
			origin := &testOrigin{fn: func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				w.Header().Set("Cache-Control", "max-age=60")
				_, _ = w.Write([]byte("filled"))
			}}
			filled := make(chan struct{})
			go func() {
				defer close(filled)
				testDo(filler.Middleware(origin), "GET", url)
			}()
			<-entered
			own := testStatic(200, "own", "Cache-Control", "max-age=60")
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- testDo(waiter.Middleware(own), "GET", url) }()
			next("wait for the fill")

			p.Stall()
			if tt.fillInOutage {
				close(release)
				<-filled
			} else {
				next("second wait after the resubscription")
				close(release)
			}
			var w *httptest.ResponseRecorder
			select {
			case w = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the waiter was not woken by the fill")
			}
			if w.Body.String() != "filled" || own.calls.Load() != 0 || !strings.Contains(w.Header().Get("Cache-Status"), "collapsed") {
				t.Fatalf("waiter: %q, Cache-Status %q, its handler ran %d times",
					w.Body.String(), w.Header().Get("Cache-Status"), own.calls.Load())
			}
			if !strings.Contains(logs.String(), "fill subscription interrupted") {
				t.Fatalf("outage not logged:\n%s", logs)
			}
			if n := errs.count(); n != 0 {
				t.Fatalf("%d errors reported", n)
			}
		})
	}
}

// dialSignal is a go-redis hook that sends on dialing before each dial.
type dialSignal struct{ dialing chan<- struct{} }

func (h dialSignal) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dialing <- struct{}{}
		return next(ctx, network, addr)
	}
}
func (h dialSignal) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h dialSignal) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFillSubscribeOutsideLock: while the fill subscription is being opened
// on a stalled Redis, a wait whose client left returns at once and Close
// does not wait for the stalled call. (The subscribe used to run under the
// mutex every waiter and Close need, so both stayed blocked until the
// subscribe timed out: here, never, as the timeout is an hour.)
func TestFillSubscribeOutsideLock(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	o := b.Options()
	o.Addr = p.Addr()
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	dialing := make(chan struct{}, 16)
	rdb.AddHook(dialSignal{dialing})
	c, _ := testCache(t, rdb, b.Prefix, testNewClock(), func(o *Options) { o.Timeout = time.Hour })
	// safety net for a regression: fail, don't hang
	within := func(what string, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: still blocked behind the stalled subscribe", what)
			return nil
		}
	}

	p.Hang()
	first := make(chan error, 1)
	go func() {
		_, err := c.fills.wait(context.Background(), "a")
		first <- err
	}()
	select {
	case <-dialing: // the subscription is being opened, and stalls
	case <-time.After(30 * time.Second):
		t.Fatal("the subscription was never dialled")
	}

	left, cancel := context.WithCancel(context.Background())
	cancel()
	second := make(chan error, 1)
	go func() {
		_, err := c.fills.wait(left, "b")
		second <- err
	}()
	if err := within("a wait whose client left", second); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v, want context.Canceled", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	if err := within("Close", closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p.Down() // the stalled subscribe fails now, and its waiter returns
	if err := within("the first wait", first); err == nil {
		t.Fatal("the first wait succeeded on a closed cache")
	}
}
