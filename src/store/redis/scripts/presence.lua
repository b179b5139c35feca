-- KEYS[1] p (a user's connections hash) → presence json of its unexpired connections
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local bar = string.find(v, '|', 1, true)
  if tonumber(string.sub(v, 1, bar - 1)) > now then out[#out + 1] = string.sub(v, bar + 1) end
end
return out
