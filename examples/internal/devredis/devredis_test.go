package devredis

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/redistest"
)

// TestEmbeddedKeysExpire: a key with a TTL outlives the time before its
// expiry and is gone after it, on the test's clock, with no waiting. The
// ticks come from the test too; a tick is sent on an unbuffered channel, so
// once the next send returns, the previous tick's Advance has finished.
func TestEmbeddedKeysExpire(t *testing.T) {
	clock := redistest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ticks := make(chan time.Time)
	e, err := start(clock.Now, ticks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	rdb := redis.NewClient(&redis.Options{Addr: e.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	tick := func() {
		ticks <- clock.Now()
		ticks <- clock.Now() // returns once the first tick's Advance is done
	}
	exists := func() bool {
		t.Helper()
		n, err := rdb.Exists(ctx, "demo:k").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	if err := rdb.Set(ctx, "demo:k", "v", 10*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "demo:forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	clock.Add(9 * time.Second)
	tick()
	if !exists() {
		t.Fatal("the key expired after 9 s of a 10 s TTL")
	}
	if ttl := rdb.TTL(ctx, "demo:k").Val(); ttl != time.Second {
		t.Fatalf("TTL after 9 s: %v, want 1s", ttl)
	}
	clock.Add(time.Second)
	tick()
	if exists() {
		t.Fatal("the key outlived its 10 s TTL")
	}
	if n := rdb.Exists(ctx, "demo:forever").Val(); n != 1 {
		t.Fatal("a key without a TTL expired")
	}
}

// TestEmbeddedWithoutClock shows what Embedded is for: a bare miniredis
// never expires a key, however much time passes.
func TestEmbeddedWithoutClock(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := mr.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	mr.SetTTL("k", time.Second)
	mr.SetTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) // a day later
	if !mr.Exists("k") {
		t.Fatal("miniredis expired a key on its own; Embedded may no longer be needed")
	}
}

// TestAdvanceAfterABackwardClock: a clock set back moves no TTL, and the
// TTLs run on from there, so keys are not held until the clock catches up.
func TestAdvanceAfterABackwardClock(t *testing.T) {
	clock := redistest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := start(clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if err := e.mr.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	e.mr.SetTTL("k", 10*time.Second)
	clock.Add(-time.Hour)
	e.Advance()
	if ttl := e.mr.TTL("k"); ttl != 10*time.Second {
		t.Fatalf("TTL after the clock went back: %v, want 10s", ttl)
	}
	clock.Add(9 * time.Second)
	e.Advance()
	if ttl := e.mr.TTL("k"); ttl != time.Second {
		t.Fatalf("TTL 9 s later: %v, want 1s", ttl)
	}
	clock.Add(time.Second)
	e.Advance()
	if e.mr.Exists("k") {
		t.Fatal("the key outlived its TTL after the clock went back")
	}
}

func TestConnect(t *testing.T) {
	t.Run("REDIS_URL unset: embedded, and says so", func(t *testing.T) {
		t.Setenv(EnvURL, "")
		var log bytes.Buffer
		rdb, closeAll, err := Connect(slog.New(slog.NewTextHandler(&log, nil)), "REDIS_URL=redis://127.0.0.1:6379/0 make run")
		if err != nil {
			t.Fatal(err)
		}
		defer closeAll()
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"level=WARN", "for trying things out", "For real use: REDIS_URL=redis://127.0.0.1:6379/0 make run"} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log %q lacks %q", log.String(), want)
			}
		}
	})
	t.Run("REDIS_URL set: that server", func(t *testing.T) {
		mr := miniredis.RunT(t)
		t.Setenv(EnvURL, "redis://"+mr.Addr()+"/0")
		rdb, closeAll, err := Connect(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), "")
		if err != nil {
			t.Fatal(err)
		}
		defer closeAll()
		if err := rdb.Set(context.Background(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if !mr.Exists("k") {
			t.Fatal("the client does not reach REDIS_URL's server")
		}
	})
	t.Run("REDIS_URL malformed", func(t *testing.T) {
		t.Setenv(EnvURL, "http://nope")
		_, _, err := Connect(nil, "")
		if err == nil || !strings.Contains(err.Error(), EnvURL) {
			t.Fatalf("err %v, want one naming %s", err, EnvURL)
		}
	})
}
