package scenario

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// KeyReport is what Cleanup found before deleting.
type KeyReport struct {
	// Keys is the number of keys that contained the prefix.
	Keys int
	// NoExpiry counts those that had no expiry (TTL -1): keys a real
	// deployment would keep forever.
	NoExpiry int
}

// Cleanup deletes every key that contains prefix (SCAN MATCH *<prefix>*, then
// UNLINK in batches; never FLUSH), reporting how many there were and how
// many had no expiry. prefix must be free of glob characters, as Build
// requires.
func Cleanup(ctx context.Context, rdb redis.UniversalClient, prefix string) (KeyReport, error) {
	var rep KeyReport
	iter := rdb.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	batch := make([]string, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pipe := rdb.Pipeline()
		ttls := make([]*redis.DurationCmd, len(batch))
		for i, k := range batch {
			ttls[i] = pipe.PTTL(ctx, k)
		}
		pipe.Unlink(ctx, batch...)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		for _, c := range ttls {
			if c.Val() == -1 { // go-redis keeps -1 (no expiry) as is
				rep.NoExpiry++
			}
		}
		rep.Keys += len(batch)
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return rep, fmt.Errorf("cleanup: scan: %w", err)
	}
	return rep, flush()
}
