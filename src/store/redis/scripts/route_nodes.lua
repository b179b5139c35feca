-- Cluster mode, the lookup half of route.lua: the node channels live in other slots (sharded pub/sub),
-- so the caller SPUBLISHes (cluster/bus.ts). KEYS per user: p (the user's connections hash)
-- ARGV[1] this node → per key the other nodes holding an unexpired connection of the user
local now = redisNow()
local out = {}
for k = 1, #KEYS do out[k] = otherNodes(KEYS[k], ARGV[1], now) end
return out
