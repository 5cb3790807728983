package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Publish JSON-encodes v and publishes it on channel. It returns an error if
// v cannot be encoded or Redis fails; a message nobody is subscribed to is
// not an error (Redis pub/sub does not keep messages).
func Publish(ctx context.Context, rdb redis.UniversalClient, channel string, v any) error {
	if channel == "" {
		return errors.New("pubsub: publish: empty channel")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pubsub: publish %q: encode: %w", channel, err)
	}
	if err := rdb.Publish(ctx, channel, data).Err(); err != nil {
		return fmt.Errorf("pubsub: publish %q: %w", channel, err)
	}
	return nil
}
