package redis

import "github.com/redis/go-redis/v9"

// Every script touches exactly KEYS[1] (Redis Cluster safe) and receives the
// injected clock's time in ms as ARGV[1]. The prelude leaves in v the stored
// string if it is live by that clock, else false; a string that is not in
// format v1 (value.go) raises an error instead of being overwritten.
const prelude = `
local now = tonumber(ARGV[1])
local v = redis.call('GET', KEYS[1])
local exp = 0
if v then
  if #v < 10 or string.byte(v, 1) ~= 1 then
    error('storage: unknown stored value format')
  end
  for i = 3, 10 do exp = exp * 256 + string.byte(v, i) end
  if exp <= now then v = false end
end
local used = v and string.byte(v, 2) % 2 == 1
`

var (
	// createScript: ARGV[2] stored value, ARGV[3] GC TTL (ms). Returns 1
	// if stored, 0 if a live value exists (expired ones are replaced).
	createScript = redis.NewScript(prelude + `
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

	// consumeScript sets the used flag (bit 0 of the flags, clear while
	// unused), keeping the TTL and the state, and returns the
	// stored string as it was before (so the caller sees whether it was
	// already used); nil if there is no live value.
	consumeScript = redis.NewScript(prelude + `
if not v then return false end
if not used then redis.call('SETRANGE', KEYS[1], 1, string.char(string.byte(v, 2) + 1)) end
return v
`)

	// swapScript: ARGV[2] expected current value, ARGV[3] new stored value,
	// ARGV[4] GC TTL (ms). Returns 0 not found, 1 used, 2 conflict, 3 swapped.
	swapScript = redis.NewScript(prelude + `
if not v then return 0 end
if used then return 1 end
if string.sub(v, 11) ~= ARGV[2] then return 2 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 3
`)

	// advanceScript: ARGV[2] the set of states to step from (bit s = state
	// s), ARGV[3] the new state, ARGV[4] the event to append, ARGV[5] the
	// expiry to extend to (ms), ARGV[6] its GC TTL (ms). The state is the
	// flags byte's high nibble. Returns the stored string as it was before
	// (the caller reads from it whether the step was taken); nil if there is
	// no live value. The new string is written whole: APPEND and SETRANGE
	// would leave Redis' growth reserve (up to the string's size again) in
	// memory for the rest of the key's life.
	advanceScript = redis.NewScript(prelude + `
if not v or used then return v end
local flags = string.byte(v, 2)
local st = math.floor(flags / 16)
if math.floor(tonumber(ARGV[2]) / 2 ^ st) % 2 == 0 then return v end
local head = string.char(1, flags % 16 + 16 * tonumber(ARGV[3]))
local ext = tonumber(ARGV[5])
if ext > exp then
  local b = {}
  for i = 8, 1, -1 do b[i] = ext % 256; ext = math.floor(ext / 256) end
  redis.call('SET', KEYS[1], head .. string.char(unpack(b)) .. string.sub(v, 11) .. ARGV[4], 'PX', ARGV[6])
else
  redis.call('SET', KEYS[1], head .. string.sub(v, 3) .. ARGV[4], 'KEEPTTL')
end
return v
`)

	// incrScript: ARGV[2] header of a new window, ARGV[3] its GC TTL (ms).
	// Returns the new count; a live window keeps its header (end) and TTL.
	incrScript = redis.NewScript(prelude + `
if v then
  local n = tonumber(string.sub(v, 11))
  if not n then error('storage: stored value is not a counter') end
  n = n + 1
  redis.call('SET', KEYS[1], string.sub(v, 1, 10) .. string.format('%d', n), 'KEEPTTL')
  return n
end
redis.call('SET', KEYS[1], ARGV[2] .. '1', 'PX', ARGV[3])
return 1
`)
)

// Swap results.
const (
	swapNotFound = 0
	swapUsed     = 1
	swapConflict = 2
	swapDone     = 3
)
