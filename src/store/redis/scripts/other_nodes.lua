-- Shared by route, route_nodes and append (prepended): the nodes other than `self` that hold an unexpired
-- connection in a user's connections hash `pk` (fields `<node>|<conn>`, values `<expiryMs>|<json>`),
-- each once, at Redis time `now` (ms).
local function otherNodes(pk, self, now)
  local seen, nodes = {}, {}
  local flat = redis.call('HGETALL', pk)
  for i = 1, #flat, 2 do
    local node = string.match(flat[i], '^(.*)|[^|]*$')
    local exp = tonumber(string.match(flat[i + 1], '^(%d+)|'))
    if node ~= self and not seen[node] and exp > now then
      seen[node] = true
      nodes[#nodes + 1] = node
    end
  end
  return nodes
end

-- Redis time (ms).
local function redisNow()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
