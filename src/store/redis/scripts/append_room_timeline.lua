-- Append a message to a room's timeline at most once per msgId (first_young.lua prepended).
-- KEYS[1] tm (hash: `last`, the roomSeq counter), KEYS[2] t (stream: id `<roomSeq>-0`, fields t, m),
-- KEYS[3] tx (zset msgId → roomSeq of the positions still kept)
-- ARGV[1] msgId, ARGV[2] time (ms), ARGV[3] now (ms), ARGV[4] maxEntries, ARGV[5] maxAge (ms), ARGV[6] keep
-- (ms: key TTL after the last append) → roomSeq (a retry answers the first one; never reused)
local tm, st, tx = KEYS[1], KEYS[2], KEYS[3]
local held = redis.call('ZSCORE', tx, ARGV[1])
if held then return tonumber(held) end
local seq = redis.call('HINCRBY', tm, 'last', 1)
redis.call('XADD', st, seq .. '-0', 't', ARGV[2], 'm', ARGV[1])
redis.call('ZADD', tx, seq, ARGV[1])
local oldest = tonumber(ARGV[3]) - tonumber(ARGV[5])
local head = redis.call('XRANGE', st, '-', '+', 'COUNT', 1)[1]
local cut = seq - tonumber(ARGV[4]) + 1
if tonumber(head[2][2]) < oldest then cut = math.max(cut, firstYoung(st, oldest, seq)) end
if cut > tonumber(string.match(head[1], '^(%d+)')) then
  redis.call('XTRIM', st, 'MINID', cut .. '-0')
  redis.call('ZREMRANGEBYSCORE', tx, '-inf', '(' .. cut)
end
redis.call('PEXPIRE', tm, ARGV[6])
redis.call('PEXPIRE', st, ARGV[6])
redis.call('PEXPIRE', tx, ARGV[6])
return seq
