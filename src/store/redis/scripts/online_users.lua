-- KEYS[1] pu (user → newest heartbeat), KEYS[2] pe (user → newest expiry) of one app;
-- ARGV[1] oldest heartbeat counted ('-inf' for any) → users with a fresh heartbeat and unexpired presence
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  local e = redis.call('ZSCORE', KEYS[2], u)
  if e and tonumber(e) > now then out[#out + 1] = u end
end
return out
