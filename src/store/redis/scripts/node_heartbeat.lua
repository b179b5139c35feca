-- KEYS[1] nodes (zset node → registration expiry); ARGV[1] node, ARGV[2] ttl (ms)
-- → nodes whose registration expired
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
