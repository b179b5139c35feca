-- Keep messages once per app unless already kept (a retried send does not overwrite one). Concurrent
-- sends share one call (RedisIm's batcher; one call per slot on a Redis Cluster).
-- KEYS[i] a message hash; ARGV[3i-2] its json, ARGV[3i-1] time (ms), ARGV[3i] TTL (ms) → {1 saved | 0 kept}
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    out[i] = 0
  else
    redis.call('HSET', key, 'j', ARGV[3 * i - 2], 't', ARGV[3 * i - 1])
    redis.call('PEXPIRE', key, ARGV[3 * i])
    out[i] = 1
  end
end
return out
