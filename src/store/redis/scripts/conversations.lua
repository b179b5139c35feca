-- A page of conversations, newest first. KEYS[1] c (summaries hash), KEYS[2] ct (zset id → -seq of the
-- newest message); ARGV[1] lowest score ('-inf', or '(' .. -before: `before` is an exclusive seq), ARGV[2] limit
-- → {more (0|1), id, summary json, ...}
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGE', KEYS[2], ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, limit + 1)
local out = {0}
if #ids > limit then
  out[1] = 1
  ids[#ids] = nil
end
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[1], id)
  if json then
    out[#out + 1] = id
    out[#out + 1] = json
  end
end
return out
