-- Publish payloads to the other nodes that hold each user (presence read inside Redis, so no stale
-- cache can misroute). KEYS per payload: p (the user's connections hash)
-- ARGV[1] this node, ARGV[2] channel prefix, then one payload per key
-- → per payload the number of other nodes it was published to
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for k = 1, #KEYS do
  local seen, n = {}, 0
  local flat = redis.call('HGETALL', KEYS[k])
  for i = 1, #flat, 2 do
    local node = string.match(flat[i], '^(.*)|[^|]*$')
    local exp = tonumber(string.match(flat[i + 1], '^(%d+)|'))
    if node ~= ARGV[1] and not seen[node] and exp > now then
      seen[node] = true
      redis.call('PUBLISH', ARGV[2] .. node, ARGV[k + 2])
      n = n + 1
    end
  end
  out[#out + 1] = n
end
return out
