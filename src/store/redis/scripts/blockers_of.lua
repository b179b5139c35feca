-- KEYS: the blocked-users sets of candidates; ARGV[1] the sender → per key 1 when it holds the sender
local out = {}
for i = 1, #KEYS do out[i] = redis.call('SISMEMBER', KEYS[i], ARGV[1]) end
return out
