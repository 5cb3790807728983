package pipe

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// wrapper is an application's own client type around a go-redis client.
type wrapper struct{ redis.UniversalClient }

func TestNewChoosesTheWay(t *testing.T) {
	b := redistest.Start(t)
	rdb := b.Client()
	for _, tc := range []struct {
		name   string
		rdb    redis.UniversalClient
		off    bool
		direct bool
	}{
		{"client", rdb, false, false},
		{"client, told not to", rdb, true, true},
		{"a wrapper", wrapper{rdb}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.rdb, tc.off)
			if err != nil {
				t.Fatal(err)
			}
			if direct := s.ap == nil; direct != tc.direct {
				t.Fatalf("direct %v, want %v", direct, tc.direct)
			}
			if s.Client() != tc.rdb {
				t.Fatal("Client is not the client given")
			}
			// Either way, commands reach Redis and come back.
			ctx := context.Background()
			key := b.Prefix + "pipe:" + tc.name
			if err := tc.rdb.HSet(ctx, key, "f", "v").Err(); err != nil {
				t.Fatal(err)
			}
			m, err := s.HGetAll(ctx, key)
			if err != nil || len(m) != 1 || m["f"] != "v" {
				t.Fatalf("HGetAll: %v, %v", m, err)
			}
			if _, err := s.Get(ctx, key+":none"); !errors.Is(err, redis.Nil) {
				t.Fatalf("Get of a missing key: %v, want redis.Nil", err)
			}
		})
	}
}

// sendSeen tells on ready when the client starts sending a command or a
// pipeline (the autopipeliner sends a batch of one as a command).
type sendSeen struct{ ready chan struct{} }

func (h sendSeen) tell() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

func (h sendSeen) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h sendSeen) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.tell()
		return next(ctx, cmd)
	}
}

func (h sendSeen) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.tell()
		return next(ctx, cmds)
	}
}

// TestProcessEndsWithTheCallersContext holds the guarantee the packages'
// Timeout rests on: a batch on the wire that Redis never answers does not
// hold the caller past its context. The batch runs on the autopipeliner's
// own context; without WaitContext the caller would wait for the client's
// read timeout and get its error instead of context.Canceled.
func TestProcessEndsWithTheCallersContext(t *testing.T) {
	b := redistest.Start(t)
	p := b.NewProxy()
	rdb := b.ClientAt(p.Addr())
	seen := sendSeen{ready: make(chan struct{}, 1)}
	rdb.AddHook(seen)
	s, err := New(rdb, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, b.Prefix+"pipe:warm"); !errors.Is(err, redis.Nil) {
		t.Fatalf("before the hang: %v", err)
	}
	<-seen.ready // the warm-up's batch
	p.Hang()

	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, b.Prefix+"pipe:hung")
		done <- err
	}()
	<-seen.ready // the command is in a batch, and Redis will not answer it
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Get on a hung server after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a bound on failing, not a wait
		t.Fatal("Get still waits for the hung batch a minute after its context ended")
	}
}
