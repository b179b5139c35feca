-- KEYS[1] epoch; ARGV[1] the epoch the caller believes in, ARGV[2] a new one → the epoch now.
-- Compare-and-set: when several nodes detect a rollback at once, the first rotation wins.
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return cur
