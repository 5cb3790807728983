package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/psloop"
)

// Message is one message received by a subscription.
type Message[T any] struct {
	// Channel is the channel the message was published on.
	Channel string
	// Pattern is the pattern that matched Channel, or "" when the message
	// came through a channel (not a pattern) subscription.
	Pattern string
	// Data is the decoded payload. It is the zero value when decoding
	// failed; the error then comes alongside the message.
	Data T
	// Payload is the message exactly as published.
	Payload string
}

// DecodeError is the error yielded, next to the message (or stream entry),
// for a payload that is not valid JSON for the subscription's (or
// stream's) type. The stream goes on after it.
type DecodeError struct {
	// Channel is the channel of the message, or the name of the stream.
	Channel string
	Err     error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("pubsub: decode message on %q: %v", e.Channel, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// SubscribeOptions says what a subscription listens to. At least one
// channel or pattern is required.
type SubscribeOptions struct {
	// Channels are subscribed to by name (SUBSCRIBE).
	Channels []string
	// Patterns are glob-style patterns (PSUBSCRIBE), such as "orders:*".
	Patterns []string
	// PingInterval is how long the subscription waits for a message before
	// it pings Redis to check the connection is alive. A connection that
	// does not answer within PingInterval more (at least 1 s) is taken for
	// dead, as happens when a server or network vanishes without closing
	// it: it is dropped, the stream yields an error, and go-redis
	// reconnects and resubscribes. Zero means 30 s.
	PingInterval time.Duration
	// Observer receives each message received, each reconnection and
	// the subscribing call, for metrics and traces. The zero value
	// observes nothing and costs nothing.
	Observer Observer
}

// Subscription is a confirmed Redis subscription whose messages are read
// with Messages. It holds one connection until Close, the end of its
// context, or the end of a loop over Messages.
type Subscription[T any] struct {
	ps      *redis.PubSub
	ctx     context.Context    // the caller's, also ended by Close
	cancel  context.CancelFunc // ends ctx
	ping    time.Duration
	pending []*redis.Message
	obs     Observer

	closeOnce sync.Once
	closeErr  error
	used      bool
}

// Open subscribes to o's channels and patterns and returns once Redis has
// confirmed every one of them, so a message published after Open returns is
// received. The subscription ends when ctx ends or Close is called.
//
// Open returns when ctx ends, whatever the client's timeouts: on a server
// that accepts connections and never answers, go-redis would hold the
// subscription's handshake for its ReadTimeout regardless of ctx. The
// abandoned handshake ends within the client's own timeouts, and its
// connection is closed then.
func Open[T any](ctx context.Context, rdb redis.UniversalClient, o SubscribeOptions) (*Subscription[T], error) {
	n := len(o.Channels) + len(o.Patterns)
	if n == 0 {
		return nil, errors.New("pubsub: subscribe: no channel or pattern")
	}
	for _, c := range append(append([]string(nil), o.Channels...), o.Patterns...) {
		if c == "" {
			return nil, errors.New("pubsub: subscribe: empty channel or pattern")
		}
	}
	if o.PingInterval < 0 {
		return nil, errors.New("pubsub: subscribe: negative PingInterval")
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	ps := rdb.Subscribe(ctx)
	s := &Subscription[T]{ps: ps, ping: o.PingInterval, obs: o.Observer}
	s.ctx, s.cancel = context.WithCancel(ctx)
	// Closing the PubSub unblocks a Receive in progress: that is how the
	// end of ctx stops a subscription waiting for its confirmation or for
	// the next message. Registered on s.ctx, which Close ends too, the
	// function needs no unregistering, so nothing it reads is written
	// after it may have run (as with a ctx that has already ended).
	context.AfterFunc(s.ctx, func() { _ = s.Close() })
	// Subscribing dials a connection of its own, whose handshake (HELLO)
	// go-redis does not stop for ctx's cancellation, nor, without
	// ContextTimeoutEnabled, for its deadline: only its ReadTimeout ends
	// it. So it runs on a goroutine that Open stops waiting for when ctx
	// ends, with any client: one goroutine per subscription is cheap next
	// to holding a caller past its context on a server that accepts
	// connections and never answers.
	start := clock(o.Observer.OnRedisCall != nil)
	err := bounded.Until(ctx, false, func(ctx context.Context, a confirmArgs[T]) error {
		return a.s.confirm(ctx, a.o)
	}, confirmArgs[T]{s, o})
	s.obs.redisCall(ctx, "subscribe", start, err)
	if err == nil {
		return s, nil
	}
	if ctx.Err() != nil {
		// The function registered above closes the PubSub, once an
		// abandoned handshake lets go of it. Closing it here could wait
		// as long as the handshake does.
		return nil, fmt.Errorf("pubsub: subscribe: %w", ctx.Err())
	}
	_ = s.Close()
	return nil, fmt.Errorf("pubsub: subscribe: %w", err)
}

// confirmArgs are what confirm needs, passed to bounded.Until.
type confirmArgs[T any] struct {
	s *Subscription[T]
	o SubscribeOptions
}

// confirm subscribes to o's channels and patterns and waits for Redis to
// confirm every one of them. A message that arrives in between (for a
// channel confirmed first) is kept for Messages to yield first.
func (s *Subscription[T]) confirm(ctx context.Context, o SubscribeOptions) error {
	if len(o.Channels) > 0 {
		if err := s.ps.Subscribe(ctx, o.Channels...); err != nil {
			return err
		}
	}
	if len(o.Patterns) > 0 {
		if err := s.ps.PSubscribe(ctx, o.Patterns...); err != nil {
			return err
		}
	}
	for confirmed := 0; confirmed < len(o.Channels)+len(o.Patterns); {
		m, err := s.ps.Receive(ctx)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "psubscribe" {
				confirmed++
			}
		case *redis.Message:
			s.pending = append(s.pending, m)
		}
	}
	return nil
}

// Close unsubscribes and releases the connection. It is safe to call more
// than once and concurrently with Messages.
func (s *Subscription[T]) Close() error {
	s.closeOnce.Do(func() {
		s.cancel() // before the PubSub closes: the receive loop stops, not retries
		s.closeErr = s.ps.Close()
	})
	return s.closeErr
}

// Messages returns the stream of messages. It yields each message with a
// nil error; a payload that does not decode as T with a *DecodeError; and a
// lost connection with its error, after which go-redis reconnects and
// resubscribes (with a backoff up to 2 s between attempts) and the stream
// goes on. No error ends the stream: it ends when the subscription's
// context ends, Close is called, or the loop stops early, and ending it
// closes the subscription. Messages may be ranged over once.
func (s *Subscription[T]) Messages() iter.Seq2[Message[T], error] {
	return func(yield func(Message[T], error) bool) {
		defer s.Close()
		if s.used {
			yield(Message[T]{}, errors.New("pubsub: Messages ranged over twice"))
			return
		}
		s.used = true
		for _, m := range s.pending {
			if !s.yieldMessage(m, yield) {
				return
			}
		}
		s.pending = nil
		var lost time.Time // when the connection failed, while it is down and OnReconnect is set
		psloop.Run(s.ctx, s.ps, s.ping, psloop.Handler{
			Message: func(m *redis.Message) bool { return s.yieldMessage(m, yield) },
			Subscribed: func(*redis.Subscription) {
				if !lost.IsZero() {
					s.obs.OnReconnect(s.ctx, ReconnectEvent{Outage: time.Since(lost)})
					lost = time.Time{}
				}
			},
			Failed: func(err error, n int) bool {
				if n == 1 && s.obs.OnReconnect != nil {
					lost = time.Now()
				}
				return yield(Message[T]{}, fmt.Errorf("pubsub: receive: %w", err))
			},
		})
	}
}

func (s *Subscription[T]) yieldMessage(m *redis.Message, yield func(Message[T], error) bool) bool {
	out := Message[T]{Channel: m.Channel, Pattern: m.Pattern, Payload: m.Payload}
	if err := json.Unmarshal([]byte(m.Payload), &out.Data); err != nil {
		var zero T
		out.Data = zero
		derr := &DecodeError{Channel: m.Channel, Err: err}
		if s.obs.OnMessage != nil {
			s.obs.OnMessage(s.ctx, MessageEvent{Bytes: len(m.Payload), Err: derr})
		}
		return yield(out, derr)
	}
	if s.obs.OnMessage != nil {
		s.obs.OnMessage(s.ctx, MessageEvent{Bytes: len(m.Payload)})
	}
	return yield(out, nil)
}

// Subscribe subscribes to channels and returns the stream of their
// messages decoded as T (see Subscription.Messages). The subscription is
// made, and confirmed by Redis, when the loop starts, before the first
// message is yielded; a failure to subscribe is yielded as the only error.
// Use Open to know when the subscription is active, before publishing.
func Subscribe[T any](ctx context.Context, rdb redis.UniversalClient, channels ...string) iter.Seq2[Message[T], error] {
	return lazy[T](ctx, rdb, SubscribeOptions{Channels: channels})
}

// PSubscribe is Subscribe for glob-style patterns such as "orders:*"; each
// message carries the pattern that matched it and its channel.
func PSubscribe[T any](ctx context.Context, rdb redis.UniversalClient, patterns ...string) iter.Seq2[Message[T], error] {
	return lazy[T](ctx, rdb, SubscribeOptions{Patterns: patterns})
}

func lazy[T any](ctx context.Context, rdb redis.UniversalClient, o SubscribeOptions) iter.Seq2[Message[T], error] {
	return func(yield func(Message[T], error) bool) {
		s, err := Open[T](ctx, rdb, o)
		if err != nil {
			if ctx.Err() == nil {
				yield(Message[T]{}, err)
			}
			return
		}
		s.Messages()(yield)
	}
}
