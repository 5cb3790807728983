package cachehandler

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// httpErrClosed is what waiting for a fill returns after Close.
var httpErrClosed = errors.New("cachehandler: closed")

// httpFills wakes requests waiting for another instance's fill. One Pub/Sub
// subscription per Cache (one connection, opened on the first wait) carries
// every fill announcement; each message names a fill (a URL hash, or a URL
// hash and variant hash) and wakes that fill's waiters in this process.
// Waiting this way costs no Redis calls at all, where polling would cost
// one per try and add up to a poll interval of latency. A lost message (a reconnect) only makes waiters wait their
// bounded FillWait.
type httpFills struct {
	c *Cache

	mu      sync.Mutex
	ps      *redis.PubSub
	closed  bool
	waiters map[string]chan struct{}
	done    chan struct{}
}

// wait returns a channel closed when a fill of hash is announced. The
// subscription is confirmed by Redis before wait returns, so a fill that
// completes afterwards is never missed.
func (f *httpFills) wait(ctx context.Context, hash string) (<-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, httpErrClosed
	}
	if f.ps == nil {
		h := &httpSubscribing{}
		err := redisDo(f.c, context.WithoutCancel(ctx), subscribeFills, subscribeArgs{f.c, h})
		ps := h.take() // a call that succeeded just after the timeout counts too
		if ps == nil {
			return nil, fmt.Errorf("cachehandler: subscribe: %w", err)
		}
		f.ps = ps
		f.done = make(chan struct{})
		go f.run(ps.Channel(), f.done)
	}
	if f.waiters == nil {
		f.waiters = map[string]chan struct{}{}
	}
	ch, ok := f.waiters[hash]
	if !ok {
		ch = make(chan struct{})
		f.waiters[hash] = ch
	}
	return ch, nil
}

// subscribeArgs are what subscribeFills needs.
type subscribeArgs struct {
	c *Cache
	h *httpSubscribing
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

// httpSubscribing hands a subscription from the call that opens it to the
// waiter that asked for it. A call given up at the timeout runs on (see
// bounded.Call) and may still succeed; the subscription it opens then must
// be closed, not leaked. Only the call can close it: the waiter has no
// handle on it, and PubSub.Close would wait for the stalled call anyway.
type httpSubscribing struct {
	mu    sync.Mutex
	ps    *redis.PubSub
	taken bool
}

// put hands ps over, or closes it if the waiter is gone.
func (h *httpSubscribing) put(ps *redis.PubSub) {
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
func (h *httpSubscribing) take() *redis.PubSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.taken = true
	return h.ps
}

func (f *httpFills) run(msgs <-chan *redis.Message, done chan struct{}) {
	defer close(done)
	for m := range msgs {
		f.notify(m.Payload)
	}
}

// notify wakes the waiters of hash.
func (f *httpFills) notify(hash string) {
	f.mu.Lock()
	if ch, ok := f.waiters[hash]; ok {
		close(ch)
		delete(f.waiters, hash)
	}
	f.mu.Unlock()
}

// close ends the subscription, wakes every waiter (they look once more,
// then run the handler themselves) and waits for the reader.
func (f *httpFills) close() error {
	f.mu.Lock()
	f.closed = true
	ps, done := f.ps, f.done
	f.ps = nil
	for _, ch := range f.waiters {
		close(ch)
	}
	f.waiters = nil
	f.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	return err
}
