-- Cluster mode, the lookup half of route.lua: the node channels live in other slots (sharded pub/sub),
-- so the caller SPUBLISHes (cluster/bus.ts). KEYS per user: p (the user's connections hash)
-- ARGV[1] this node → per key the other nodes holding an unexpired connection of the user
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for k = 1, #KEYS do
  local seen, nodes = {}, {}
  local flat = redis.call('HGETALL', KEYS[k])
  for i = 1, #flat, 2 do
    local node = string.match(flat[i], '^(.*)|[^|]*$')
    local exp = tonumber(string.match(flat[i + 1], '^(%d+)|'))
    if node ~= ARGV[1] and not seen[node] and exp > now then
      seen[node] = true
      nodes[#nodes + 1] = node
    end
  end
  out[k] = nodes
end
return out
