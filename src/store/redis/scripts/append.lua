-- Append entries to inboxes, assigning each the next seq of its inbox (atomic across nodes).
-- KEYS[1] write counter, KEYS[2] epoch, then per entry: m (marks hash), i (inbox stream), x (idempotency key)
-- ARGV[1] now (ms), ARGV[2] maxEntries, ARGV[3] maxAge (ms), ARGV[4] keep (ms: key TTL after the last
-- append), ARGV[5] dedup TTL (ms), then per entry: time, json, idempotent ("1" or "0")
-- Returns {write counter, epoch or false, seq...}; an idempotent entry already appended answers its first
-- seq negated. The counter only grows: a node that sees it go back
-- knows Redis lost writes (restart from an older snapshot, failover to a lagging replica).
local now, maxEntries, maxAge = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local keep, dedupTtl = ARGV[4], ARGV[5]
local oldest = now - maxAge
local out = {redis.call('INCRBY', KEYS[1], (#KEYS - 2) / 3), redis.call('GET', KEYS[2])}
local k, a = 3, 6
while k <= #KEYS do
  local mk, st, xk = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local seq = false
  if ARGV[a + 2] == '1' then
    local held = tonumber(redis.call('GET', xk))
    if held then seq = -held end
  end
  if not seq then
    seq = redis.call('HINCRBY', mk, 'last', 1)
    if seq == 1 then redis.call('HSETNX', mk, 'gen', string.format('%x', now)) end
    redis.call('XADD', st, 'MAXLEN', maxEntries, seq .. '-0', 't', ARGV[a], 'e', ARGV[a + 1])
    local head = redis.call('XRANGE', st, '-', '+', 'COUNT', 1)
    if tonumber(head[1][2][2]) < oldest then
      redis.call('XTRIM', st, 'MINID', firstYoung(st, oldest, seq) .. '-0')
    end
    redis.call('PEXPIRE', st, keep)
    redis.call('PEXPIRE', mk, keep)
    if ARGV[a + 2] == '1' then redis.call('SET', xk, seq, 'PX', dedupTtl) end
  end
  out[#out + 1] = seq
  k, a = k + 3, a + 3
end
return out
