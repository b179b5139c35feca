-- KEYS[1] m, KEYS[2] i; ARGV[1] oldest (ms), ARGV[2] beforeSeq, ARGV[3] limit → entries newest first
local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or 0
local first = firstYoung(KEYS[2], tonumber(ARGV[1]), last)
-- Clamp before any formatting: Lua numbers are doubles and a huge `before` would print as 9.0e+15.
local before = math.min(tonumber(ARGV[2]), last + 1)
if before <= first then return {} end
return redis.call('XREVRANGE', KEYS[2], string.format('(%d-0', before), string.format('%d-0', first), 'COUNT', ARGV[3])
