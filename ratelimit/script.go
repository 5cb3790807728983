package ratelimit

import "github.com/redis/go-redis/v9"

// keyVersion ends every key the script writes. Version 1 (no suffix)
// held the TAT as whole microseconds; version 2 holds it with a fraction
// of a microsecond, so an instance of each, side by side during a rollout,
// never reads the other's keys (each limits on its own until the old one
// is gone).
const keyVersion = ":2"

// gcraScript decides one request against every limit of a route at once.
//
// KEYS[i] holds limit i's theoretical arrival time (TAT) as "a:f:m": the
// TAT is a + f/m microseconds of Redis' clock, with 0 ≤ f < m. ARGV[1] is
// the cost; ARGV[3i-1], ARGV[3i] and ARGV[3i+1] are limit i's emission
// interval iv and tolerance tol (burst × interval), counted in units of
// 1/m µs, and m. Go chooses m so that every number below stays under 2^53,
// where Lua's doubles are exact: tol and m ≤ 2^51, and every sum of them
// is below 2^53. A TAT stored with another m (the limit was changed) is
// rounded up to the next whole microsecond.
//
// The time comes from TIME, so app-server clocks never matter. On Redis 5
// and later scripts replicate their effects, so writing after TIME is
// allowed (Redis < 5 would need redis.replicate_commands(); we target 6.2+).
//
// Every limit is checked before any is written: the request is allowed only
// when all limits allow it, and a denied request writes nothing. A stored
// value that is not of the form above (or a key of another type) counts as
// no history; a TAT beyond now + tolerance (corrupt, or the limit was made
// stricter) is clamped, so no key can deny for longer than one burst.
//
// It returns {allowed, d1, ..., dn}: allowed is 1 or 0 and di is limit i's
// TAT minus now after the decision, in its units (0 when it is idle).
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = #KEYS
local ds = {}
local ok = 1
for i = 1, n do
  local iv = tonumber(ARGV[3 * i - 1])
  local tol = tonumber(ARGV[3 * i])
  local m = tonumber(ARGV[3 * i + 1])
  local d = 0
  local v = redis.pcall('GET', KEYS[i])
  if type(v) == 'string' then
    local a, f, vm = string.match(v, '^(%d+):(%d+):(%d+)$')
    a, f, vm = tonumber(a), tonumber(f), tonumber(vm)
    if a and f and vm and f < vm then
      if vm ~= m and f > 0 then a = a + 1 f = 0 end
      -- a < now: the TAT, below a + 1, has passed
      if a >= now then
        if a - now > tol / m + 1 then d = tol else d = math.min((a - now) * m + f, tol) end
      end
    end
  end
  ds[i] = d
  if d + cost * iv > tol then ok = 0 end
end
local out = {ok}
for i = 1, n do
  local d = ds[i]
  if ok == 1 and cost > 0 then
    local m = tonumber(ARGV[3 * i + 1])
    d = d + cost * tonumber(ARGV[3 * i - 1])
    -- q, f = d div m, d mod m, exactly (a double quotient may round up)
    local q = math.floor(d / m)
    local f = d - q * m
    if f < 0 then q = q - 1 f = f + m elseif f >= m then q = q + 1 f = f - m end
    -- expire once the TAT, now + q µs (+ 1 when f > 0), has passed
    local us = q
    if f > 0 then us = us + 1 end
    redis.call('SET', KEYS[i], string.format('%d:%d:%d', now + q, f, m), 'PX', string.format('%d', math.floor((us + 999) / 1000)))
  end
  out[i + 1] = d
end
return out
`)
