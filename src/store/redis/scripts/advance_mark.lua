-- KEYS[1] m; ARGV[1] mark (ack|read|delivered), ARGV[2] seq → {previous, current}; never back, never past last
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local prev = tonumber(redis.call('HGET', KEYS[1], ARGV[1])) or 0
local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or 0
local cur = math.max(prev, math.min(tonumber(ARGV[2]), last))
if cur ~= prev then redis.call('HSET', KEYS[1], ARGV[1], cur) end
return {prev, cur}
