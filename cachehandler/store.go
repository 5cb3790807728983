package cachehandler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/internal/bounded"
	"github.com/redisware/redisware/internal/script"
)

// nowMS is the Lua that sets now to the server's time in milliseconds,
// the clock key expiries run on. (Scripts are replicated by their effects,
// the default since Redis 5, so TIME may precede writes.)
const nowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// storeScript writes one response of a URL. All its keys share the
// URL's {hash tag}. KEYS: base, entry key (the base itself when the response
// has no Vary), variants set, lock, purge generation. ARGV: entry bytes, TTL
// in ms, variant index ("" without Vary), lock token ("" when no lock is
// held), fill channel and message, the purge generation read when the fill
// began. The announcement is published by the script, so it can never
// precede the write (as it could in a pipeline whose script call missed
// Redis' script cache and was re-sent).
//
// When the URL was purged since the fill began (its generation differs:
// bumped, or expired), the handler may have read what the purge removed, so
// the script writes nothing and returns 0; it still releases the lock and
// announces the fill, so the waiters look again or run the handler.
//
// With Vary the base holds the index and lives as long as its longest
// variant; when the index changes (or a plain entry replaces it) the old
// variants become unreachable and are deleted at once. The variants set is
// scored by each variant's expiry, so the members of expired variants are
// dropped as new ones come: a hot URL with many variants keeps a set of its
// live variants, not of every variant it ever had.
var storeScript = redis.NewScript(nowMS + `
if (redis.call('GET', KEYS[5]) or '0') ~= ARGV[7] then
  if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[4] then
    redis.call('DEL', KEYS[4])
  end
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  return 0
end
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

// tagGrace is how long past its entry's expiry a tag set keeps a
// member. Tag sets and entries may live on different Cluster nodes, whose
// clocks differ a little; dropping a member before its entry is gone would
// let the entry survive a PurgeTags.
const tagGrace = time.Minute

// tagScript adds a URL's base key to a tag set, scored by the entry's
// expiry (never lowered: another variant of the URL may live longer), drops
// the members whose entries expired (plus tagGrace), and extends the
// set's expiry to cover the entry (6.2 has no PEXPIRE GT). So a tag set
// holds the URLs with live entries, not every URL ever tagged. KEYS: tag
// set. ARGV: TTL in ms, base key, grace in ms.
var tagScript = redis.NewScript(nowMS + `
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

// releaseScript deletes the fill lock if it still holds our token and
// announces that the fill is over. KEYS: lock. ARGV: token, channel,
// message.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

// lockScript takes the fill lock of a URL or variant (SET NX PX) and
// reads the URL's purge generation ("0" when there is none), which the
// store of the fill hands back to storeScript. KEYS: lock, purge
// generation (one {hash tag}). ARGV: token, LockTTL in ms. Returns {won (1
// or 0), generation}.
var lockScript = redis.NewScript(`
local won = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
local gen = redis.call('GET', KEYS[2]) or '0'
if won then return {1, gen} end
return {0, gen}
`)

// purgeScript deletes a URL's base key, its variants set and every
// variant it lists, and moves the URL's purge generation on, so that fills
// that began before it do not store. KEYS: base, variants set, purge
// generation (one {hash tag}). ARGV: the generation's expiry in ms.
//
// A missing generation starts from Redis TIME in microseconds rather than
// 1: had it expired while a fill ran and been bumped from nothing, it could
// come back to the value that fill read.
var purgeScript = redis.NewScript(`
local t = redis.call('TIME')
local vs = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #vs do redis.call('DEL', vs[i]) end
local n = redis.call('DEL', KEYS[1], KEYS[2]) + #vs
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[1])
else
  redis.call('SET', KEYS[3], t[1] .. string.format('%06d', tonumber(t[2])), 'PX', ARGV[1])
end
return n
`)

// minGenTTL is the least expiry of a URL's purge generation. A fill that
// runs longer than the generation lives, with a purge at its start, could
// store what the purge removed; see Cache.genTTL.
const minGenTTL = time.Hour

// redisCall makes one Redis call of c, fn(ctx, arg), reported as op to the
// Observer, through the breaker and bounded by Options.Timeout whatever
// the client (see bounded.Call: fn returns its results, and takes what it
// needs from arg so that it allocates nothing).
func redisCall[A, T any](ctx context.Context, c *Cache, op string, fn func(context.Context, A) (T, error), arg A) (T, error) {
	return bounded.Guarded(ctx, &c.guard, op, fn, arg)
}

// redisDo is redisCall for a function that returns only an error.
func redisDo[A any](ctx context.Context, c *Cache, op string, fn func(context.Context, A) error, arg A) error {
	return bounded.GuardedDo(ctx, &c.guard, op, fn, arg)
}

// fetchArgs are what a lookup's Redis call needs: one key, or two.
type fetchArgs struct {
	c    *Cache
	keys [2]string // keys[1] is "" when there is one key
}

// lockArgs are what a Redis call about a fill lock needs.
type lockArgs struct {
	c                *Cache
	lock, gen, token string
}

// opsArgs are what a Redis call of script.Runner.Exec needs.
type opsArgs struct {
	c   *Cache
	ops []script.Op
}

func execOps(ctx context.Context, a opsArgs) error { return a.c.scripts.Exec(ctx, a.ops) }

// lookupShare names the requests that share a lookup: requests share a
// round trip only with requests of the same kind.
type lookupShare uint8

const (
	shareNone      lookupShare = iota // shares nothing
	shareHits                         // requests looking for a stored response
	shareAfterFill                    // requests looking for what a fill in this process stored
	lookupShares
)

// fetched is what one fetch read: the values of its keys, each decoded
// once for all the requests that share the read. It is read only: a
// request that would change an entry changes a copy.
type fetched struct {
	v [2]fetchedValue
	// entries hold the decoded entries v points to: one allocation for
	// the whole read.
	entries [2]cacheEntry
}

// fetchedValue is the value of one key.
type fetchedValue struct {
	raw   []byte      // nil when the key is missing
	entry *cacheEntry // raw decoded, when it is an entry
	names []string    // raw decoded, when it is a variant index
	err   error       // why raw is neither: corrupt or foreign data
}

// decodeValue decodes b, an entry into e.
func decodeValue(b []byte, e *cacheEntry) fetchedValue {
	v := fetchedValue{raw: b}
	switch {
	case b == nil:
	case entryKind(b) == entryKindEntry:
		if v.err = entryDecodeInto(e, b); v.err == nil {
			v.entry = e
		}
	case entryKind(b) == entryKindVariant:
		v.names, v.err = entryDecodeVariants(b)
	default:
		v.err = entryErrCorrupt
	}
	return v
}

// fetch GETs keys (keys[1] may be "") in one round trip and decodes what
// it finds. Concurrent fetches of the same keys in this process share one
// round trip and its decoded values.
//
// share says which requests share it; shareNone shares nothing.
func (c *Cache) fetch(ctx context.Context, keys [2]string, share lookupShare) (*fetched, error) {
	if share == shareNone {
		return c.fetchOnce(ctx, keys)
	}
	// One key and a pair never spell the same string: past the prefix and
	// the {hash}, a pair goes on with a space, a key with ":" or nothing.
	sfKey := keys[0]
	if keys[1] != "" {
		sfKey = keys[0] + " " + keys[1]
	}
	v, err, _ := c.sf[share].Do(sfKey, func() (any, error) {
		v, err := c.fetchOnce(ctx, keys)
		if err != nil {
			return nil, &sharedFailure{error: err}
		}
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*fetched), nil
}

// fetchOnce is fetch without sharing.
func (c *Cache) fetchOnce(ctx context.Context, keys [2]string) (*fetched, error) {
	raw, err := redisCall(context.WithoutCancel(ctx), c, "lookup", func(ctx context.Context, a fetchArgs) ([2][]byte, error) {
		var out [2][]byte
		if a.keys[1] == "" {
			b, err := a.c.send.Get(ctx, a.keys[0])
			if errors.Is(err, redis.Nil) {
				return out, nil
			}
			out[0] = b
			return out, err
		}
		var cmds [2]*redis.StringCmd
		_, err := a.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range a.keys {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return out, err
		}
		for i, cmd := range cmds {
			b, err := cmd.Bytes()
			if err != nil && !errors.Is(err, redis.Nil) {
				return out, err
			}
			out[i] = b
		}
		return out, nil
	}, fetchArgs{c, keys})
	if err != nil {
		return nil, fmt.Errorf("cachehandler: lookup: %w", err)
	}
	f := new(fetched)
	for i, b := range raw {
		f.v[i] = decodeValue(b, &f.entries[i])
	}
	return f, nil
}

// sharedFailure is the error of a lookup that concurrent requests shared:
// one failure, which the first of them to report it reports (see fail).
type sharedFailure struct {
	error
	reported atomic.Bool
}

func (e *sharedFailure) Unwrap() error { return e.error }

// tryLock takes the fill lock of k; won is false when another request (in
// any instance) holds it. Either way it returns the URL's purge generation,
// which a store made by this request must hand back.
func (c *Cache) tryLock(ctx context.Context, k keySet) (token, gen string, won bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	res, err := redisCall(context.WithoutCancel(ctx), c, "lock", func(ctx context.Context, a lockArgs) (lockResult, error) {
		v, err := a.c.scripts.Run(ctx, lockScript, []string{a.lock, a.gen}, a.token, a.c.opt.LockTTL.Milliseconds()).Slice()
		if err != nil {
			return lockResult{}, err
		}
		if len(v) != 2 {
			return lockResult{}, fmt.Errorf("lock script returned %d values", len(v))
		}
		n, _ := v[0].(int64)
		g, ok := v[1].(string)
		if !ok {
			return lockResult{}, fmt.Errorf("lock script returned generation %T", v[1])
		}
		return lockResult{gen: g, won: n == 1}, nil
	}, lockArgs{c, k.lockKey(), k.genKey(), token})
	if err != nil {
		return "", "", false, fmt.Errorf("cachehandler: lock: %w", err)
	}
	return token, res.gen, res.won, nil
}

// lockResult is what lockScript answers.
type lockResult struct {
	gen string
	won bool
}

// genTTL is the expiry of a purge generation: the longer of minGenTTL and
// ten LockTTLs, far past any fill that holds its lock.
func (c *Cache) genTTL() time.Duration { return max(minGenTTL, 10*c.opt.LockTTL) }

// release gives up the fill lock without storing and wakes the waiters.
func (c *Cache) release(ctx context.Context, k keySet, token string) error {
	if token == "" {
		return nil
	}
	ops := []script.Op{{Script: releaseScript, Keys: []string{k.lockKey()}, Args: []any{token, c.fillChannel(), k.fill}}}
	if err := redisDo(context.WithoutCancel(ctx), c, "release", execOps, opsArgs{c, ops}); err != nil {
		return fmt.Errorf("cachehandler: release lock: %w", err)
	}
	return nil
}

// store writes e for r's URL (as the variant r selects when e varies),
// adds the URL to e's tags, releases the lock token (if any) and wakes the
// waiters, all in one round trip. gen is the URL's purge generation read
// when the fill began; stored is false when the URL was purged since, and
// nothing was written.
func (c *Cache) store(ctx context.Context, r *http.Request, k keySet, e *cacheEntry, tags []string, ttl time.Duration, token, gen string) (stored bool, err error) {
	names, _ := varyNames(e.header)
	entryKey, index := k.base, ""
	if len(names) > 0 {
		entryKey = k.variantKey(names, r)
		index = string(entryEncodeVariants(names))
	}
	ms := ttl.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	ops := make([]script.Op, 0, 1+len(tags))
	ops = append(ops, script.Op{Script: storeScript,
		Keys: []string{k.base, entryKey, k.variantsKey(), k.lockKey(), k.genKey()},
		Args: []any{entryEncode(make([]byte, 0, entryEncodedSize(e)), e), ms, index, token, c.fillChannel(), k.fill, gen}})
	for _, t := range tags {
		ops = append(ops, script.Op{Script: tagScript, Keys: []string{c.tagKey(t)}, Args: []any{ms, k.base, tagGrace.Milliseconds()}})
	}
	stored, err = redisCall(context.WithoutCancel(ctx), c, "store", func(ctx context.Context, a opsArgs) (bool, error) {
		if err := a.c.scripts.Exec(ctx, a.ops); err != nil {
			return false, err
		}
		n, err := a.ops[0].Cmd.(*redis.Cmd).Int64()
		return n == 1, err
	}, opsArgs{c, ops})
	if err != nil {
		return false, fmt.Errorf("cachehandler: store: %w", err)
	}
	if stored && len(names) > 0 {
		c.setHint(k.hash, names)
	}
	return stored, nil
}

// purgeKeys deletes every variant of each URL, one script per URL (each
// script stays inside its URL's hash slot), all in one pipeline.
func (c *Cache) purgeKeys(ctx context.Context, ks []keySet) error {
	if len(ks) == 0 {
		return nil
	}
	ops := make([]script.Op, len(ks))
	hashes := make([]string, len(ks))
	ttl := c.genTTL().Milliseconds()
	for i, k := range ks {
		ops[i] = script.Op{Script: purgeScript, Keys: []string{k.base, k.variantsKey(), k.genKey()}, Args: []any{ttl}}
		hashes[i] = k.hash
	}
	if err := c.scripts.Exec(ctx, ops); err != nil {
		return err
	}
	c.markPurged(hashes)
	return nil
}

// fillChannel is the Pub/Sub channel on which fills are announced; the
// message is the URL's hash.
func (c *Cache) fillChannel() string { return c.opt.Prefix + "fill" }
