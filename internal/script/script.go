// Package script runs the library's Lua scripts on Redis. It is the one
// place that knows about Redis' script cache: a script is sent by its SHA-1
// digest (EVALSHA) once it is known to be cached, whole (EVAL, which caches
// it) before that, and again whole only where a server answers that it does
// not have it (a flushed cache, a restarted server, a Cluster shard that has
// not seen it yet).
//
// Scripts stay package-level redis.NewScript values. A Runner, one per
// client (a package's Manager, Limiter or Cache holds one), runs them:
// Run makes one script call; Exec sends several script calls and plain
// commands in one pipeline and re-sends only the script calls that missed
// the cache; Load caches scripts ahead of the first call. A Runner works on
// any redis.UniversalClient, Cluster included: a pipeline is split by slot
// there, so every key of one script call must share one hash slot.
package script

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/redisware/redisware/internal/pipe"
)

// Runner runs scripts on one client and remembers which of them the
// client's server has run or loaded: those are sent as EVALSHA, the others
// as EVAL, so the first call of each script costs one round trip, not a
// missed EVALSHA and an EVAL. The memory is a hint, never cleared: a server
// that lost a script answers NOSCRIPT and gets the EVAL. On a Cluster it is
// one hint for all shards, so each shard that lacks a script costs that
// extra round trip once. A Runner is safe for concurrent use.
type Runner struct {
	one    sender    // Run's and Int64s' script calls: through the autopipeliner, if any
	cached *sync.Map // *redis.Script → its digest as an any (boxed once, see Int64s): known to be in the cache; shared with Via's Runners
}

// NewRunner returns a Runner that sends Run's script calls through s (see
// package pipe) and everything else to s.Client(), and knows of no script
// cached.
func NewRunner(s pipe.Sender) *Runner {
	return &Runner{one: sender{s}, cached: new(sync.Map)}
}

// Via returns a Runner that sends Run's and Int64s' script calls through s
// and shares r's memory of cached scripts (s must be of r's client, so
// the memory holds for it).
func (r *Runner) Via(s pipe.Sender) *Runner {
	return &Runner{one: sender{s}, cached: r.cached}
}

func (r *Runner) isCached(s *redis.Script) bool {
	_, ok := r.cached.Load(s)
	return ok
}

// markCached remembers s as cached.
func (r *Runner) markCached(s *redis.Script) { r.cached.Store(s, any(s.Hash())) }

// noteReply remembers s as cached when err says the server ran it.
func (r *Runner) noteReply(s *redis.Script, err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		if !r.isCached(s) {
			r.markCached(s)
		}
	}
}

// Run runs s with keys and args in one round trip: EVALSHA, or EVAL while
// s is not known to be cached. Only when the server answers NOSCRIPT does
// it send EVAL after the EVALSHA: two round trips, once per server (or
// shard) and script cache.
func (r *Runner) Run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	if !r.isCached(s) {
		cmd := s.Eval(ctx, r.one, keys, args...)
		r.noteReply(s, cmd.Err())
		return cmd
	}
	cmd := s.EvalSha(ctx, r.one, keys, args...)
	if isNoScript(cmd.Err()) {
		cmd = s.Eval(ctx, r.one, keys, args...)
	}
	return cmd
}

// sender is the redis.Scripter that Run's script calls go through: each
// call is one command sent by a pipe.Sender.
type sender struct{ s pipe.Sender }

func (c sender) Eval(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	return c.eval(ctx, "eval", src, keys, args)
}

func (c sender) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.eval(ctx, "evalsha", sha, keys, args)
}

func (c sender) EvalRO(ctx context.Context, src string, keys []string, args ...any) *redis.Cmd {
	return c.eval(ctx, "eval_ro", src, keys, args)
}

func (c sender) EvalShaRO(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return c.eval(ctx, "evalsha_ro", sha, keys, args)
}

func (c sender) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return c.s.Client().ScriptExists(ctx, hashes...)
}

func (c sender) ScriptLoad(ctx context.Context, src string) *redis.StringCmd {
	return c.s.Client().ScriptLoad(ctx, src)
}

// eval builds the command as go-redis does (name, script or digest, key
// count, keys, args; the first key at 3 for Cluster routing) and sends it.
// The library's scripts take scalar arguments only, so unlike go-redis it
// does not flatten a lone slice argument. A call given up at ctx's end
// gets a command of its own holding the error: the one sent may still be
// queued, and reading it would wait for its reply.
func (c sender) eval(ctx context.Context, name, payload string, keys []string, args []any) *redis.Cmd {
	argv := evalArgv(name, payload, keys, args)
	cmd := redis.NewCmd(ctx, argv...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	if err := c.s.Process(ctx, cmd); err != nil && err == ctx.Err() {
		gave := redis.NewCmd(ctx, argv...)
		gave.SetErr(err)
		return gave
	}
	return cmd
}

// evalArgv is the argument vector of an EVAL-family command: the command,
// the script or its digest, the key count, keys, args. It keeps neither
// keys' nor args' backing array.
func evalArgv(name string, script any, keys []string, args []any) []any {
	argv := make([]any, 3+len(keys), 3+len(keys)+len(args))
	argv[0], argv[1], argv[2] = name, script, len(keys)
	for i, k := range keys {
		argv[3+i] = k
	}
	return append(argv, args...)
}

// Int64s is Run for a script whose reply is an array of integers (a nil
// element reads as 0): the EVALSHA reads its reply straight into an
// []int64, where Run's reply boxes every element and Int64Slice copies
// them again, and sends the digest boxed once per Runner. It allocates
// neither keys nor args' backing arrays on the heap, so a caller may pass
// arrays of its stack.
func (r *Runner) Int64s(ctx context.Context, s *redis.Script, keys []string, args []any) ([]int64, error) {
	sha, ok := r.cached.Load(s)
	if !ok {
		return r.evalInt64s(ctx, s, keys, args)
	}
	cmd := redis.NewIntSliceCmd(ctx, evalArgv("evalsha", sha, keys, args)...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3) // as go-redis' EvalSha: routed by KEYS[1] on a Cluster
	}
	if err := r.one.s.Process(ctx, cmd); err != nil {
		if isNoScript(err) {
			return r.evalInt64s(ctx, s, keys, args)
		}
		return nil, err // not cmd's: a call given up may still be writing it
	}
	return cmd.Val(), nil
}

// evalInt64s sends s whole (EVAL), on copies of keys and args (go-redis
// keeps what it is given), and notes it cached when it ran.
func (r *Runner) evalInt64s(ctx context.Context, s *redis.Script, keys []string, args []any) ([]int64, error) {
	cmd := s.Eval(ctx, r.one, append([]string(nil), keys...), append([]any(nil), args...)...)
	r.noteReply(s, cmd.Err())
	return cmd.Int64Slice()
}

// Op is one operation of Exec: a script call (Script with Keys and Args)
// or, when Script is nil, a plain command that Plain adds to the pipeline.
// Exec sets Cmd to the operation's reply.
type Op struct {
	Script *redis.Script
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
// node, sent together), or the command itself when ops is one script
// call. Script calls go as EVALSHA (as EVAL while not known to be cached);
// the script calls that got NOSCRIPT, and only those, are sent again as
// EVAL, in one more round trip. So no command runs twice.
//
// Each op's Cmd holds its reply once Exec returns. Exec returns the first
// error of any reply, redis.Nil excepted. A caller that gave up waiting
// for Exec (a timeout, with Exec in another goroutine) must not read the
// replies, as Exec may still be writing them.
func (r *Runner) Exec(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) == 1 && ops[0].Script != nil {
		o := &ops[0]
		cmd := r.Run(ctx, o.Script, o.Keys, o.Args...)
		o.Cmd = cmd
		return replyErr(cmd.Err())
	}
	_, _ = r.one.s.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ops {
			o := &ops[i]
			switch {
			case o.Script == nil:
				o.Cmd = o.Plain(ctx, p)
			case r.isCached(o.Script):
				o.Cmd = o.Script.EvalSha(ctx, p, o.Keys, o.Args...)
			default:
				o.Cmd = o.Script.Eval(ctx, p, o.Keys, o.Args...)
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
			r.noteReply(o.Script, err)
		}
	}
	switch {
	case missed == 1:
		for i := range ops {
			if o := &ops[i]; o.Script != nil && isNoScript(o.Cmd.Err()) {
				o.Cmd = o.Script.Eval(ctx, r.one.s.Client(), o.Keys, o.Args...)
			}
		}
	case missed > 1:
		_, _ = r.one.s.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range ops {
				if o := &ops[i]; o.Script != nil && isNoScript(o.Cmd.Err()) {
					o.Cmd = o.Script.Eval(ctx, p, o.Keys, o.Args...)
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

// Load puts scripts into the script cache of the Runner's server: of every
// shard, masters and replicas, when the client is a *redis.ClusterClient.
// It sends one SCRIPT LOAD per script (a pipeline would reach only one node
// of a Cluster) and returns the first error.
func (r *Runner) Load(ctx context.Context, scripts ...*redis.Script) error {
	for _, s := range scripts {
		if err := s.Load(ctx, r.one.s.Client()).Err(); err != nil {
			return err
		}
		r.markCached(s)
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
