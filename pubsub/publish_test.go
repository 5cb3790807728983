package pubsub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redisware/redisware/internal/redistest"
)

// TestPublishEndsWithItsContext: on a stalled connection, Publish returns
// at its context's deadline with a client that would wait an hour.
func TestPublishEndsWithItsContext(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.PatientClientAt(p.Addr())
	ch := b.Prefix + "c"
	if err := Publish(context.Background(), rdb, ch, 1); err != nil { // opens the connection the stall catches
		t.Fatal(err)
	}
	p.Stall()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	redistest.Within(t, 10*time.Second, "Publish on a stalled connection", func() { err = Publish(ctx, rdb, ch, 2) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish: %v, want a deadline error", err)
	}
}
