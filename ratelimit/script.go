package ratelimit

import "github.com/redis/go-redis/v9"

// keyVersion ends every key the script writes. Version 1 (no suffix)
// held the TAT as whole microseconds; version 2 holds it with a fraction
// of a microsecond, so an instance of each, side by side during a rollout,
// never reads the other's keys (each limits on its own until the old one
// is gone).
const keyVersion = ":2"

// gcraScript decides a batch of requests of one key, in order, against
// every limit of a route at once.
//
// KEYS[i] holds limit i's theoretical arrival time (TAT) as "a:f:s": the
// TAT is a + f/s microseconds of Redis' clock, with 0 ≤ f < s. ARGV[1] is
// m, the number of requests; ARGV[2..m+1] their costs, in arrival order;
// then ARGV[m+3i-1], ARGV[m+3i] and ARGV[m+3i+1] are limit i's emission
// interval iv and tolerance tol (burst × interval), counted in units of
// 1/s µs, and s. Go chooses s so that every number below stays under 2^53,
// where Lua's doubles are exact: tol and s ≤ 2^51, and every sum of them
// is below 2^53. A TAT stored on another scale (the limit was changed) is
// rounded up to the next whole microsecond.
//
// The time comes from TIME, so app-server clocks never matter. On Redis 5
// and later scripts replicate their effects, so writing after TIME is
// allowed (Redis < 5 would need redis.replicate_commands(); we target 6.2+).
//
// Each request is decided as if it ran alone, after the ones before it in
// the batch: every limit is checked before any is changed, the request is
// allowed only when all limits allow it, and a denied request changes
// nothing. All requests of a batch arrived before the script ran, so
// deciding them at its TIME is as exact as deciding each on its own. Each
// key is read once and written once (only when some request spent on it).
// A stored value that is not of the form above (or a key of another type)
// counts as no history; a TAT beyond now + tolerance (corrupt, or the limit
// was made stricter) is clamped, so no key can deny for longer than one
// burst.
//
// It returns, for each request j in order, {allowed, d1, ..., dn}
// flattened: allowed is 1 or 0 and di is limit i's TAT minus now after the
// request's decision, in its units (0 when it is idle).
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local m = tonumber(ARGV[1])
local n = #KEYS
local iv, tol, sc, ds = {}, {}, {}, {}
for i = 1, n do
  iv[i] = tonumber(ARGV[m + 3 * i - 1])
  tol[i] = tonumber(ARGV[m + 3 * i])
  sc[i] = tonumber(ARGV[m + 3 * i + 1])
  local d = 0
  local v = redis.pcall('GET', KEYS[i])
  if type(v) == 'string' then
    local a, f, s = string.match(v, '^(%d+):(%d+):(%d+)$')
    a, f, s = tonumber(a), tonumber(f), tonumber(s)
    if a and f and s and f < s then
      if s ~= sc[i] and f > 0 then a = a + 1 f = 0 end
      -- a < now: the TAT, below a + 1, has passed
      if a >= now then
        if a - now > tol[i] / sc[i] + 1 then d = tol[i] else d = math.min((a - now) * sc[i] + f, tol[i]) end
      end
    end
  end
  ds[i] = d
end
local out = {}
local spent = false
for j = 1, m do
  local cost = tonumber(ARGV[1 + j])
  local ok = 1
  for i = 1, n do
    if ds[i] + cost * iv[i] > tol[i] then ok = 0 end
  end
  out[#out + 1] = ok
  if ok == 1 and cost > 0 then spent = true end
  for i = 1, n do
    if ok == 1 then ds[i] = ds[i] + cost * iv[i] end
    out[#out + 1] = ds[i]
  end
end
if spent then
  for i = 1, n do
    local d, s = ds[i], sc[i]
    if d > 0 then
      -- q, f = d div s, d mod s, exactly (a double quotient may round up)
      local q = math.floor(d / s)
      local f = d - q * s
      if f < 0 then q = q - 1 f = f + s elseif f >= s then q = q + 1 f = f - s end
      -- expire once the TAT, now + q µs (+ 1 when f > 0), has passed
      local us = q
      if f > 0 then us = us + 1 end
      redis.call('SET', KEYS[i], string.format('%d:%d:%d', now + q, f, s), 'PX', string.format('%d', math.floor((us + 999) / 1000)))
    end
  end
end
return out
`)
