-- Unread messages over all conversations of inboxes (concurrent logins share one call: inbox_reads.ts).
-- KEYS[k] c (summaries hash) of inbox k → {total...}
local out = {}
for k, key in ipairs(KEYS) do
  local n = 0
  for _, json in ipairs(redis.call('HVALS', key)) do n = n + cjson.decode(json).unread end
  out[k] = n
end
return out
