-- Keep a message once per app unless already kept (a retried send does not overwrite it).
-- KEYS[1] the message hash; ARGV[1] json, ARGV[2] time (ms), ARGV[3] TTL (ms) → 1 when saved
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 't', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
