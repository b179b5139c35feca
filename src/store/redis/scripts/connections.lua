-- Shared by the presence scripts (prepended): readings of a user's connections hash `pk` (fields
-- `<node>|<conn>`, values `<expiryMs>|<presence json>`) at Redis time `now` (ms).

-- True when a connection other than `field` has not expired.
local function othersLive(pk, field, now)
  local flat = redis.call('HGETALL', pk)
  for i = 1, #flat, 2 do
    if flat[i] ~= field then
      local bar = string.find(flat[i + 1], '|', 1, true)
      if tonumber(string.sub(flat[i + 1], 1, bar - 1)) > now then return true end
    end
  end
  return false
end

-- The newest heartbeat and the newest expiry among the connections (0, 0 when none).
local function newestOf(pk)
  local hb, exp = 0, 0
  for _, v in ipairs(redis.call('HVALS', pk)) do
    local bar = string.find(v, '|', 1, true)
    local e = tonumber(string.sub(v, 1, bar - 1))
    local h = cjson.decode(string.sub(v, bar + 1)).heartbeatAt or 0
    if e > exp then exp = e end
    if h > hb then hb = h end
  end
  return hb, exp
end
