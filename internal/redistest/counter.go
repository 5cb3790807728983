package redistest

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Counter counts round trips a client makes to Redis: one per command sent
// alone, one per pipeline (a pipeline of one command counts as that
// command, as an autopipeliner sends a lone command so), one per MULTI/EXEC transaction. A script run with
// EVALSHA that falls back to EVAL counts two, as it costs two.
type Counter struct {
	n    atomic.Int64
	sent atomic.Int64 // commands, however batched

	mu   sync.Mutex
	cmds []string
}

// Count installs a Counter on c and returns it. Hooks cannot be removed, so
// count on a client made for the test (Backend.Client).
func Count(c redis.UniversalClient) *Counter {
	k := &Counter{}
	c.AddHook(k)
	return k
}

// N returns the number of round trips since the last Reset.
func (k *Counter) N() int64 { return k.n.Load() }

// Sent returns the number of commands sent since the last Reset, each
// command of a pipeline counted: what concurrent requests cost, whether or
// not an autopipeliner gathered them into fewer round trips.
func (k *Counter) Sent() int64 { return k.sent.Load() }

// Reset sets the count to zero and forgets the recorded commands.
func (k *Counter) Reset() {
	k.n.Store(0)
	k.sent.Store(0)
	k.mu.Lock()
	k.cmds = nil
	k.mu.Unlock()
}

// Commands returns the names of the round trips since the last Reset, in
// order: a command's name, or "pipeline[a b c]" for a pipeline.
func (k *Counter) Commands() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.cmds...)
}

func (k *Counter) record(name string) {
	k.n.Add(1)
	k.mu.Lock()
	k.cmds = append(k.cmds, name)
	k.mu.Unlock()
}

// handshake reports whether cmd is one go-redis sends while setting up a new
// connection (HELLO, AUTH, SELECT, CLIENT SETINFO ...). Those go through the
// client's hooks too, but they are the cost of a new connection, not of the
// request that happened to need one.
func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "readonly":
		return true
	case "client":
		args := cmd.Args()
		if len(args) > 1 {
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
func (k *Counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (k *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			k.sent.Add(1)
			k.record(cmd.Name())
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (k *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		setup := true
		for _, c := range cmds {
			setup = setup && handshake(c)
		}
		if setup {
			return next(ctx, cmds)
		}
		k.sent.Add(int64(len(cmds)))
		if len(cmds) == 1 {
			// A pipeline of one command (an autopipeliner's batch that
			// gathered one) is that command's round trip.
			k.record(cmds[0].Name())
			return next(ctx, cmds)
		}
		name := "pipeline["
		for i, c := range cmds {
			if i > 0 {
				name += " "
			}
			name += c.Name()
		}
		k.record(name + "]")
		return next(ctx, cmds)
	}
}
