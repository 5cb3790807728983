package session

import "github.com/redis/go-redis/v9"

// Fields of a session hash. User values live under "v:<key>", metadata
// under "m:<name>", so no user key can collide with metadata.
const (
	valuePrefix  = "v:"
	fieldCreated = "m:created" // ms since the epoch, creation or last Login
	fieldSeen    = "m:seen"    // ms since the epoch, last refresh of the idle expiry
	fieldUser    = "m:user"    // the logged-in user's ID, absent when anonymous
	fieldOp      = "m:op"      // nonce of the last save, to recognise a retried one
)

// loadScript reads a session in one round trip and refreshes its idle
// expiry when a quarter of the idle window has passed since the last
// refresh, so most read-only requests write nothing.
//
// KEYS[1] session key. ARGV: now ms, idle ms, lifetime ms, touch-after ms.
// Returns the HGETALL array, or nil when the session does not exist or
// has expired (idle or absolute) by the caller's clock.
var loadScript = redis.NewScript(`
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local created, seen
for i = 1, #h, 2 do
  if h[i] == 'm:created' then created = tonumber(h[i+1])
  elseif h[i] == 'm:seen' then seen = tonumber(h[i+1]) end
end
if not created or not seen then return h end
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local deadline = created + tonumber(ARGV[3])
if now >= deadline or now >= seen + idle then
  redis.call('DEL', KEYS[1])
  return false
end
if now - seen >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'm:seen', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.min(now + idle, deadline)))
end
return h
`)

// Replies of saveScript (first element).
const (
	saveOK     = 1
	saveGone   = 0  // update of a session that no longer exists (or expired)
	saveNotInt = -1 // an Incr field is not an integer, or the sum overflows
	saveExists = -2 // create of an ID already taken
)

// saveScript writes the changes of one request to one session: only the
// fields changed and removed, increments with HINCRBY, and the expiry. An
// update never recreates a session that is gone, so a request that finishes
// after a concurrent Destroy cannot resurrect it. Increments run first and
// are undone if one fails (a field that is not an integer, an overflow), so
// a failed save writes nothing. The client never sends an increment of a
// field it also sets or removes, nor with clear. Each save carries a random
// nonce, stored in the hash: the client library resends a command whose
// reply a network error lost, and a resent save (increments included) must
// not apply twice.
//
// An update reads the metadata and the old values of the incremented
// fields with one HMGET, writes every set field and the metadata with one
// HSET and removes fields with one HDEL. Like a read, it moves the idle
// expiry (m:seen and PEXPIREAT) only when touch-after ms have passed since
// the last refresh; a create always sets both.
//
// KEYS[1] session key. ARGV: now ms, idle ms, lifetime ms, mode ("c"
// create, "u" update), user ID ("" keeps it), clear ("1" removes every user
// field first), nset, ndel, nincr, nonce, touch-after ms, then nset
// field/value pairs, ndel fields, nincr field/delta pairs.
// Returns {1, incremented values...}, {0} gone, {-1, field} increment
// failed, {-2} ID taken.
var saveScript = redis.NewScript(`
local key = KEYS[1]
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local lifetime = tonumber(ARGV[3])
local create = ARGV[4] == 'c'
local clear = ARGV[6] == '1'
local nset, ndel, nincr = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local nonce = ARGV[10]
local setAt, delAt, incrAt = 12, 12 + 2*nset, 12 + 2*nset + ndel
local created
local touch = true
local old = {}
if create then
  if redis.call('EXISTS', key) == 1 then
    if redis.call('HGET', key, 'm:op') == nonce then return {1} end
    return {-2}
  end
  created = now
else
  local f = {'m:created', 'm:seen', 'm:op'}
  for i = incrAt, incrAt + 2*nincr - 1, 2 do f[#f+1] = ARGV[i] end
  local m = redis.call('HMGET', key, unpack(f))
  created = tonumber(m[1])
  local seen = tonumber(m[2])
  if not created or not seen or now >= created + lifetime or now >= seen + idle then return {0} end
  if m[3] == nonce then return {1} end
  touch = now - seen >= tonumber(ARGV[11])
  for k = 1, nincr do old[k] = m[3 + k] end
end
local out = {1}
for k = 1, nincr do
  local i = incrAt + 2*(k-1)
  local n = redis.pcall('HINCRBY', key, ARGV[i], ARGV[i+1])
  if type(n) == 'table' and n.err then
    for j = k - 1, 1, -1 do
      local fj = ARGV[incrAt + 2*(j-1)]
      if old[j] then redis.call('HSET', key, fj, old[j]) else redis.call('HDEL', key, fj) end
    end
    return {-1, ARGV[i]}
  end
  out[#out+1] = n
end
if clear then
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then redis.call('HDEL', key, f) end
  end
end
for i = delAt, incrAt - 1, 1000 do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + 999, incrAt - 1)))
end
-- one HSET for values and metadata; unpack in chunks (Lua's stack is bounded)
local w = {'m:op', nonce}
if touch then w[#w+1] = 'm:seen'; w[#w+1] = ARGV[1] end
if create then w[#w+1] = 'm:created'; w[#w+1] = ARGV[1] end
if ARGV[5] ~= '' then w[#w+1] = 'm:user'; w[#w+1] = ARGV[5] end
local last = delAt - 1
local i = setAt
if last - i + 1 <= 1000 then
  for j = i, last do w[#w+1] = ARGV[j] end
  i = last + 1
end
redis.call('HSET', key, unpack(w))
while i <= last do
  local e = math.min(i + 999, last)
  redis.call('HSET', key, unpack(ARGV, i, e))
  i = e + 1
end
if touch then
  redis.call('PEXPIREAT', key, string.format('%.0f', math.min(now + idle, created + lifetime)))
end
return out
`)

// indexScript adds a session ID to its user's set and makes the set live
// at least as long as that session can.
//
// KEYS[1] user set. ARGV: session ID, lifetime ms.
var indexScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// Replies of incrScript (first element) are saveOK, saveGone and
// saveNotInt.

// incrScript adds to one integer field of a session at once (IncrNow) and
// returns the sum Redis holds. Like an update by saveScript it never
// recreates a session that is gone or expired, and carries a nonce, so a
// call the client library resends after a lost reply applies once (the
// resent call returns the field as it is).
//
// KEYS[1] session key. ARGV: now ms, idle ms, lifetime ms, field, delta,
// nonce. Returns {1, sum}, {1, "sum"} for a resent call, {0} gone, {-1}
// the field is not an integer or the sum overflows.
var incrScript = redis.NewScript(`
local key = KEYS[1]
local now = tonumber(ARGV[1])
local m = redis.call('HMGET', key, 'm:created', 'm:seen', 'm:op')
local created, seen = tonumber(m[1]), tonumber(m[2])
if not created or not seen or now >= created + tonumber(ARGV[3]) or now >= seen + tonumber(ARGV[2]) then return {0} end
if m[3] == ARGV[6] then return {1, redis.call('HGET', key, ARGV[4])} end
local n = redis.pcall('HINCRBY', key, ARGV[4], ARGV[5])
if type(n) == 'table' and n.err then return {-1} end
redis.call('HSET', key, 'm:op', ARGV[6])
return {1, n}
`)
