// Package psloop reads a Redis Pub/Sub subscription for as long as it is
// wanted, through outages and half-open connections.
//
// go-redis reconnects a PubSub and resubscribes when a receive fails on a
// broken connection. It does not notice a half-open one (a server or
// network gone without closing it): writes still succeed there, and a
// receive without a deadline waits until TCP gives up, many minutes later,
// while messages silently stop. go-redis' own Channel health check has that
// gap, because it only writes its pings. Run pings a quiet connection and
// waits for the answer; a ping left unanswered drops the connection, so
// go-redis replaces it.
package psloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoAnswer is wrapped by the error Run reports when a ping went
// unanswered and the connection was dropped for it.
var ErrNoAnswer = errors.New("no answer to ping")

// The wait after a failed receive starts at minBackoff and doubles with
// each failure in a row, up to maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Handler receives what Run reads. Each hook runs on Run's goroutine and
// may be nil.
type Handler struct {
	// Message is called with each message. Returning false ends Run. If
	// nil, messages are dropped.
	Message func(m *redis.Message) bool
	// Subscribed is called with each confirmation of a subscription (kind
	// "subscribe", "psubscribe" or "ssubscribe"): those of subscriptions
	// made before Run whose confirmations were not read yet, and those
	// that follow every reconnect, when go-redis resubscribes. Messages
	// published while disconnected are lost, so this is where a consumer
	// resynchronises. If nil, confirmations are ignored.
	Subscribed func(s *redis.Subscription)
	// Failed is called when a receive fails, with the error and how many
	// receives have failed in a row (n is 1 for the first failure since
	// the last success: once per outage). Run then waits, 50 ms after the
	// first failure and twice as long after each next one, up to 2 s,
	// before it receives again, unless Failed returns false, which ends
	// Run. If nil, failures are only waited out.
	Failed func(err error, n int) bool
}

// Run reads ps until ctx ends or a hook of h ends it, passing messages and
// subscription confirmations to h; pongs are consumed. A receive that
// fails is reported to h.Failed and retried after a backoff; go-redis
// reconnects and resubscribes meanwhile.
//
// A connection quiet for ping is pinged, and one that leaves the ping
// unanswered for ping more (at least 1 s) is dropped; the failure reported
// then wraps ErrNoAnswer.
//
// Run notices the end of ctx after the receive in progress, which go-redis
// does not interrupt for it; to stop Run at once, end ctx and then close
// ps, which ends that receive. Closing ps without ending ctx only makes
// every receive fail.
//
// Panics if ping is not positive: a receive could then wait forever.
func Run(ctx context.Context, ps *redis.PubSub, ping time.Duration, h Handler) {
	if ping <= 0 {
		panic(fmt.Sprintf("psloop: Run: ping interval %v is not positive", ping))
	}
	backoff, n := minBackoff, 0
	pinged := false // a ping is unanswered
	for {
		m, err := receive(ctx, ps, ping, pinged)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if !pinged && errors.As(err, &ne) && ne.Timeout() {
				// Quiet connection: ping it, and expect an answer.
				if err = ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
			} else if pinged {
				err = fmt.Errorf("%w: %w", ErrNoAnswer, err)
			}
			pinged = false
			n++
			if h.Failed != nil && !h.Failed(err, n) {
				return
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff, n, pinged = minBackoff, 0, false
		switch m := m.(type) {
		case *redis.Message:
			if h.Message != nil && !h.Message(m) {
				return
			}
		case *redis.Subscription:
			if h.Subscribed != nil && (m.Kind == "subscribe" || m.Kind == "psubscribe" || m.Kind == "ssubscribe") {
				h.Subscribed(m)
			}
		}
		// A pong only proves the connection alive.
	}
}

// receive waits for the next message, pong or confirmation: ping long, or,
// when a ping is unanswered, as long as its answer may take.
//
// The two waits differ in how go-redis treats running out of time. With a
// timeout of its own, ReceiveTimeout keeps the connection (a quiet one is
// fine); with none and the deadline set by the context, it drops the
// connection as broken and the next receive reconnects and resubscribes.
// That is what a half-open connection needs: writes (the ping) still
// succeed there, and without an answer nothing else would ever fail.
func receive(ctx context.Context, ps *redis.PubSub, ping time.Duration, pinged bool) (any, error) {
	if !pinged {
		return ps.ReceiveTimeout(ctx, ping)
	}
	ctx, cancel := context.WithTimeout(ctx, max(ping, time.Second))
	defer cancel()
	return ps.ReceiveTimeout(ctx, 0)
}
