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
	if channel == "" {
		return errors.New("pubsub: publish: empty channel")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pubsub: publish %q: encode: %w", channel, err)
	}
	err = bounded.Until(ctx, bounded.HonoursDeadlines(rdb), func(ctx context.Context, a publishArgs) error {
		return a.rdb.Publish(ctx, a.channel, a.data).Err()
	}, publishArgs{rdb, channel, data})
	if err != nil {
		return fmt.Errorf("pubsub: publish %q: %w", channel, err)
	}
	return nil
}

// publishArgs are what a PUBLISH needs, passed to bounded.Until rather
// than captured, so the direct call allocates nothing more.
type publishArgs struct {
	rdb     redis.UniversalClient
	channel string
	data    []byte
}
