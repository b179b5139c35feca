-- Move read positions (markRead of store/conversations.ts; im_entries.lua prepended).
-- KEYS[1] m (marks hash: `last`), KEYS[2] i (inbox stream), KEYS[3] c (summaries hash), KEYS[4] ix
-- (positions zset); ARGV[1] owner, ARGV[2] conversation id ('' for every conversation), ARGV[3] seq,
-- ARGV[4] oldest (ms: older entries no longer count)
-- → flat {id, previous, readSeq, unread, ...} of the conversations whose read position moved. Never back,
-- capped at the inbox head; unread is recounted from the entries after the new position (live messages
-- of the conversation from someone else).
local mk, st, ck, ik = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local owner, oldest = ARGV[1], tonumber(ARGV[4])
if redis.call('EXISTS', mk) == 0 then return {} end
local target = math.min(tonumber(ARGV[3]), tonumber(redis.call('HGET', mk, 'last')) or 0)
local flat
if ARGV[2] == '' then
  flat = redis.call('HGETALL', ck)
else
  local json = redis.call('HGET', ck, ARGV[2])
  flat = json and {ARGV[2], json} or {}
end
local moved, order = {}, {}
for i = 1, #flat, 2 do
  local s = cjson.decode(flat[i + 1])
  if target > s.readSeq then
    moved[flat[i]] = {s = s, previous = s.readSeq, unread = 0}
    order[#order + 1] = flat[i]
    s.readSeq = target
  end
end
if #order == 0 then return {} end
local start = string.format('%d-0', target + 1)
while true do
  local page = redis.call('XRANGE', st, start, '+', 'COUNT', 256)
  for _, item in ipairs(page) do
    if tonumber(item[2][2]) >= oldest then
      local e = decodeEntry(item[2][4])
      if e and isMessage(e) and str(e.from) ~= owner then
        local c = moved[convOf(e, owner)]
        if c and not isDead(ik, e.msgId) then c.unread = c.unread + 1 end
      end
    end
  end
  if #page < 256 then break end
  start = '(' .. page[#page][1]
end
local out = {}
for _, id in ipairs(order) do
  local c = moved[id]
  c.s.unread = c.unread
  redis.call('HSET', ck, id, cjson.encode(c.s))
  out[#out + 1] = id
  out[#out + 1] = c.previous
  out[#out + 1] = target
  out[#out + 1] = c.unread
end
return out
