package script_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/pipe"
	"github.com/redisware/redisware/internal/redistest"
	"github.com/redisware/redisware/internal/script"
)

// incrScript returns a script that increments KEYS[1] and returns the new
// value. Its source carries a random comment, so no server can have it
// cached before the test sends it: no SCRIPT FLUSH is needed to have a
// script missing from a shared server's cache.
func incrScript() *redis.Script {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return redis.NewScript("-- " + hex.EncodeToString(b) + "\nreturn redis.call('INCR', KEYS[1])")
}

// coldScript returns an incrScript that r believes cached and no server
// has: what a flushed cache, or a Cluster shard that has not seen the
// script yet, looks like to r.
func coldScript(r *script.Runner) *redis.Script {
	s := incrScript()
	script.MarkCached(r, s)
	return s
}

func scriptOp(s *redis.Script, key string) script.Op {
	return script.Op{Script: s, Keys: []string{key}}
}

func incrOp(key string) script.Op {
	return script.Op{Plain: func(ctx context.Context, p redis.Pipeliner) redis.Cmder { return p.Incr(ctx, key) }}
}

// checkCounts fails unless every key holds 1: each command ran once.
func checkCounts(t *testing.T, rdb redis.UniversalClient, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if n, err := rdb.Get(t.Context(), k).Int(); err != nil || n != 1 {
			t.Errorf("%s = %d (%v): want 1, each command run exactly once", k, n, err)
		}
	}
}

// checkReplies fails unless every op's reply is 1.
func checkReplies(t *testing.T, ops []script.Op) {
	t.Helper()
	for i, o := range ops {
		var n int64
		var err error
		switch c := o.Cmd.(type) {
		case *redis.Cmd:
			n, err = c.Int64()
		case *redis.IntCmd:
			n, err = c.Result()
		default:
			t.Fatalf("op %d: reply of type %T", i, o.Cmd)
		}
		if err != nil || n != 1 {
			t.Errorf("op %d: reply %d, %v; want 1", i, n, err)
		}
	}
}

// TestExecResendsOnlyMissedScripts: in a pipeline where one script (or
// two) is missing from the server's cache, only those are sent again, as
// EVAL; the cached script and the plain command run once.
func TestExecResendsOnlyMissedScripts(t *testing.T) {
	ctx := t.Context()
	b := redistest.Start(t)
	c := b.Client()
	r := script.NewRunner(mustSender(t, c))
	warm := incrScript()
	if err := r.Load(ctx, warm); err != nil {
		t.Fatal(err)
	}
	n := redistest.Count(c)

	t.Run("one missed", func(t *testing.T) {
		p := b.Prefix + "one:"
		cold := coldScript(r)
		ops := []script.Op{scriptOp(warm, p+"warm"), scriptOp(cold, p+"cold"), incrOp(p + "plain")}
		n.Reset()
		if err := r.Exec(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(n.Commands(), " "), "pipeline[evalsha evalsha incr] eval"; got != want {
			t.Errorf("round trips %q, want %q", got, want)
		}
		checkReplies(t, ops)
		checkCounts(t, c, p+"warm", p+"cold", p+"plain")
	})
	t.Run("two missed", func(t *testing.T) {
		p := b.Prefix + "two:"
		cold1, cold2 := coldScript(r), coldScript(r)
		ops := []script.Op{scriptOp(cold1, p+"cold1"), incrOp(p + "plain"), scriptOp(warm, p+"warm"), scriptOp(cold2, p+"cold2")}
		n.Reset()
		if err := r.Exec(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(n.Commands(), " "), "pipeline[evalsha incr evalsha evalsha] pipeline[eval eval]"; got != want {
			t.Errorf("round trips %q, want %q", got, want)
		}
		checkReplies(t, ops)
		checkCounts(t, c, p+"cold1", p+"cold2", p+"plain", p+"warm")
	})
	t.Run("none missed", func(t *testing.T) {
		p := b.Prefix + "none:"
		ops := []script.Op{scriptOp(warm, p+"warm"), incrOp(p + "plain")}
		n.Reset()
		if err := r.Exec(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(n.Commands(), " "), "pipeline[evalsha incr]"; got != want {
			t.Errorf("round trips %q, want %q", got, want)
		}
		checkReplies(t, ops)
		checkCounts(t, c, p+"warm", p+"plain")
	})
	t.Run("never run", func(t *testing.T) {
		// A script the Runner has never run goes as EVAL at once: one
		// round trip, then EVALSHA.
		p := b.Prefix + "new:"
		fresh := incrScript()
		ops := []script.Op{scriptOp(fresh, p+"a"), incrOp(p + "plain")}
		n.Reset()
		if err := r.Exec(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(n.Commands(), " "), "pipeline[eval incr]"; got != want {
			t.Errorf("first: round trips %q, want %q", got, want)
		}
		checkReplies(t, ops)
		ops = []script.Op{scriptOp(fresh, p+"b"), incrOp(p + "plain2")}
		n.Reset()
		if err := r.Exec(ctx, ops); err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(n.Commands(), " "), "pipeline[evalsha incr]"; got != want {
			t.Errorf("second: round trips %q, want %q", got, want)
		}
		checkCounts(t, c, p+"a", p+"plain", p+"b", p+"plain2")
	})
}

// TestRun: one script call is one round trip (EVAL the first time, EVALSHA
// after), two only when the server lacks a script believed cached.
func TestRun(t *testing.T) {
	ctx := t.Context()
	b := redistest.Start(t)
	c := b.Client()
	r := script.NewRunner(mustSender(t, c))
	n := redistest.Count(c)
	run := func(s *redis.Script, key string) string {
		t.Helper()
		n.Reset()
		if v, err := r.Run(ctx, s, []string{b.Prefix + key}).Int64(); err != nil || v != 1 {
			t.Fatalf("%s: %d, %v", key, v, err)
		}
		return strings.Join(n.Commands(), " ")
	}
	fresh := incrScript()
	if got := run(fresh, "fresh1"); got != "eval" {
		t.Errorf("never run: %q, want eval", got)
	}
	if got := run(fresh, "fresh2"); got != "evalsha" {
		t.Errorf("run before: %q, want evalsha", got)
	}
	cold := coldScript(r)
	if got := run(cold, "cold1"); got != "evalsha eval" {
		t.Errorf("missing from the cache: %q, want evalsha eval", got)
	}
	if got := run(cold, "cold2"); got != "evalsha" {
		t.Errorf("after the EVAL: %q, want evalsha", got)
	}
	// What one Runner knows is its own: another client's Runner starts
	// with EVAL too (its server might be another).
	c2 := b.Client()
	n2 := redistest.Count(c2)
	if v, err := script.NewRunner(mustSender(t, c2)).Run(ctx, fresh, []string{b.Prefix + "fresh3"}).Int64(); err != nil || v != 1 {
		t.Fatalf("fresh3: %d, %v", v, err)
	}
	if got := strings.Join(n2.Commands(), " "); got != "eval" {
		t.Errorf("another Runner's first call: %q, want eval", got)
	}
}

// TestExecSingleScript: one script call is sent alone, not as a pipeline.
func TestExecSingleScript(t *testing.T) {
	b := redistest.Start(t)
	c := b.Client()
	r := script.NewRunner(mustSender(t, c))
	n := redistest.Count(c)
	ops := []script.Op{scriptOp(coldScript(r), b.Prefix+"k")}
	if err := r.Exec(t.Context(), ops); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(n.Commands(), " "); got != "evalsha eval" {
		t.Errorf("round trips %q, want evalsha eval", got)
	}
	checkReplies(t, ops)
	checkCounts(t, c, b.Prefix+"k")
}

// TestExecErrors: redis.Nil is a reply, not an error; a script error or a
// failed command is returned, and every op still gets its own reply.
func TestExecErrors(t *testing.T) {
	ctx := t.Context()
	b := redistest.Start(t)
	c := b.Client()
	r := script.NewRunner(mustSender(t, c))
	p := b.Prefix
	getOp := script.Op{Plain: func(ctx context.Context, p2 redis.Pipeliner) redis.Cmder { return p2.Get(ctx, p+"missing") }}
	nilScript := redis.NewScript("-- returns nil\nreturn false")
	ops := []script.Op{getOp, {Script: nilScript, Keys: []string{p + "x"}}, incrOp(p + "plain")}
	if err := r.Exec(ctx, ops); err != nil {
		t.Fatalf("nil replies: %v", err)
	}
	if err := ops[0].Cmd.Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET of a missing key: %v, want redis.Nil", err)
	}

	failing := redis.NewScript("return redis.error_reply('BOOM broken on purpose')")
	ops = []script.Op{incrOp(p + "plain2"), {Script: failing, Keys: []string{p + "y"}}}
	err := r.Exec(ctx, ops)
	if err == nil || !strings.Contains(err.Error(), "BOOM") {
		t.Fatalf("script error: %v, want BOOM", err)
	}
	checkCounts(t, c, p+"plain", p+"plain2")
	if len(ops) != 2 || ops[0].Cmd == nil || ops[1].Cmd == nil {
		t.Fatal("an op got no reply")
	}
	if err := r.Exec(ctx, nil); err != nil {
		t.Fatalf("no ops: %v", err)
	}
}

// TestCluster: Load caches a script on every master, so EVALSHA works for
// keys of every slot; a pipeline across nodes re-sends only the script
// calls that missed, on whichever node they did.
func TestCluster(t *testing.T) {
	ctx := t.Context()
	rdb, prefix := redistest.Cluster(t)
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("cluster client of type %T", rdb)
	}
	// One key per master: find a hash tag that lands on each.
	masters := map[string]string{} // master addr → key
	for i := 0; len(masters) < 3 && i < 1000; i++ {
		k := fmt.Sprintf("%s{%d}", prefix, i)
		node, err := cc.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, seen := masters[node.Options().Addr]; !seen {
			masters[node.Options().Addr] = k
		}
	}
	if len(masters) < 2 {
		t.Fatalf("keys reached %d masters, want several", len(masters))
	}
	n := redistest.Count(rdb)
	r := script.NewRunner(mustSender(t, rdb))

	loaded := incrScript()
	if err := r.Load(ctx, loaded); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range masters {
		keys = append(keys, k+":loaded")
	}
	for _, k := range keys {
		n.Reset()
		if v, err := r.Run(ctx, loaded, []string{k}).Int64(); err != nil || v != 1 {
			t.Fatalf("%s: %d, %v", k, v, err)
		}
		if got := strings.Join(n.Commands(), " "); got != "evalsha" {
			t.Errorf("%s: %q, want evalsha: Load reached every master", k, got)
		}
	}

	cold := coldScript(r)
	var ops []script.Op
	var all []string
	for _, k := range masters {
		ops = append(ops, scriptOp(loaded, k+":warm"), scriptOp(cold, k+":cold"), incrOp(k+":plain"))
		all = append(all, k+":warm", k+":cold", k+":plain")
	}
	n.Reset()
	if err := r.Exec(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if n.N() != 2 {
		t.Errorf("round trips %v, want the pipeline and one re-send", n.Commands())
	}
	if got := n.Commands(); len(got) == 2 && strings.Count(got[1], "eval") != len(masters) {
		t.Errorf("re-sent %q, want one EVAL per master", got[1])
	}
	checkReplies(t, ops)
	checkCounts(t, rdb, all...)
}

// mustSender is the Sender the packages build by default: through the
// client's autopipeliner where it has one.
func mustSender(t *testing.T, c redis.UniversalClient) pipe.Sender {
	t.Helper()
	s, err := pipe.New(c, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pairScript returns a script, new to every server, that increments
// KEYS[1] and returns {its new value, ARGV[1] + 0}.
func pairScript() *redis.Script {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return redis.NewScript("-- " + hex.EncodeToString(b) + "\nreturn {redis.call('INCR', KEYS[1]), tonumber(ARGV[1])}")
}

// TestInt64s: Int64s reads an array of integers with the round trips of
// Run (EVAL first, EVALSHA after, EVALSHA then EVAL when the server lacks
// the script), leaves its arguments as they were, and reports errors.
func TestInt64s(t *testing.T) {
	ctx := t.Context()
	b := redistest.Start(t)
	c := b.Client()
	r := script.NewRunner(mustSender(t, c))
	n := redistest.Count(c)
	run := func(s *redis.Script, key string, want int64) string {
		t.Helper()
		n.Reset()
		keys, args := []string{b.Prefix + key}, []any{int64(1) << 40}
		got, err := r.Int64s(ctx, s, keys, args)
		if err != nil || len(got) != 2 || got[0] != want || got[1] != 1<<40 {
			t.Fatalf("%s: %v, %v; want [%d %d]", key, got, err, want, int64(1)<<40)
		}
		if keys[0] != b.Prefix+key || args[0] != any(int64(1)<<40) {
			t.Fatalf("%s: arguments changed to %q, %v", key, keys, args)
		}
		return strings.Join(n.Commands(), " ")
	}
	fresh := pairScript()
	if got := run(fresh, "p", 1); got != "eval" {
		t.Errorf("never run: %q, want eval", got)
	}
	if got := run(fresh, "p", 2); got != "evalsha" {
		t.Errorf("run before: %q, want evalsha", got)
	}
	cold := pairScript()
	script.MarkCached(r, cold)
	if got := run(cold, "p", 3); got != "evalsha eval" {
		t.Errorf("missing from the cache: %q, want evalsha eval", got)
	}
	if got := run(cold, "p", 4); got != "evalsha" {
		t.Errorf("after the EVAL: %q, want evalsha", got)
	}

	// Errors, sent whole (not known cached) and by digest (loaded): a
	// script error, and a reply that is no array.
	failing := redis.NewScript("return redis.error_reply('ERR nope')")
	scalar := redis.NewScript("return 7")
	for _, load := range []bool{false, true} {
		if load {
			if err := r.Load(ctx, failing, scalar); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Int64s(ctx, failing, []string{b.Prefix + "e"}, nil); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("script error (loaded %v): %v, want ERR nope", load, err)
		}
		if v, err := r.Int64s(ctx, scalar, []string{b.Prefix + "e"}, nil); err == nil {
			t.Errorf("scalar reply (loaded %v): %v, want an error", load, v)
		}
	}
}

// TestVia: a Runner made by Via sends through its own Sender and shares
// what the first knows of the script cache: a script the first ran goes
// as EVALSHA from the second at once.
func TestVia(t *testing.T) {
	ctx := t.Context()
	b := redistest.Start(t)
	c := b.Client()
	direct, err := pipe.New(c, true)
	if err != nil {
		t.Fatal(err)
	}
	r := script.NewRunner(mustSender(t, c))
	d := r.Via(direct)
	n := redistest.Count(c)
	s := incrScript()
	if v, err := r.Run(ctx, s, []string{b.Prefix + "via"}).Int64(); err != nil || v != 1 {
		t.Fatalf("first runner: %v, %v", v, err)
	}
	n.Reset()
	if v, err := d.Run(ctx, s, []string{b.Prefix + "via"}).Int64(); err != nil || v != 2 {
		t.Fatalf("Via runner: %v, %v", v, err)
	}
	if got := strings.Join(n.Commands(), " "); got != "evalsha" {
		t.Fatalf("Via runner sent %q, want evalsha: it shares the cache memory", got)
	}
}
