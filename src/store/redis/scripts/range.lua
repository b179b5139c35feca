-- Entries of inboxes after a seq (concurrent reads share one call: inbox_reads.ts; one per slot on a
-- cluster). KEYS[2k-1] m, KEYS[2k] i of read k; ARGV[3k-2] oldest (ms), ARGV[3k-1] afterSeq, ARGV[3k]
-- limit → {{entries oldest first}...}
local out = {}
for k = 1, #KEYS / 2 do
  local mk, st, a = KEYS[2 * k - 1], KEYS[2 * k], 3 * k - 2
  local last = tonumber(redis.call('HGET', mk, 'last')) or 0
  local from = math.max(tonumber(ARGV[a + 1]) + 1, firstYoung(st, tonumber(ARGV[a]), last))
  if from > last then
    out[k] = {}
  else
    out[k] = redis.call('XRANGE', st, string.format('%d-0', from), '+', 'COUNT', ARGV[a + 2])
  end
end
return out
