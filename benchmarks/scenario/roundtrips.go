package scenario

import (
	"context"
	"net"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook that counts round trips the way the core
// module's internal/redistest.Counter does (one per command sent alone, one
// per pipeline or transaction, two for an EVALSHA that falls back to EVAL;
// the handshake of a new connection not counted), but keeps only the count:
// no command names, no lock, no allocation, so it can stay installed under
// load without changing what it measures.
type RoundTrips struct{ n atomic.Int64 }

// CountRoundTrips installs a RoundTrips hook on c and returns it.
func CountRoundTrips(c redis.UniversalClient) *RoundTrips {
	k := &RoundTrips{}
	c.AddHook(k)
	return k
}

// N returns the number of round trips counted so far.
func (k *RoundTrips) N() int64 { return k.n.Load() }

// handshake reports whether cmd is one go-redis sends while setting up a
// connection (HELLO, AUTH, SELECT, CLIENT SETINFO ...).
func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "readonly":
		return true
	case "client":
		if args := cmd.Args(); len(args) > 1 {
			sub, _ := args[1].(string)
			switch strings.ToLower(sub) {
			case "setinfo", "setname", "maint_notifications":
				return true
			}
		}
	}
	return false
}

// DialHook implements redis.Hook; dialing is not a round trip of a request.
func (k *RoundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (k *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			k.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (k *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if !handshake(c) {
				k.n.Add(1)
				break
			}
		}
		return next(ctx, cmds)
	}
}
