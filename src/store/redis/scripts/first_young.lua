-- Shared by head/range scripts (prepended): seq of the first entry younger than `oldest` in stream
-- `st`, or last + 1 when there is none.
local function firstYoung(st, oldest, last)
  local start = '-'
  for _ = 1, 64 do
    local page = redis.call('XRANGE', st, start, '+', 'COUNT', 64)
    if #page == 0 then return last + 1 end
    for _, e in ipairs(page) do
      if tonumber(e[2][2]) >= oldest then return tonumber(string.match(e[1], '^(%d+)')) end
    end
    start = '(' .. page[#page][1]
  end
  return last + 1
end
