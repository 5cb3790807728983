package redistest

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestBackendSelection(t *testing.T) {
	b := Start(t)
	want := os.Getenv(EnvURL) != ""
	if b.Real() != want {
		t.Fatalf("Real() = %v with %s=%q", b.Real(), EnvURL, os.Getenv(EnvURL))
	}
	t.Logf("backend: real=%v addr=%s", b.Real(), b.Addr())
	if !strings.HasPrefix(b.Prefix, "rwtest:") || !strings.HasSuffix(b.Prefix, ":") {
		t.Fatalf("prefix %q", b.Prefix)
	}
	if b2 := Start(t); b2.Prefix == b.Prefix {
		t.Fatalf("two backends share prefix %q", b.Prefix)
	}
}

func TestCleanupDeletesOnlyOwnKeys(t *testing.T) {
	b := Start(t)
	ctx := context.Background()
	c := b.Client()
	other := b.Prefix + "x" // a key of "another test": not under the inner prefix
	if err := c.Set(ctx, other, "keep", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var inner string
	t.Run("inner", func(t *testing.T) {
		// The inner test shares the outer server but has its own prefix.
		ib := &Backend{t: t, Prefix: b.Prefix + "inner:", addr: b.addr, opt: b.opt, Mini: b.Mini}
		inner = ib.Prefix + "k"
		ic := redis.NewClient(ib.Options())
		t.Cleanup(func() { deletePrefix(t, ic, ib.Prefix); _ = ic.Close() })
		for i := 0; i < 3; i++ {
			if err := ic.Set(ctx, inner+string(rune('a'+i)), "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	n, err := c.Exists(ctx, inner+"a", inner+"b", inner+"c").Result()
	if err != nil || n != 0 {
		t.Fatalf("inner keys left after cleanup: %d, %v", n, err)
	}
	if v, err := c.Get(ctx, other).Result(); err != nil || v != "keep" {
		t.Fatalf("cleanup touched a key outside its prefix: %q, %v", v, err)
	}
}

// TestCounter: each case starts from its own key, so any one runs alone.
func TestCounter(t *testing.T) {
	b := Start(t)
	ctx := context.Background()
	c := b.Client()
	k := Count(c)
	// Warm the pool so connection setup is out of the way.
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		do        func(key string) error
		want      int64 // round trips
		wantValue int   // of key afterwards
	}{
		{"single command", func(key string) error { return c.Set(ctx, key, 1, time.Minute).Err() }, 1, 1},
		{"two commands", func(key string) error {
			if err := c.Incr(ctx, key).Err(); err != nil {
				return err
			}
			return c.Get(ctx, key).Err()
		}, 2, 1},
		{"pipeline of three", func(key string) error {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, key)
				p.Incr(ctx, key)
				p.Get(ctx, key)
				return nil
			})
			return err
		}, 1, 2},
		{"transaction", func(key string) error {
			_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, key)
				p.Expire(ctx, key, time.Minute)
				return nil
			})
			return err
		}, 1, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := b.Prefix + "n" + strconv.Itoa(i)
			k.Reset()
			if err := tt.do(key); err != nil {
				t.Fatal(err)
			}
			if got := k.N(); got != tt.want {
				t.Fatalf("round trips = %d, want %d (%v)", got, tt.want, k.Commands())
			}
			if v, err := c.Get(ctx, key).Int(); err != nil || v != tt.wantValue {
				t.Fatalf("value = %d, %v; want %d", v, err, tt.wantValue)
			}
		})
	}
}

func TestProxyDownUp(t *testing.T) {
	b := Start(t)
	p := b.NewProxy()
	c := b.ClientAt(p.Addr())
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	p.Down()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded while the proxy is down")
	}
	p.Up()
	// go-redis drops the broken connection and dials anew.
	var err error
	for i := 0; i < 3; i++ {
		if err = c.Ping(ctx).Err(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

func TestProxyStall(t *testing.T) {
	b := Start(t)
	p := b.NewProxy()
	o := b.Options()
	o.Addr = p.Addr()
	o.PoolSize = 1
	o.ReadTimeout = 50 * time.Millisecond
	o.MaxRetries = -1
	stuck := redis.NewClient(o)
	t.Cleanup(func() { _ = stuck.Close() })
	ctx := context.Background()
	if err := stuck.Ping(ctx).Err(); err != nil {
		t.Fatalf("through proxy: %v", err)
	}
	p.Stall()
	var ne net.Error
	if err := stuck.Ping(ctx).Err(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING on a stalled connection: %v, want a read timeout", err)
	}
	// A connection opened after the stall works.
	if err := b.ClientAt(p.Addr()).Ping(ctx).Err(); err != nil {
		t.Fatalf("new connection after Stall: %v", err)
	}
}

func TestProxyHang(t *testing.T) {
	b := Start(t)
	p := b.NewProxy()
	client := func() *redis.Client {
		o := b.Options()
		o.Addr = p.Addr()
		o.ReadTimeout = 50 * time.Millisecond
		o.MaxRetries = -1
		c := redis.NewClient(o)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ctx := context.Background()
	p.Hang()
	var ne net.Error
	if err := client().Ping(ctx).Err(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING on a new connection to a hung proxy: %v, want a read timeout", err)
	}
	p.Up()
	if err := client().Ping(ctx).Err(); err != nil {
		t.Fatalf("new connection after Up: %v", err)
	}
}

func TestClock(t *testing.T) {
	start := time.Unix(1000, 0)
	c := NewClock(start)
	c.Add(time.Second)
	if got := c.Now(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("after Add: %v", got)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set: %v", got)
	}
}
