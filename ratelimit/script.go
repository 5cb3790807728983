package ratelimit

import "github.com/redis/go-redis/v9"

// gcraScript decides one request against every limit of a route at once.
//
// KEYS[i] holds limit i's theoretical arrival time (TAT) in microseconds of
// Redis' clock. ARGV[1] is the cost; ARGV[2i] and ARGV[2i+1] are limit i's
// emission interval and tolerance (burst × interval), in microseconds.
//
// The time comes from TIME, so app-server clocks never matter. On Redis 5
// and later scripts replicate their effects, so writing after TIME is
// allowed (Redis < 5 would need redis.replicate_commands(); we target 6.2+).
//
// Every limit is checked before any is written: the request is allowed only
// when all limits allow it, and a denied request writes nothing. A stored
// value that is not a finite number (or a key of another type) counts as
// no history; a TAT beyond now + tolerance (corrupt, or the limit was made
// stricter) is clamped, so no key can deny for longer than one burst.
//
// It returns {allowed, d1, ..., dn}: allowed is 1 or 0 and di is limit i's
// TAT minus now after the decision, in microseconds (0 when it is idle).
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = #KEYS
local tats = {}
local ok = 1
for i = 1, n do
  local iv = tonumber(ARGV[2 * i])
  local tol = tonumber(ARGV[2 * i + 1])
  local v = redis.pcall('GET', KEYS[i])
  local tat = nil
  if type(v) == 'string' then tat = tonumber(v) end
  -- tat - tat ~= 0 catches nan and inf, which Lua's tonumber accepts
  if tat == nil or tat - tat ~= 0 or tat < now then tat = now end
  if tat > now + tol then tat = now + tol end
  tats[i] = tat
  if tat + cost * iv - now > tol then ok = 0 end
end
local out = {ok}
for i = 1, n do
  local tat = tats[i]
  if ok == 1 and cost > 0 then
    tat = tat + cost * tonumber(ARGV[2 * i])
    local ttl = math.ceil((tat - now) / 1000)
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', string.format('%d', ttl))
  end
  out[i + 1] = tat - now
end
return out
`)
