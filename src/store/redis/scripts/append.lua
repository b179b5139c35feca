-- Append entries to inboxes, assigning each the next seq of its inbox (atomic across nodes), and keep the
-- inbox's conversation summaries up to date (apply_entry.lua, prepended with first_young and im_entries).
-- KEYS[1] write counter, KEYS[2] epoch (one Redis only: on a cluster it lives in another slot, and the
-- counter is that of the entries' slot), then per entry: m (marks hash), i (inbox stream), x (idempotency
-- key), c (summaries hash), ct (conversation times zset), ix (positions zset), p (the owner's connections
-- hash: read only, so the caller can publish the entry to the nodes holding the owner without a second
-- call — cluster/route_hints.ts)
-- ARGV[1] now (ms), ARGV[2] maxEntries, ARGV[3] maxAge (ms), ARGV[4] keep (ms: key TTL after the last
-- append), ARGV[5] dedup TTL (ms), ARGV[6] the calling node ('' = no route hints wanted: p is not read),
-- ARGV[7] maxConversations (a message that opens one more drops the least recent: store/conversations.ts
-- overCap), then per entry: time, json ref (n: the n-th json after the entries), idempotent ("1" or "0"), owner
-- (userId), then the distinct entry jsons (entries sharing one — a room message's members — name it once)
-- Returns {write counter, epoch or false, {seq...}, {{other node...}...}}; an idempotent entry already
-- appended answers its first seq negated (and changes nothing). The counter only grows: a node that sees it go back
-- knows Redis lost writes (restart from an older snapshot, failover to a lagging replica).
-- Order as in the memory engine: append, apply to the summaries, then trim (count and age) and forget
-- the positions of what was trimmed. A message (the hot path) trims by count inside its XADD (applying a
-- message reads nothing of the stream), and refreshes the key TTLs only when needed: the keys get
-- keep + keep/8 and are refreshed when the positions zset has less than keep left, the message opened a
-- conversation or the inbox is new, so every key still outlives the last append by ≥ keep with one PTTL
-- instead of five PEXPIREs per message. Events (edit, recall, delete, receipts) take the full path.
local now, maxEntries, maxAge = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keep, dedupTtl, maxConversations = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[7])
local ttl = keep + math.floor(keep / 8)
local oldest = now - maxAge
local clock = ARGV[6] == '' and 0 or redisNow()
-- Entries older than maxAge leave the stream and their positions the zset. The head is read on every
-- append: a cached "head is due at" would be wrong whenever times go back along the stream (a retried send
-- keeps its first attempt's time, node clocks differ), which the memory engine's front-first trim honours,
-- and after maxAge is lowered (review of 2026-12-02; tests in store_redis_age_test.ts).
local function trimByAge(st, ik, seq)
  local head = redis.call('XRANGE', st, '-', '+', 'COUNT', 1)[1]
  if not head or tonumber(head[2][2]) >= oldest then return end
  local cut = firstYoung(st, oldest, seq)
  redis.call('XTRIM', st, 'MINID', cut .. '-0')
  redis.call('ZREMRANGEBYSCORE', ik, '-inf', '(' .. cut)
end

-- While over maxConversations, the least recent conversation (`ct` scores are -seq: the last member) goes.
local function capConversations(ck, tk)
  while redis.call('HLEN', ck) > maxConversations do
    local oldest = redis.call('ZRANGE', tk, -1, -1)[1]
    if not oldest then return end
    redis.call('HDEL', ck, oldest)
    redis.call('ZREM', tk, oldest)
  end
end

local function refresh(mk, st, ck, tk, ik)
  redis.call('PEXPIRE', mk, ttl)
  redis.call('PEXPIRE', st, ttl)
  redis.call('PEXPIRE', ck, ttl)
  redis.call('PEXPIRE', tk, ttl)
  redis.call('PEXPIRE', ik, ttl)
end

local header = #KEYS % 7
local jsonBase = 7 + 4 * (#KEYS - header) / 7
-- each distinct json decoded once (read only: applying an entry builds new tables)
local decoded, bodies = {}, {}
local function entryOf(ref, json)
  if decoded[ref] == nil then decoded[ref] = decodeEntry(json) or false end
  return decoded[ref] or nil
end
local function bodyOf(ref, e)
  bodies[ref] = bodies[ref] or lastBody(e)
  return bodies[ref]
end
local out = {redis.call('INCRBY', KEYS[1], (#KEYS - header) / 7), header == 2 and redis.call('GET', KEYS[2])}
local seqs, routes = {}, {}
local k, a = header + 1, 8
while k <= #KEYS do
  local mk, st, xk, ck, tk, ik = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local json = ARGV[jsonBase + tonumber(ARGV[a + 1])]
  local seq = false
  if ARGV[a + 2] == '1' then
    local held = tonumber(redis.call('GET', xk))
    if held then seq = -held end
  end
  if not seq then
    seq = redis.call('HINCRBY', mk, 'last', 1)
    if seq == 1 then redis.call('HSETNX', mk, 'gen', string.format('%x', now)) end
    local e = entryOf(ARGV[a + 1], json)
    if e and isMessage(e) then
      local cut = seq - maxEntries + 1
      if cut > 1 then
        redis.call('XADD', st, 'MINID', '=', cut .. '-0', seq .. '-0', 't', ARGV[a], 'e', json)
      else
        redis.call('XADD', st, seq .. '-0', 't', ARGV[a], 'e', json)
      end
      local opened = applyMessage(ck, tk, ik, e, seq, ARGV[a + 3], bodyOf(ARGV[a + 1], e))
      if opened then capConversations(ck, tk) end
      if cut > 1 then redis.call('ZREMRANGEBYSCORE', ik, '-inf', '(' .. cut) end
      trimByAge(st, ik, seq)
      if seq == 1 or opened or redis.call('PTTL', ik) < keep then
        refresh(mk, st, ck, tk, ik)
      end
    else
      redis.call('XADD', st, seq .. '-0', 't', ARGV[a], 'e', json)
      applyEntry(ck, tk, ik, st, e, seq, ARGV[a + 3], oldest)
      local cut = seq - maxEntries + 1
      if cut > 1 then
        redis.call('XTRIM', st, 'MINID', cut .. '-0')
        redis.call('ZREMRANGEBYSCORE', ik, '-inf', '(' .. cut)
      end
      trimByAge(st, ik, seq)
      refresh(mk, st, ck, tk, ik)
    end
    if ARGV[a + 2] == '1' then redis.call('SET', xk, seq, 'PX', dedupTtl) end
  end
  seqs[#seqs + 1] = seq
  routes[#routes + 1] = ARGV[6] == '' and {} or otherNodes(KEYS[k + 6], ARGV[6], clock)
  k, a = k + 7, a + 4
end
out[3], out[4] = seqs, routes
return out
