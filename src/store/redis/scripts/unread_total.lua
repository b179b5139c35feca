-- KEYS[1] c (summaries hash) → unread messages over all conversations
local n = 0
for _, json in ipairs(redis.call('HVALS', KEYS[1])) do n = n + cjson.decode(json).unread end
return n
