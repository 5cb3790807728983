package cachehandler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/redisware/redisware/internal/psloop"
)

// errClosed is what waiting for a fill returns after Close.
var errClosed = errors.New("cachehandler: closed")

// fillNotices wakes requests waiting for another instance's fill. One Pub/Sub
// subscription per Cache (one connection, opened on the first wait) carries
// every fill announcement; each message names a fill (a URL hash, or a URL
// hash and variant hash) and wakes that fill's waiters in this process.
// Waiting this way costs no Redis calls at all, where polling would cost
// one per try and add up to a poll interval of latency.
//
// Announcements made while the connection is down are lost, so every
// resubscription wakes all waiters to look for their fill's entry once
// more (one lookup per fill waited for, once per outage). Those whose fill
// is still running wait again; one whose lost fill stored nothing still
// waits out its bounded FillWait.
//
// psloop reads the subscription: it pings a connection quiet for ping and
// drops one that leaves the ping unanswered, so a half-open connection (a
// server or network gone without closing it) cannot stop announcements
// unnoticed until TCP gives up many minutes later; go-redis then
// reconnects and resubscribes.
type fillNotices struct {
	c *Cache
	// ping is how long the subscription may stay quiet before it is
	// pinged. Zero means fillPing; tests shorten it.
	ping time.Duration

	opening singleflight.Group // the one subscribe in flight, outside mu

	mu      sync.Mutex
	ps      *redis.PubSub
	stop    context.CancelFunc // ends the reader
	closed  bool
	waiters map[string]*fillWaiter
	done    chan struct{} // closed when the reader has returned
}

// fillWaiter is what the waiters of one fill wait on.
type fillWaiter struct {
	// done is closed when the fill is announced, at a resubscription and
	// by close.
	done chan struct{}
	// again: done was closed by a resubscription, not for the fill, which
	// may still be running. Set before done is closed.
	again bool
}

// fillPing is the default of fillNotices.ping: go-redis' own health
// check interval. A half-open connection is replaced within about twice
// that, a little over the default FillWait, at the cost of a PING every
// 3 s on a quiet connection.
const fillPing = 3 * time.Second

// wait returns the waiter of the fill of hash, whose done closes when the
// fill is announced. The subscription is confirmed by Redis before wait
// first returns, so a fill that completes afterwards is never missed; if
// the connection fails later, its resubscription wakes the waiter with
// again set. A wait whose ctx ends while the subscription is being opened
// returns ctx's error at once.
func (f *fillNotices) wait(ctx context.Context, hash string) (*fillWaiter, error) {
	if err := f.subscribe(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errClosed
	}
	if f.waiters == nil {
		f.waiters = map[string]*fillWaiter{}
	}
	fw, ok := f.waiters[hash]
	if !ok {
		fw = &fillWaiter{done: make(chan struct{})}
		f.waiters[hash] = fw
	}
	return fw, nil
}

// subscribe opens the fill subscription unless it is open. The round trip
// runs without f.mu, so a stalled Redis holds up only the waits that need
// the subscription, not notify, resync or close; concurrent waits share
// one subscribe call.
func (f *fillNotices) subscribe(ctx context.Context) error {
	f.mu.Lock()
	closed, open := f.closed, f.ps != nil
	f.mu.Unlock()
	switch {
	case closed:
		return errClosed
	case open:
		return nil
	}
	ch := f.opening.DoChan("", func() (any, error) {
		h := &subscribing{}
		err := redisDo(context.WithoutCancel(ctx), f.c, "subscribe", subscribeFills, subscribeArgs{f.c, h})
		ps := h.take() // a call that succeeded just after the timeout counts too
		if ps == nil {
			return nil, fmt.Errorf("cachehandler: subscribe: %w", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			_ = ps.Close()
			return nil, errClosed
		}
		rctx, stop := context.WithCancel(context.Background())
		f.ps, f.stop, f.done = ps, stop, make(chan struct{})
		go f.run(rctx, ps, cmp.Or(f.ping, fillPing), f.done)
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// subscribeArgs are what subscribeFills needs.
type subscribeArgs struct {
	c *Cache
	h *subscribing
}

// subscribeFills opens the fill subscription and hands it over through
// a.h once Redis has confirmed it.
func subscribeFills(ctx context.Context, a subscribeArgs) error {
	ps := a.c.rdb.Subscribe(ctx, a.c.fillChannel())
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return err
	}
	a.h.put(ps)
	return nil
}

// subscribing hands a subscription from the call that opens it to the
// waiter that asked for it. A call given up at the timeout runs on (see
// bounded.Call) and may still succeed; the subscription it opens then must
// be closed, not leaked. Only the call can close it: the waiter has no
// handle on it, and PubSub.Close would wait for the stalled call anyway.
type subscribing struct {
	mu    sync.Mutex
	ps    *redis.PubSub
	taken bool
}

// put hands ps over, or closes it if the waiter is gone.
func (h *subscribing) put(ps *redis.PubSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken {
		_ = ps.Close()
		return
	}
	h.ps = ps
}

// take returns the subscription if it was handed over, and makes any
// later one be closed.
func (h *subscribing) take() *redis.PubSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.taken = true
	return h.ps
}

// run reads ps until ctx ends, waking the waiters of each announced fill
// and, at each resubscription, all waiters; it logs the first failure of
// each outage. The first confirmation was read before run started.
func (f *fillNotices) run(ctx context.Context, ps *redis.PubSub, ping time.Duration, done chan struct{}) {
	defer close(done)
	psloop.Run(ctx, ps, ping, psloop.Handler{
		Message: func(m *redis.Message) bool {
			f.notify(m.Payload)
			return true
		},
		Subscribed: func(*redis.Subscription) { f.resync() },
		Failed: func(err error, n int) bool {
			if n == 1 { // once per outage
				f.c.opt.Logger.LogAttrs(ctx, slog.LevelWarn, "cachehandler: fill subscription interrupted; reconnecting",
					slog.String("channel", f.c.fillChannel()), slog.Any("err", err))
			}
			return true
		},
	})
}

// notify wakes the waiters of hash.
func (f *fillNotices) notify(hash string) {
	f.mu.Lock()
	if fw, ok := f.waiters[hash]; ok {
		close(fw.done)
		delete(f.waiters, hash)
	}
	f.mu.Unlock()
}

// resync wakes every waiter with again set: announcements made before a
// resubscription may have been lost.
func (f *fillNotices) resync() {
	f.mu.Lock()
	for hash, fw := range f.waiters {
		fw.again = true
		close(fw.done)
		delete(f.waiters, hash)
	}
	f.mu.Unlock()
}

// close ends the subscription, wakes every waiter (they look once more,
// then run the handler themselves) and waits for the reader.
func (f *fillNotices) close() error {
	f.mu.Lock()
	f.closed = true
	ps, stop, done := f.ps, f.stop, f.done
	f.ps = nil
	for _, fw := range f.waiters {
		close(fw.done)
	}
	f.waiters = nil
	f.mu.Unlock()
	if ps == nil {
		return nil
	}
	stop() // first, so that the failing receive ends the reader unlogged
	err := ps.Close()
	<-done
	return err
}
