package redis

import "github.com/redis/go-redis/v9"

// Every script touches exactly KEYS[1] (Redis Cluster safe) and receives the
// injected clock's time in ms as ARGV[1]. The prelude leaves in v the stored
// string if it is live by that clock, else false; a string that is not in
// format v1 (value.go) raises an error instead of being overwritten.
const prelude = `
local now = tonumber(ARGV[1])
local v = redis.call('GET', KEYS[1])
if v then
  if #v < 10 or string.byte(v, 1) ~= 1 then
    error('storage: unknown stored value format')
  end
  local exp = 0
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

	// consumeScript sets the used flag, keeping the TTL, and returns the
	// stored string as it was before (so the caller sees whether it was
	// already used); nil if there is no live value.
	consumeScript = redis.NewScript(prelude + `
if not v then return false end
if not used then redis.call('SETRANGE', KEYS[1], 1, '\1') end
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
