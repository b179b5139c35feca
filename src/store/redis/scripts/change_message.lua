-- Edit or recall a kept message (its TTL stays). KEYS[1] the message hash; ARGV[1] oldest (ms: an older
-- message is gone), then field/value pairs (msg, editedAt | recalledAt, recalledBy)
-- → {j, msg, editedAt, recalledAt, recalledBy} as now, or false when unknown
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if not t or t < tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return redis.call('HMGET', KEYS[1], 'j', 'msg', 'editedAt', 'recalledAt', 'recalledBy')
