-- Shared by the append and mark_read scripts (prepended): how an inbox entry is read and which
-- conversation it belongs to, the same rules as store/conversations.ts and protocol/pushes.ts.
-- Positions zset `ix` (score = inbox seq): 'm:<msgId>' a message entry still in the inbox, 'd:<msgId>'
-- a message recalled or deleted for the owner (score: the message's seq, or the event's when the message
-- is not in this inbox), 'h:<msgId>' deleted for the owner (score: the delete event's seq). Trimming the
-- stream drops every member scored below the new first seq with one ZREMRANGEBYSCORE.

-- JSON.stringify escapes lone surrogates (\ud800), which cjson refuses: replace them by \ufffd.
local function wellFormed(json)
  local out, from, pos = {}, 1, 1
  while true do
    local s = string.find(json, '\\', pos, true)
    if not s then break end
    pos = s + 2
    if string.sub(json, s + 1, s + 1) == 'u' then
      local v = tonumber(string.sub(json, s + 2, s + 5), 16) or 0
      pos = s + 6
      if v >= 0xD800 and v <= 0xDFFF then
        local w = 0
        if v <= 0xDBFF and string.sub(json, s + 6, s + 7) == '\\u' then
          w = tonumber(string.sub(json, s + 8, s + 11), 16) or 0
        end
        if w >= 0xDC00 and w <= 0xDFFF then
          pos = s + 12
        else
          out[#out + 1] = string.sub(json, from, s - 1)
          out[#out + 1] = '\\ufffd'
          from = s + 6
        end
      end
    end
  end
  out[#out + 1] = string.sub(json, from)
  return table.concat(out)
end

-- An entry (json from the TypeScript side) as a table, or nil when it cannot be read.
local function decodeEntry(json)
  local ok, e = pcall(cjson.decode, json)
  if not ok then ok, e = pcall(cjson.decode, wellFormed(json)) end
  if ok and type(e) == 'table' then return e end
  return nil
end

local function str(v)
  if type(v) == 'string' then return v end
  return ''
end

-- conversationOf (protocol/pushes.ts): 'u:<peer>', 'r:<room>' or '' for none.
local function convOf(e, owner)
  local target, from, to, by = str(e.target), str(e.from), str(e.to), str(e.by)
  if target ~= '' then return 'r:' .. target end
  if e.kind == 'read' or e.kind == 'delivered' then
    if by ~= '' then return 'u:' .. by end
    return ''
  end
  if from == '' then return '' end
  if from ~= owner then return 'u:' .. from end
  if to ~= '' and to ~= owner then return 'u:' .. to end
  return ''
end

local function isMessage(e)
  return e.kind == nil or e.kind == 'msg'
end

local function isDead(ik, msgId)
  return redis.call('ZSCORE', ik, 'd:' .. str(msgId)) ~= false
end

local function seqOf(id)
  return tonumber(string.match(id, '^(%d+)'))
end
