-- Heads of inboxes (concurrent logins share one call: inbox_reads.ts; one call per slot on a cluster).
-- KEYS[2k-1] m, KEYS[2k] i of inbox k; ARGV[3k-2] oldest (ms), ARGV[3k-1] now (ms), ARGV[3k] keep (ms)
-- → {{firstSeq, lastSeq, generation}...}. The first look creates the inbox's generation, so its epoch
-- holds from the first login on.
local out = {}
for k = 1, #KEYS / 2 do
  local mk, st, a = KEYS[2 * k - 1], KEYS[2 * k], 3 * k - 2
  if redis.call('EXISTS', mk) == 0 then
    redis.call('HSET', mk, 'last', 0, 'gen', string.format('%x', tonumber(ARGV[a + 1])))
    redis.call('PEXPIRE', mk, ARGV[a + 2])
  end
  local last = tonumber(redis.call('HGET', mk, 'last')) or 0
  local gen = redis.call('HGET', mk, 'gen') or ''
  out[k] = {firstYoung(st, tonumber(ARGV[a]), last), last, gen}
end
return out
