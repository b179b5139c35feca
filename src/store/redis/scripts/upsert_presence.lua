-- Write (or rewrite after a Redis restart) the presence of a batch of connections and keep the inbox
-- counters of connected users alive.
-- KEYS per connection: p (the user's connections hash), pu, pe (the app's user zsets), ua (the user's
-- apps zset), nc (the node's connections hash), m (the user's inbox marks hash)
-- ARGV[1] ttl (ms), ARGV[2] keep (ms, inbox counter TTL), then per connection: app, user, node, conn,
-- heartbeatAt, json
-- Returns per connection 1 when it is the user's first unexpired connection, else 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local exp = now + ttl
local out = {}
local k, a = 1, 3
while k <= #KEYS do
  local pk, pu, pe, ua, nc, mk = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local app, user, node, conn, hb, json = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local field = node .. '|' .. conn
  local first = othersLive(pk, field, now) and 0 or 1
  redis.call('HSET', pk, field, exp .. '|' .. json)
  redis.call('PEXPIRE', pk, ttl * 2)
  redis.call('ZADD', pu, 'GT', hb, user)
  redis.call('ZADD', pe, 'GT', exp, user)
  redis.call('ZADD', ua, 'GT', exp, app)
  redis.call('PEXPIRE', ua, ttl * 2)
  redis.call('HSET', nc, app .. '|' .. conn, user)
  if redis.call('EXISTS', mk) == 1 then redis.call('PEXPIRE', mk, ARGV[2]) end
  out[#out + 1] = first
  k, a = k + 6, a + 6
end
return out
