package cachehandler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
)

// httpNowMS is the Lua that sets now to the server's time in milliseconds,
// the clock key expiries run on. (Scripts are replicated by their effects,
// the default since Redis 5, so TIME may precede writes.)
const httpNowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// httpStoreScript writes one response of a URL. All its keys share the
// URL's {hash tag}. KEYS: base, entry key (the base itself when the response
// has no Vary), variants set, lock. ARGV: entry bytes, TTL in ms, variant
// index ("" without Vary), lock token ("" when no lock is held), fill
// channel and message. The announcement is published by the script, so it
// can never precede the write (as it could in a pipeline whose EVALSHA
// failed with NOSCRIPT).
//
// With Vary the base holds the index and lives as long as its longest
// variant; when the index changes (or a plain entry replaces it) the old
// variants become unreachable and are deleted at once. The variants set is
// scored by each variant's expiry, so the members of expired variants are
// dropped as new ones come: a hot URL with many variants keeps a set of its
// live variants, not of every variant it ever had.
var httpStoreScript = redis.NewScript(httpNowMS + `
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == '' or cur ~= ARGV[3] then
  local vs = redis.call('ZRANGE', KEYS[3], 0, -1)
  for i = 1, #vs do redis.call('DEL', vs[i]) end
  redis.call('DEL', KEYS[3])
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  local keep = ttl
  if cur == ARGV[3] then
    local left = redis.call('PTTL', KEYS[1])
    if left > keep then keep = left end
  end
  redis.call('SET', KEYS[1], ARGV[3], 'PX', keep)
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], now + ttl, KEYS[2])
  redis.call('PEXPIRE', KEYS[3], keep)
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[4] then
  redis.call('DEL', KEYS[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`)

// httpTagGrace is how long past its entry's expiry a tag set keeps a
// member. Tag sets and entries may live on different Cluster nodes, whose
// clocks differ a little; dropping a member before its entry is gone would
// let the entry survive a PurgeTags.
const httpTagGrace = time.Minute

// httpTagScript adds a URL's base key to a tag set, scored by the entry's
// expiry (never lowered: another variant of the URL may live longer), drops
// the members whose entries expired (plus httpTagGrace), and extends the
// set's expiry to cover the entry (6.2 has no PEXPIRE GT). So a tag set
// holds the URLs with live entries, not every URL ever tagged. KEYS: tag
// set. ARGV: TTL in ms, base key, grace in ms.
var httpTagScript = redis.NewScript(httpNowMS + `
local ttl = tonumber(ARGV[1]) + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local exp = now + tonumber(ARGV[1])
local cur = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not cur or tonumber(cur) < exp then
  redis.call('ZADD', KEYS[1], exp, ARGV[2])
end
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// httpReleaseScript deletes the fill lock if it still holds our token and
// announces that the fill is over. KEYS: lock. ARGV: token, channel,
// message.
var httpReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// httpPurgeScript deletes a URL's base key, its variants set and every
// variant it lists. KEYS: base, variants set (one {hash tag}).
var httpPurgeScript = redis.NewScript(`
local vs = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #vs do redis.call('DEL', vs[i]) end
return redis.call('DEL', KEYS[1], KEYS[2]) + #vs
`)

// redisCall makes one Redis call of c, fn(ctx, arg), through the breaker
// and bounded by Options.Timeout whatever the client (see bounded.Call: fn
// returns its results, and takes what it needs from arg so that it
// allocates nothing).
func redisCall[A, T any](c *Cache, ctx context.Context, fn func(context.Context, A) (T, error), arg A) (T, error) {
	return bounded.Guarded(&c.guard, ctx, fn, arg)
}

// redisDo is redisCall for a function that returns only an error.
func redisDo[A any](c *Cache, ctx context.Context, fn func(context.Context, A) error, arg A) error {
	return bounded.GuardedDo(&c.guard, ctx, fn, arg)
}

// keysArgs are what a Redis call about some keys needs.
type keysArgs struct {
	c    *Cache
	keys []string
}

// lockArgs are what a Redis call about a fill lock needs.
type lockArgs struct {
	c           *Cache
	lock, token string
}

// scriptsArgs are what a Redis call of runScripts needs.
type scriptsArgs struct {
	c     *Cache
	calls []httpScriptCall
}

func runScripts(ctx context.Context, a scriptsArgs) error { return a.c.runScripts(ctx, a.calls) }

// httpScriptCall is one script call queued in a pipeline.
type httpScriptCall struct {
	s    *redis.Script
	keys []string
	args []any
}

// runScripts sends calls in one pipeline using EVALSHA; only when Redis has
// lost a script does it resend with EVAL, which costs one more round trip
// once per script cache flush.
func (c *Cache) runScripts(ctx context.Context, calls []httpScriptCall) error {
	return c.runScriptsThen(ctx, calls, func(redis.Pipeliner) {})
}

// fetch GETs keys in one round trip; missing keys come back nil. Concurrent
// fetches of the same keys in this process share one round trip.
//
// ns names the sharing group: "" shares nothing; requests only share a
// round trip with requests of the same ns.
func (c *Cache) fetch(ctx context.Context, keys []string, ns string) ([][]byte, error) {
	do := func() ([][]byte, error) {
		out, err := redisCall(c, context.WithoutCancel(ctx), func(ctx context.Context, a keysArgs) ([][]byte, error) {
			out := make([][]byte, len(a.keys))
			if len(a.keys) == 1 {
				b, err := a.c.rdb.Get(ctx, a.keys[0]).Bytes()
				if errors.Is(err, redis.Nil) {
					return out, nil
				}
				out[0] = b
				return out, err
			}
			cmds := make([]*redis.StringCmd, len(a.keys))
			_, err := a.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range a.keys {
					cmds[i] = p.Get(ctx, k)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			for i, cmd := range cmds {
				b, err := cmd.Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					return nil, err
				}
				out[i] = b
			}
			return out, nil
		}, keysArgs{c, keys})
		if err != nil {
			return nil, fmt.Errorf("cachehandler: lookup: %w", err)
		}
		return out, nil
	}
	if ns == "" {
		return do()
	}
	v, err, _ := c.sf.Do(ns+" "+strings.Join(keys, " "), func() (any, error) { return do() })
	if err != nil {
		return nil, err
	}
	return v.([][]byte), nil
}

// tryLock takes the fill lock of k; won is false when another request (in
// any instance) holds it.
func (c *Cache) tryLock(ctx context.Context, k httpKeys) (token string, won bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	won, err = redisCall(c, context.WithoutCancel(ctx), func(ctx context.Context, a lockArgs) (bool, error) {
		return a.c.rdb.SetNX(ctx, a.lock, a.token, a.c.opt.LockTTL).Result()
	}, lockArgs{c, k.lock, token})
	if err != nil {
		return "", false, fmt.Errorf("cachehandler: lock: %w", err)
	}
	return token, won, nil
}

// release gives up the fill lock without storing and wakes the waiters.
func (c *Cache) release(ctx context.Context, k httpKeys, token string) error {
	if token == "" {
		return nil
	}
	calls := []httpScriptCall{{httpReleaseScript, []string{k.lock}, []any{token, c.fillChannel(), k.fill}}}
	if err := redisDo(c, context.WithoutCancel(ctx), runScripts, scriptsArgs{c, calls}); err != nil {
		return fmt.Errorf("cachehandler: release lock: %w", err)
	}
	return nil
}

// store writes e for r's URL (as the variant r selects when e varies),
// adds the URL to e's tags, releases the lock token (if any) and wakes the
// waiters, all in one round trip.
func (c *Cache) store(ctx context.Context, r *http.Request, k httpKeys, e *cacheEntry, tags []string, ttl time.Duration, token string) error {
	names, _ := httpVaryNames(e.header)
	entryKey, index := k.base, ""
	if len(names) > 0 {
		entryKey = k.variantKey(names, r)
		index = string(entryEncodeVariants(names))
	}
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	calls := make([]httpScriptCall, 0, 1+len(tags))
	calls = append(calls, httpScriptCall{httpStoreScript,
		[]string{k.base, entryKey, k.variants, k.lock},
		[]any{entryEncode(nil, e), ms, index, token, c.fillChannel(), k.fill}})
	for _, t := range tags {
		calls = append(calls, httpScriptCall{httpTagScript, []string{c.httpTagKey(t)}, []any{ms, k.base, httpTagGrace.Milliseconds()}})
	}
	if err := redisDo(c, context.WithoutCancel(ctx), runScripts, scriptsArgs{c, calls}); err != nil {
		return fmt.Errorf("cachehandler: store: %w", err)
	}
	if len(names) > 0 {
		c.setHint(k.hash, names)
	}
	return nil
}

// purgeKeys deletes every variant of each URL, one script per URL (each
// script stays inside its URL's hash slot), all in one pipeline.
func (c *Cache) purgeKeys(ctx context.Context, ks []httpKeys) error {
	if len(ks) == 0 {
		return nil
	}
	calls := make([]httpScriptCall, len(ks))
	for i, k := range ks {
		calls[i] = httpScriptCall{httpPurgeScript, []string{k.base, k.variants}, nil}
	}
	return c.runScripts(ctx, calls)
}

// fillChannel is the Pub/Sub channel on which fills are announced; the
// message is the URL's hash.
func (c *Cache) fillChannel() string { return c.opt.Prefix + "fill" }
