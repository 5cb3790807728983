package aside

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

func TestInvalidationSurvivesHalfOpenConnection(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	ctx := context.Background()
	writer, _ := newTestCache(t, b.Client(), b, Options{})
	// Pinged every 100 ms; entries never expire by themselves here.
	reader, logs := newTestCache(t, b.ClientAt(p.Addr()), b, Options{LocalSize: 10, LocalTTL: 100 * time.Millisecond,
		Now: redistest.NewClock(time.Unix(1e9, 0)).Now})
	full := reader.o.Prefix + "item"
	cached := func() bool { _, ok := reader.local.get(full); return ok }

	reader.local.put(full, []byte(`"v1"`), 0, reader.local.epochNow())
	p.Stall()
	redistest.Eventually(t, "the dead connection replaced and the tier purged", func() bool { return !cached() })
	if !strings.Contains(logs.String(), "invalidation subscription interrupted") {
		t.Fatalf("not logged:\n%s", logs)
	}

	// The purge came with the new subscription's confirmation:
	// invalidations flow again.
	reader.local.put(full, []byte(`"v2"`), 0, reader.local.epochNow())
	if err := writer.Delete(ctx, "item"); err != nil {
		t.Fatal(err)
	}
	redistest.Eventually(t, "eviction through the new connection", func() bool { return !cached() })
}
