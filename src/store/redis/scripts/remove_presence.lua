-- Forget one connection of a user.
-- KEYS[1] p (the user's connections hash), KEYS[2] pu, KEYS[3] pe (the app's zsets), KEYS[4] ua (the
-- user's apps), KEYS[5] nc (the owning node's connections hash)
-- ARGV[1] app, ARGV[2] user, ARGV[3] node, ARGV[4] conn → 1 when the user has no unexpired connection left
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pk, pu, pe, ua, nc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local app, user = ARGV[1], ARGV[2]
redis.call('HDEL', pk, ARGV[3] .. '|' .. ARGV[4])
redis.call('HDEL', nc, app .. '|' .. ARGV[4])
local hb, exp = newestOf(pk)
if exp <= now then
  redis.call('ZREM', pu, user)
  redis.call('ZREM', pe, user)
  redis.call('ZREM', ua, app)
  return 1
end
redis.call('ZADD', pu, 'XX', hb, user)
redis.call('ZADD', pe, 'XX', exp, user)
redis.call('ZADD', ua, 'XX', exp, app)
return 0
