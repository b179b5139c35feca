-- KEYS[1] m, KEYS[2] i; ARGV[1] oldest (ms), ARGV[2] now (ms), ARGV[3] keep (ms)
-- → {firstSeq, lastSeq, generation}. The first look creates the inbox's generation, so its epoch holds
-- from the first login on.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'last', 0, 'gen', string.format('%x', tonumber(ARGV[2])))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or 0
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
return {firstYoung(KEYS[2], tonumber(ARGV[1]), last), last, gen}
