-- Cluster mode, the user's half of upsert_presence.lua (the app, user-apps and node indexes live in other
-- slots and are written by plain commands afterwards, cluster/presence.ts).
-- KEYS per connection: p (the user's connections hash), m (the user's inbox marks hash)
-- ARGV[1] ttl (ms), ARGV[2] keep (ms, inbox counter TTL), then per connection: field (node|conn), json
-- Returns per connection {1 when it is the user's first unexpired connection else 0, expiry (ms)}, flat.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local exp = now + ttl
local out = {}
local a = 3
for k = 1, #KEYS, 2 do
  local pk, mk, field = KEYS[k], KEYS[k + 1], ARGV[a]
  local first = othersLive(pk, field, now) and 0 or 1
  redis.call('HSET', pk, field, exp .. '|' .. ARGV[a + 1])
  redis.call('PEXPIRE', pk, ttl * 2)
  if redis.call('EXISTS', mk) == 1 then redis.call('PEXPIRE', mk, ARGV[2]) end
  out[#out + 1] = first
  out[#out + 1] = exp
  a = a + 2
end
return out
