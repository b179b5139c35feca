-- Publish payloads to the other nodes that hold each user (presence read inside Redis, so no stale
-- cache can misroute). KEYS per payload: p (the user's connections hash)
-- ARGV[1] this node, ARGV[2] channel prefix, then one payload per key
-- → per payload the number of other nodes it was published to
local now = redisNow()
local out = {}
for k = 1, #KEYS do
  local nodes = otherNodes(KEYS[k], ARGV[1], now)
  for _, node in ipairs(nodes) do redis.call('PUBLISH', ARGV[2] .. node, ARGV[k + 2]) end
  out[#out + 1] = #nodes
end
return out
