package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
)

// Publish JSON-encodes v and publishes it on channel. It returns an error if
// v cannot be encoded or Redis fails; a message nobody is subscribed to is
// not an error (Redis pub/sub does not keep messages).
//
// ctx bounds Publish whatever the client. A go-redis client without
// ContextTimeoutEnabled (the default) ignores ctx on a stalled connection
// and waits for its ReadTimeout: Publish then runs the call on a goroutine
// of its own and returns when ctx ends, with an error wrapping ctx.Err(),
// while the call runs on (the message may still go out). A client with
// ContextTimeoutEnabled ends the call itself at ctx's deadline and spares
// the goroutine; like every go-redis call, it does not stop for ctx's
// cancellation alone.
func Publish(ctx context.Context, rdb redis.UniversalClient, channel string, v any) error {
	return publish(ctx, rdb, bounded.HonoursDeadlines(rdb), nil, channel, v)
}

// PublishOptions configure a Publisher. The zero value is the default
// everywhere.
type PublishOptions struct {
	// Observer receives each message published and its Redis call, for
	// metrics and traces. The zero value observes nothing and costs
	// nothing.
	Observer Observer
}

// Publisher publishes as Publish does, reporting to its Observer. It is
// safe for concurrent use.
type Publisher struct {
	rdb    redis.UniversalClient
	direct bool
	o      PublishOptions
}

// NewPublisher returns a Publisher on rdb. It fails when rdb is nil.
func NewPublisher(rdb redis.UniversalClient, o PublishOptions) (*Publisher, error) {
	if rdb == nil {
		return nil, errors.New("pubsub: publisher: nil redis client")
	}
	return &Publisher{rdb: rdb, direct: bounded.HonoursDeadlines(rdb), o: o}, nil
}

// Publish JSON-encodes v and publishes it on channel, as the package's
// Publish does.
func (p *Publisher) Publish(ctx context.Context, channel string, v any) error {
	return publish(ctx, p.rdb, p.direct, &p.o.Observer, channel, v)
}

// publish is Publish, reporting to obs unless it is nil.
func publish(ctx context.Context, rdb redis.UniversalClient, direct bool, obs *Observer, channel string, v any) error {
	if channel == "" {
		return errors.New("pubsub: publish: empty channel")
	}
	data, err := json.Marshal(v)
	if err != nil {
		err = fmt.Errorf("pubsub: publish %q: encode: %w", channel, err)
		if obs != nil && obs.OnPublish != nil {
			obs.OnPublish(ctx, PublishEvent{Err: err})
		}
		return err
	}
	start := clock(obs != nil && obs.OnRedisCall != nil)
	err = bounded.Until(ctx, direct, func(ctx context.Context, a publishArgs) error {
		return a.rdb.Publish(ctx, a.channel, a.data).Err()
	}, publishArgs{rdb, channel, data})
	if obs != nil {
		obs.redisCall(ctx, "publish", start, err)
	}
	if err != nil {
		err = fmt.Errorf("pubsub: publish %q: %w", channel, err)
	}
	if obs != nil && obs.OnPublish != nil {
		obs.OnPublish(ctx, PublishEvent{Bytes: len(data), Err: err})
	}
	return err
}

// publishArgs are what a PUBLISH needs, passed to bounded.Until rather
// than captured, so the direct call allocates nothing more.
type publishArgs struct {
	rdb     redis.UniversalClient
	channel string
	data    []byte
}
