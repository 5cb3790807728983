// Package script runs the library's Lua scripts on Redis. It is the one
// place that knows about Redis' script cache: a script is sent by its SHA-1
// digest (EVALSHA) once it is known to be cached, whole (EVAL, which caches
// it) before that, and again whole only where a server answers that it does
// not have it (a flushed cache, a restarted server, a Cluster shard that has
// not seen it yet).
//
// Run makes one script call; Exec sends several script calls and plain
// commands in one pipeline and re-sends only the script calls that missed
// the cache; Load caches scripts ahead of the first call. All three take a
// redis.UniversalClient, Cluster included: a pipeline is split by slot
// there, so every key of one script call must share one hash slot.
package script

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script. Make one per script, at package level, with New;
// it is safe for concurrent use.
type Script struct {
	rs *redis.Script
	// cached is set once some server has run or loaded the script: calls
	// send EVALSHA from then on, and EVAL before, so the first call of a
	// process costs one round trip, not a missed EVALSHA and an EVAL. It
	// is a hint shared by every client of the process, never cleared: a
	// server without the script answers NOSCRIPT and gets the EVAL.
	cached atomic.Bool
}

// New returns the script whose source is src.
func New(src string) *Script { return &Script{rs: redis.NewScript(src)} }

// Hash returns the script's SHA-1 digest, as EVALSHA names it.
func (s *Script) Hash() string { return s.rs.Hash() }

// Run runs s with keys and args in one round trip: EVALSHA, or EVAL until
// the script is known to be cached. Only when the server answers NOSCRIPT
// does it send EVAL after the EVALSHA: two round trips, once per server
// (or shard) and script cache.
func (s *Script) Run(ctx context.Context, rdb redis.UniversalClient, keys []string, args ...any) *redis.Cmd {
	if !s.cached.Load() {
		cmd := s.rs.Eval(ctx, rdb, keys, args...)
		s.noteReply(cmd.Err())
		return cmd
	}
	cmd := s.rs.EvalSha(ctx, rdb, keys, args...)
	if isNoScript(cmd.Err()) {
		cmd = s.rs.Eval(ctx, rdb, keys, args...)
	}
	return cmd
}

// send queues s on p: EVALSHA when the script is known to be cached, EVAL
// otherwise.
func (s *Script) send(ctx context.Context, p redis.Pipeliner, keys []string, args []any) *redis.Cmd {
	if s.cached.Load() {
		return s.rs.EvalSha(ctx, p, keys, args...)
	}
	return s.rs.Eval(ctx, p, keys, args...)
}

// noteReply marks s cached when err says the server ran it.
func (s *Script) noteReply(err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		s.cached.Store(true)
	}
}

// Op is one operation of Exec: a script call (Script with Keys and Args)
// or, when Script is nil, a plain command that Plain adds to the pipeline.
// Exec sets Cmd to the operation's reply.
type Op struct {
	Script *Script
	Keys   []string
	Args   []any
	// Plain adds the command to p and returns it, e.g.
	// func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.Del(ctx, k) }.
	// It gets Exec's ctx, so an Op built before the call's deadline
	// exists needs to capture none.
	Plain func(ctx context.Context, p redis.Pipeliner) redis.Cmder
	// Cmd is the reply, set by Exec: a *redis.Cmd for a script call.
	Cmd redis.Cmder
}

// Exec runs ops in one round trip: one pipeline (on a Cluster, one per
// node, sent together), or the single command itself when ops is one
// script call. Script calls go as EVALSHA (as EVAL while not known to be
// cached); the script calls that got NOSCRIPT, and only those, are sent
// again as EVAL, in one more round trip. So a command never runs twice.
//
// Each op's Cmd holds its reply once Exec returns. Exec returns the first
// error of any reply, redis.Nil excepted. The caller must not read the
// replies after giving up on the call (a timeout in another goroutine,
// say), as Exec may still be writing them.
func Exec(ctx context.Context, rdb redis.UniversalClient, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) == 1 && ops[0].Script != nil {
		o := &ops[0]
		cmd := o.Script.Run(ctx, rdb, o.Keys, o.Args...)
		o.Cmd = cmd
		return replyErr(cmd.Err())
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ops {
			o := &ops[i]
			if o.Script != nil {
				o.Cmd = o.Script.send(ctx, p, o.Keys, o.Args)
			} else {
				o.Cmd = o.Plain(ctx, p)
			}
		}
		return nil
	})
	missed := 0
	for i := range ops {
		o := &ops[i]
		if o.Script == nil {
			continue
		}
		if err := o.Cmd.Err(); isNoScript(err) {
			missed++
		} else {
			o.Script.noteReply(err)
		}
	}
	switch {
	case missed == 1:
		for i := range ops {
			if o := &ops[i]; o.Script != nil && isNoScript(o.Cmd.Err()) {
				o.Cmd = o.Script.rs.Eval(ctx, rdb, o.Keys, o.Args...)
			}
		}
	case missed > 1:
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range ops {
				if o := &ops[i]; o.Script != nil && isNoScript(o.Cmd.Err()) {
					o.Cmd = o.Script.rs.Eval(ctx, p, o.Keys, o.Args...)
				}
			}
			return nil
		})
	}
	for i := range ops {
		if err := replyErr(ops[i].Cmd.Err()); err != nil {
			return err
		}
	}
	return nil
}

// Load puts scripts into the script cache of rdb's server: of every shard,
// masters and replicas, when rdb is a *redis.ClusterClient. It is one SCRIPT
// LOAD per script (a pipeline would reach only one node of a Cluster), and
// it returns the first error.
func Load(ctx context.Context, rdb redis.UniversalClient, scripts ...*Script) error {
	for _, s := range scripts {
		if err := s.rs.Load(ctx, rdb).Err(); err != nil {
			return err
		}
		s.cached.Store(true)
	}
	return nil
}

// replyErr is err unless it is redis.Nil, which is a reply.
func replyErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// isNoScript reports whether err is Redis saying it has no script of the
// digest sent. go-redis turns the reply into redis.ErrNoScript where it can
// read it at once, and leaves it as it came (in a pipeline) otherwise.
func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
