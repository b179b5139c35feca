-- What logins read of their inboxes, in one call (concurrent logins share it: inbox_reads.ts; one call per
-- slot on a cluster): head.lua's head, the delivered and ack marks, unread_total.lua's total.
-- KEYS[3k-2] m, KEYS[3k-1] i, KEYS[3k] c of inbox k; ARGV[3k-2] oldest (ms), ARGV[3k-1] now (ms),
-- ARGV[3k] keep (ms) → {{firstSeq, lastSeq, generation, delivered, ack, unread}...}. The first look
-- creates the inbox's generation, as head.lua does.
local out = {}
for k = 1, #KEYS / 3 do
  local mk, st, ck, a = KEYS[3 * k - 2], KEYS[3 * k - 1], KEYS[3 * k], 3 * k - 2
  if redis.call('EXISTS', mk) == 0 then
    redis.call('HSET', mk, 'last', 0, 'gen', string.format('%x', tonumber(ARGV[a + 1])))
    redis.call('PEXPIRE', mk, ARGV[a + 2])
  end
  local m = redis.call('HMGET', mk, 'last', 'gen', 'delivered', 'ack')
  local last = tonumber(m[1]) or 0
  local unread = 0
  for _, json in ipairs(redis.call('HVALS', ck)) do unread = unread + cjson.decode(json).unread end
  out[k] = {firstYoung(st, tonumber(ARGV[a]), last), last, m[2] or '', tonumber(m[3]) or 0, tonumber(m[4]) or 0,
    unread}
end
return out
