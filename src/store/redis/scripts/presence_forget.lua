-- Cluster mode, the user's half of remove_presence.lua: forget one connection and say what the app and
-- user-apps indexes (other slots, written by plain commands in cluster/presence.ts) must become.
-- KEYS[1] p (the user's connections hash); ARGV[1] field (node|conn)
-- → {1 when no unexpired connection is left else 0, newest heartbeat, newest expiry}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HDEL', KEYS[1], ARGV[1])
local hb, exp = newestOf(KEYS[1])
if exp <= now then return {1, 0, 0} end
return {0, hb, exp}
