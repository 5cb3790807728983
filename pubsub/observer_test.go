package pubsub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/middleware"
)

// recorder is an Observer that keeps what it is told; reconnections and
// the ends of SSE streams are also sent on channels, since they happen on
// other goroutines.
type recorder struct {
	mu        sync.Mutex
	published []PublishEvent
	messages  []MessageEvent
	calls     []middleware.RedisCall
	reconnect chan ReconnectEvent
	clients   chan SSEClientEvent
}

func newRecorder() *recorder {
	return &recorder{reconnect: make(chan ReconnectEvent, 10), clients: make(chan SSEClientEvent, 10)}
}

func (r *recorder) observer() Observer {
	return Observer{
		OnPublish: func(_ context.Context, e PublishEvent) {
			r.mu.Lock()
			r.published = append(r.published, e)
			r.mu.Unlock()
		},
		OnMessage: func(_ context.Context, e MessageEvent) {
			r.mu.Lock()
			r.messages = append(r.messages, e)
			r.mu.Unlock()
		},
		OnReconnect: func(_ context.Context, e ReconnectEvent) { r.reconnect <- e },
		OnSSEClient: func(_ context.Context, e SSEClientEvent) { r.clients <- e },
		OnRedisCall: func(_ context.Context, c middleware.RedisCall) {
			r.mu.Lock()
			r.calls = append(r.calls, c)
			r.mu.Unlock()
		},
	}
}

// ops returns the operations of the calls reported, "op failed" for
// those with an error, and forgets them.
func (r *recorder) ops() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ops []string
	for _, c := range r.calls {
		if c.Err != nil {
			ops = append(ops, c.Operation+" failed")
		} else {
			ops = append(ops, c.Operation)
		}
	}
	r.calls = nil
	return ops
}

func TestObserverPublish(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rec := newRecorder()
	pub, err := NewPublisher(b.ClientAt(p.Addr()), PublishOptions{Observer: rec.observer()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch := b.Prefix + "c"
	if err := pub.Publish(ctx, ch, order{ID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, ch, make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
	p.Down()
	if err := pub.Publish(ctx, ch, 1); err == nil {
		t.Fatal("published with Redis down")
	}
	rec.mu.Lock()
	got := rec.published
	rec.mu.Unlock()
	if len(got) != 3 || got[0] != (PublishEvent{Bytes: len(`{"id":7}`)}) ||
		got[1].Bytes != 0 || got[1].Err == nil || got[2].Bytes != 1 || got[2].Err == nil {
		t.Fatalf("published %+v", got)
	}
	if ops := rec.ops(); len(ops) != 2 || ops[0] != "publish" || ops[1] != "publish failed" {
		t.Fatalf("calls %q", ops)
	}
	if _, err := NewPublisher(nil, PublishOptions{}); err == nil {
		t.Fatal("NewPublisher took a nil client")
	}
}

// TestObserverSubscription: a subscription reports its subscribing call,
// every message it receives (decoded or not) and its reconnection after
// an outage.
func TestObserverSubscription(t *testing.T) {
	b := redistest.Start(t)
	direct := b.Client()
	p := b.NewProxy()
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.Prefix + "c"
	sub, err := Open[order](ctx, b.ClientAt(p.Addr()), SubscribeOptions{Channels: []string{ch}, Observer: rec.observer()})
	if err != nil {
		t.Fatal(err)
	}
	if ops := rec.ops(); len(ops) != 1 || ops[0] != "subscribe" {
		t.Fatalf("calls %q", ops)
	}
	msgs, _ := collect(sub.Messages())
	for _, payload := range []string{`{"id":1}`, `not json`} {
		if err := direct.Publish(ctx, ch, payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	next(t, msgs)
	if r := next(t, msgs); !errors.As(r.err, new(*DecodeError)) {
		t.Fatalf("got %+v, want a decode error", r)
	}
	rec.mu.Lock()
	got := rec.messages
	rec.mu.Unlock()
	if len(got) != 2 || got[0] != (MessageEvent{Bytes: 8}) || got[1].Bytes != 8 || !errors.As(got[1].Err, new(*DecodeError)) {
		t.Fatalf("messages %+v", got)
	}

	p.Down()
	if r := next(t, msgs); r.err == nil {
		t.Fatalf("got %+v with the connection cut, want an error", r.msg)
	}
	select {
	case e := <-rec.reconnect:
		t.Fatalf("reconnection %+v reported while Redis is down", e)
	default:
	}
	p.Up()
	go func() { // drain the errors of failed attempts while reconnecting
		for range msgs {
		}
	}()
	select {
	case e := <-rec.reconnect:
		if e.Outage <= 0 {
			t.Fatalf("reconnection after an outage of %v", e.Outage)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection reported")
	}
}

// TestObserverSSE: a stream reports its opening, and its end with how long
// it was open and whether its client was too slow.
func TestObserverSSE(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	ctx := context.Background()
	rec := newRecorder()

	t.Run("client leaves", func(t *testing.T) {
		ch := b.Prefix + "leave"
		done := make(chan struct{}, 1)
		srv := httptest.NewServer(tracked(newSSE(t, rdb, []string{ch}, SSEOptions{Observer: rec.observer()}), done))
		t.Cleanup(srv.Close)
		c := connect(t, srv.URL)
		if e := client(t, rec); !e.Connected {
			t.Fatalf("first event %+v, want the opening", e)
		}
		if err := Publish(ctx, rdb, ch, 1); err != nil {
			t.Fatal(err)
		}
		c.nextEvent(t, false)
		c.cancel()
		<-done
		if e := client(t, rec); e.Connected || e.Slow || e.Duration <= 0 {
			t.Fatalf("end %+v", e)
		}
	})

	t.Run("slow client", func(t *testing.T) {
		ch := b.Prefix + "slow"
		gate := make(chan struct{})
		var once sync.Once
		release := func() { once.Do(func() { close(gate) }) }
		defer release() // even on failure, so the server can shut down
		slow := make(chan struct{}, 1)
		h := newSSE(t, rdb, []string{ch}, SSEOptions{Buffer: 2, Heartbeat: -1, Observer: rec.observer(),
			OnSlowClient: func(*http.Request) { slow <- struct{}{} }})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&gateWriter{ResponseWriter: w, gate: gate}, r)
		}))
		t.Cleanup(srv.Close)
		connect(t, srv.URL)
		if e := client(t, rec); !e.Connected {
			t.Fatalf("first event %+v, want the opening", e)
		}
		for i := range 4 { // one being written, two buffered: the fourth overflows
			if err := Publish(ctx, rdb, ch, i); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-slow:
		case <-time.After(30 * time.Second):
			t.Fatal("slow client not detected")
		}
		release() // the handler ends once its write gets through
		if e := client(t, rec); e.Connected || !e.Slow {
			t.Fatalf("end %+v, want a slow client's", e)
		}
	})
}

// client returns the next SSE client event rec hears of.
func client(t *testing.T, rec *recorder) SSEClientEvent {
	t.Helper()
	select {
	case e := <-rec.clients:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no SSE client event")
	}
	return SSEClientEvent{}
}
