package ratelimit

import "github.com/redis/go-redis/v9"

// gcraScript decides a batch of requests of one key, in order, against
// every limit of a route at once.
//
// KEYS[i] holds limit i's theoretical arrival time (TAT) in microseconds of
// Redis' clock. ARGV[1] is m, the number of requests; ARGV[2..m+1] their
// costs, in arrival order; then ARGV[m+2i] and ARGV[m+2i+1] are limit i's
// emission interval and tolerance (burst × interval), in microseconds.
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
// A stored value that is not a finite number (or a key of another type)
// counts as no history; a TAT beyond now + tolerance (corrupt, or the limit
// was made stricter) is clamped, so no key can deny for longer than one
// burst.
//
// It returns, for each request j in order, {allowed, d1, ..., dn}
// flattened: allowed is 1 or 0 and di is limit i's TAT minus now after the
// request's decision, in microseconds (0 when it is idle).
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local m = tonumber(ARGV[1])
local n = #KEYS
local iv, tol, tats = {}, {}, {}
for i = 1, n do
  iv[i] = tonumber(ARGV[m + 2 * i])
  tol[i] = tonumber(ARGV[m + 2 * i + 1])
  local v = redis.pcall('GET', KEYS[i])
  local tat = nil
  if type(v) == 'string' then tat = tonumber(v) end
  -- tat - tat ~= 0 catches nan and inf, which Lua's tonumber accepts
  if tat == nil or tat - tat ~= 0 or tat < now then tat = now end
  if tat > now + tol[i] then tat = now + tol[i] end
  tats[i] = tat
end
local out = {}
local spent = false
for j = 1, m do
  local cost = tonumber(ARGV[1 + j])
  local ok = 1
  for i = 1, n do
    if tats[i] + cost * iv[i] - now > tol[i] then ok = 0 end
  end
  out[#out + 1] = ok
  if ok == 1 and cost > 0 then spent = true end
  for i = 1, n do
    if ok == 1 then tats[i] = tats[i] + cost * iv[i] end
    out[#out + 1] = tats[i] - now
  end
end
if spent then
  for i = 1, n do
    if tats[i] > now then
      local ttl = math.ceil((tats[i] - now) / 1000)
      redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', string.format('%d', ttl))
    end
  end
end
return out
`)
