package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redisware/redisware/internal/bounded"
)

// Coalescing of hot keys.
//
// While one script call for a decision key (hashed key + the route's
// limits) is in flight, requests for the same key wait in arrival order;
// when the call returns, all of them go to Redis as the next call, one
// script run that decides each in order with its own cost (see
// gcraScript). A batch is sent only after every request in it arrived, so
// no request is decided on a state older than its arrival, and each is
// decided by Redis as if it had been sent alone at the batch's moment:
// limits stay exact across instances. A key with no call in flight (the
// usual case when keys are many) goes straight to Redis.
//
// Timeouts stay per request: a batch's call ends by the deadline of its
// earliest request (arrival + Options.Timeout), so no request waits longer
// than Timeout from its arrival. A request whose context ends while it is
// still queued leaves the queue and spends nothing; once its batch is sent
// it waits for the answer, as a single call does.

// waiter is a request queued behind a call in flight for its key.
type waiter struct {
	cost     int
	deadline time.Time     // arrival + Options.Timeout
	ready    chan struct{} // closed when d and err are set, or batch is
	batch    []*waiter     // set on the first waiter of a batch: it sends it
	d        []int64       // the request's part of the reply
	err      error
}

// eval decides one request of cost for the decision key ck: alone when no
// call for ck is in flight, else in the next batch.
func (l *Limiter) eval(ctx context.Context, ps *policySet, h, ck string, cost int) ([]int64, error) {
	l.flightMu.Lock()
	queue, busy := l.flight[ck]
	if !busy {
		l.flight[ck] = nil // in flight, nobody waiting
		l.flightMu.Unlock()
		d, err := bounded.Guarded(ctx, &l.guard, "decide", func(ctx context.Context, a evalArgs) ([]int64, error) {
			return a.l.run(ctx, a.ps, a.h, a.cost, nil)
		}, evalArgs{l: l, ps: ps, h: h, cost: cost})
		l.sendNext(ctx, ps, h, ck)
		return d, err
	}
	w := &waiter{cost: cost, deadline: time.Now().Add(l.o.Timeout), ready: make(chan struct{})}
	l.flight[ck] = append(queue, w)
	l.flightMu.Unlock()

	select {
	case <-w.ready:
	case <-ctx.Done():
		if l.leave(ck, w) {
			return nil, fmt.Errorf("stopped waiting for redis: %w", ctx.Err())
		}
		<-w.ready // its batch is on its way: bounded by its deadline
	}
	if w.batch != nil {
		l.send(ctx, ps, h, w.batch)
		l.sendNext(ctx, ps, h, ck)
	}
	return w.d, w.err
}

// leave takes w out of ck's queue and reports whether it was still there.
func (l *Limiter) leave(ck string, w *waiter) bool {
	l.flightMu.Lock()
	defer l.flightMu.Unlock()
	queue := l.flight[ck]
	for i, q := range queue {
		if q == w {
			l.flight[ck] = append(queue[:i:i], queue[i+1:]...)
			return true
		}
	}
	return false
}

// sendNext is called when ck's call in flight has returned: it hands the
// requests that queued meanwhile, as one batch, to the first of them, or
// marks ck idle when none did.
func (l *Limiter) sendNext(ctx context.Context, ps *policySet, h, ck string) {
	l.flightMu.Lock()
	queue := l.flight[ck]
	if len(queue) == 0 {
		delete(l.flight, ck)
		l.flightMu.Unlock()
		return
	}
	l.flight[ck] = nil // the batch is in flight now
	l.flightMu.Unlock()
	queue[0].batch = queue
	close(queue[0].ready)
}

// send makes batch's script call, bounded by its earliest deadline, and
// hands each waiter its answer. It runs on the first waiter's goroutine;
// the call does not end with that request's context, as the others depend
// on it, only by the deadline.
func (l *Limiter) send(ctx context.Context, ps *policySet, h string, batch []*waiter) {
	deadline := batch[0].deadline
	for _, w := range batch[1:] {
		if w.deadline.Before(deadline) {
			deadline = w.deadline
		}
	}
	bctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	d, err := bounded.Guarded(bctx, &l.guard, "decide-batch", func(ctx context.Context, a evalArgs) ([]int64, error) {
		return a.l.run(ctx, a.ps, a.h, 0, a.batch)
	}, evalArgs{l: l, ps: ps, h: h, batch: batch})
	cancel()
	per := 1 + len(ps.limits)
	for j, w := range batch {
		if err != nil {
			w.err = err
		} else {
			w.d = d[j*per : (j+1)*per : (j+1)*per]
		}
		if j > 0 {
			close(w.ready)
		}
	}
}
