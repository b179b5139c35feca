-- Edit or recall a kept message atomically (its TTL stays). KEYS[1] the message hash; ARGV[1] oldest (ms:
-- an older message is gone), then field/value pairs (msg, editedAt | recalledAt, recalledBy).
-- A recall is final (nothing changes a recalled message); an edit's editedAt is its version, raised to one
-- past the previous edit's when not later, so versions strictly increase whatever the nodes' clocks.
-- → {j, msg, editedAt, recalledAt, recalledBy} as now, or false when unknown
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if not t or t < tonumber(ARGV[1]) then return false end
if not redis.call('HGET', KEYS[1], 'recalledAt') then
  if ARGV[2] == 'msg' then
    local previous = tonumber(redis.call('HGET', KEYS[1], 'editedAt'))
    local version = tonumber(ARGV[5])
    if previous and version <= previous then version = previous + 1 end
    redis.call('HSET', KEYS[1], 'msg', ARGV[3], 'editedAt', string.format('%d', version))
  else
    redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  end
end
return redis.call('HMGET', KEYS[1], 'j', 'msg', 'editedAt', 'recalledAt', 'recalledBy')
