-- Prepended to append.lua (after im_entries.lua): applyEntry of store/conversations.ts on Redis keys.
-- Summaries hash `c`: conversation id → cjson {time, seq, readSeq, unread, last = {msgId, seq, from, type,
-- time, msg, editedAt, recalled, kept}}; zset `ct`: conversation id → -seq of its newest message (ascending
-- order = newest first; seqs are unique in an inbox); positions zset `ix` (im_entries.lua).

-- Entries a deleted last message's replacement is looked for in, newest first: pages of 4 (the
-- previous message is usually close), then of 64, at most 4096 entries.
local PREVIOUS_PAGES, PAGE = 65, 64

local function lastOf(e, seq)
  return {msgId = str(e.msgId), seq = seq, from = str(e.from), type = str(e.type), time = tonumber(e.time) or 0,
    msg = str(e.msg)}
end

-- lastOf(e) without its seq (a nil seq leaves the key out), as JSON: encoded once per message and shared by
-- every inbox it goes to.
local function lastBody(e)
  return cjson.encode(lastOf(e, nil))
end

-- A summary as a message writes it: its numbers first, in this order, so the conversation's next message
-- reads them with one anchored match instead of decoding the JSON (the last message's text included).
-- Summaries written by the other paths (cjson's own key order) are decoded.
local SUMMARY_NUMBERS = '^{"time":(%d+),"seq":%d+,"readSeq":(%d+),"unread":(%d+),"last":'

local function summaryNumbers(json)
  local time, readSeq, unread = string.match(json, SUMMARY_NUMBERS)
  if time then return tonumber(time), tonumber(readSeq), tonumber(unread) end
  local s = cjson.decode(json)
  return s.time, s.readSeq, s.unread
end

local function loadSummary(ck, conv)
  local json = redis.call('HGET', ck, conv)
  if not json then return nil end
  return cjson.decode(json)
end

local function saveSummary(ck, conv, s)
  redis.call('HSET', ck, conv, cjson.encode(s))
end

-- The newest live message of `conv` with seq < `before` (not older than `oldest`), and its seq.
local function previousLive(st, ik, conv, owner, before, oldest)
  local high, count = '(' .. before .. '-0', 4
  for _ = 1, PREVIOUS_PAGES do
    local page = redis.call('XREVRANGE', st, high, '-', 'COUNT', count)
    for _, item in ipairs(page) do
      if tonumber(item[2][2]) >= oldest then
        local e = decodeEntry(item[2][4])
        if e and isMessage(e) and convOf(e, owner) == conv and not isDead(ik, e.msgId) then
          return e, seqOf(item[1])
        end
      end
    end
    if #page < count then return nil end
    high, count = '(' .. page[#page][1], PAGE
  end
  return nil
end

-- One appended message `e` (at `seq`, `body` = lastBody(e)) of `owner`'s inbox → true when it opened a
-- conversation (the summary or its place in `ct` is new: append.lua then gives the keys their TTL). The
-- summary written is what cjson would make of {time, seq, readSeq, unread, last = lastOf(e, seq)}.
local function applyMessage(ck, tk, ik, e, seq, owner, body)
  local conv = convOf(e, owner)
  if conv == '' then return false end
  local time = tonumber(e.time) or 0
  local json = redis.call('HGET', ck, conv)
  local opened = not json
  local since, readSeq, unread = time, 0, 0
  if json then since, readSeq, unread = summaryNumbers(json) end
  if str(e.from) ~= owner then unread = unread + 1 end
  redis.call('HSET', ck, conv, '{"time":' .. math.max(since, time) .. ',"seq":' .. seq .. ',"readSeq":' .. readSeq ..
    ',"unread":' .. unread .. ',"last":{"seq":' .. seq .. ',' .. string.sub(body, 2) .. '}')
  if redis.call('ZADD', tk, -seq, conv) == 1 then opened = true end
  redis.call('ZADD', ik, seq, 'm:' .. str(e.msgId))
  return opened
end

-- One appended entry `e` (decoded; nil when unreadable; already in stream `st` at `seq`) of `owner`'s inbox.
local function applyEntry(ck, tk, ik, st, e, seq, owner, oldest)
  if not e then return end
  if isMessage(e) then
    applyMessage(ck, tk, ik, e, seq, owner, lastBody(e))
    return
  end
  local ref = str(e.ref)
  if e.kind == 'delete' and ref ~= '' then redis.call('ZADD', ik, seq, 'h:' .. ref) end
  local conv = convOf(e, owner)
  if conv == '' then return end
  local time = tonumber(e.time) or 0
  if e.kind == 'edit' then
    local s = loadSummary(ck, conv)
    -- edit events may arrive out of version order (two devices at once): the highest editedAt wins
    if s and s.last and s.last.msgId == ref and not s.last.recalled and time > (s.last.editedAt or -1) then
      s.last.msg = str(e.msg)
      s.last.editedAt = time
      saveSummary(ck, conv, s)
    end
    return
  end
  if (e.kind ~= 'recall' and e.kind ~= 'delete') or isDead(ik, ref) then return end
  local s = loadSummary(ck, conv)
  -- A tombstone of a message recalled when it was no longer in the inbox stays dead (`kept`): the memory
  -- engine never forgets such a msgId, and this is the only place where remembering it shows.
  if s and s.last and s.last.msgId == ref and s.last.kept then return end
  local pos = tonumber(redis.call('ZSCORE', ik, 'm:' .. ref))
  redis.call('ZADD', ik, pos or seq, 'd:' .. ref)
  if not s then return end
  local changed = false
  if pos and pos > s.readSeq then
    local found = redis.call('XRANGE', st, pos .. '-0', pos .. '-0')
    local m = found[1] and decodeEntry(found[1][2][4])
    if m and str(m.from) ~= owner then
      s.unread = math.max(0, s.unread - 1)
      changed = true
    end
  end
  if s.last and s.last.msgId == ref then
    changed = true
    if e.kind == 'recall' then
      s.last.msg = nil
      s.last.recalled = true
      if not pos then s.last.kept = true end
    else
      local p, pseq = previousLive(st, ik, conv, owner, s.last.seq, oldest)
      s.last = p and lastOf(p, pseq) or nil
    end
  end
  if changed then saveSummary(ck, conv, s) end
end
