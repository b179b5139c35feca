/**
 * Lua scripts of the Redis store, registry and bus. Each runs atomically inside Redis, so seq
 * assignment, presence bookkeeping and routing never race across nodes. Keys are built inside
 * the scripts from a prefix (ARGV[1]): fine for a single Redis (or a replicated primary), not
 * for Redis Cluster sharding — documented in docs/CLUSTER.md.
 *
 * Key layout (P = prefix):
 * - `P p:<app>:<user>` hash `<node>|<conn>` → `<expMs>|<presence json>`
 * - `P pu:<app>` zset user → newest heartbeatAt; `P pe:<app>` zset user → newest expiry
 * - `P ua:<user>` zset app → newest expiry; `P nc:<node>` hash `<app>|<conn>` → user
 * - `P m:<app>:<user>` hash last/ack/read; `P i:<app>:<user>` stream `<seq>-0` {t, e}
 * - `P nodes` zset node → expiry; `P epoch`; `P r:<app>:<room>` / `P ur:<app>:<user>` sets
 * @module
 */

/** Shared Lua helpers prepended to scripts. */
const COMMON = `
local P = ARGV[1]
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Recompute a user's zset scores after a connection went; returns 1 when no connection is left.
local function settle(app, user)
  local hk = P .. 'p:' .. app .. ':' .. user
  local vals = redis.call('HVALS', hk)
  if #vals == 0 then
    redis.call('ZREM', P .. 'pu:' .. app, user)
    redis.call('ZREM', P .. 'pe:' .. app, user)
    redis.call('ZREM', P .. 'ua:' .. user, app)
    return 1
  end
  local hb, exp = 0, 0
  for _, v in ipairs(vals) do
    local bar = string.find(v, '|', 1, true)
    local e = tonumber(string.sub(v, 1, bar - 1))
    local h = cjson.decode(string.sub(v, bar + 1)).heartbeatAt or 0
    if e > exp then exp = e end
    if h > hb then hb = h end
  end
  redis.call('ZADD', P .. 'pu:' .. app, 'XX', hb, user)
  redis.call('ZADD', P .. 'pe:' .. app, 'XX', exp, user)
  redis.call('ZADD', P .. 'ua:' .. user, 'XX', exp, app)
  return 0
end
-- Seq of the first entry younger than 'oldest', or last + 1 when there is none.
local function firstYoung(st, oldest, last)
  local head = redis.call('XRANGE', st, '-', '+', 'COUNT', 1)
  if #head == 0 then return last + 1 end
  if tonumber(head[1][2][2]) >= oldest then return tonumber(string.match(head[1][1], '^(%d+)')) end
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
`;

/** ARGV: P, ttlMs, then groups of (app, user, node, conn, heartbeatAt, json). */
export const UPSERT_PRESENCE = COMMON + `
local ttl = tonumber(ARGV[2])
local now = nowMs()
local exp = now + ttl
for i = 3, #ARGV, 6 do
  local app, user, node, conn, hb, json = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  local hk = P .. 'p:' .. app .. ':' .. user
  redis.call('HSET', hk, node .. '|' .. conn, exp .. '|' .. json)
  redis.call('PEXPIRE', hk, ttl * 2)
  redis.call('ZADD', P .. 'pu:' .. app, 'GT', hb, user)
  redis.call('ZADD', P .. 'pe:' .. app, 'GT', exp, user)
  redis.call('ZADD', P .. 'ua:' .. user, 'GT', exp, app)
  redis.call('PEXPIRE', P .. 'ua:' .. user, ttl * 2)
  redis.call('HSET', P .. 'nc:' .. node, app .. '|' .. conn, user)
end
return 1
`;

/** ARGV: P, app, user, conn → 1 when the user has no connection left. */
export const REMOVE_PRESENCE = COMMON + `
local app, user, conn = ARGV[2], ARGV[3], ARGV[4]
local hk = P .. 'p:' .. app .. ':' .. user
local suffix = '|' .. conn
for _, f in ipairs(redis.call('HKEYS', hk)) do
  if string.sub(f, -#suffix) == suffix then
    redis.call('HDEL', hk, f)
    redis.call('HDEL', P .. 'nc:' .. string.sub(f, 1, #f - #suffix), app .. '|' .. conn)
  end
end
return settle(app, user)
`;

/** ARGV: P, app, user → values of unexpired connections. */
export const PRESENCE = COMMON + `
local now = nowMs()
local out = {}
for _, v in ipairs(redis.call('HVALS', P .. 'p:' .. ARGV[2] .. ':' .. ARGV[3])) do
  local bar = string.find(v, '|', 1, true)
  if tonumber(string.sub(v, 1, bar - 1)) > now then out[#out + 1] = string.sub(v, bar + 1) end
end
return out
`;

/** ARGV: P, app, minHeartbeat ('-inf' for any) → users online. */
export const ONLINE_USERS = COMMON + `
local now = nowMs()
local pe = P .. 'pe:' .. ARGV[2]
local out = {}
for _, u in ipairs(redis.call('ZRANGEBYSCORE', P .. 'pu:' .. ARGV[2], ARGV[3], '+inf')) do
  local e = redis.call('ZSCORE', pe, u)
  if e and tonumber(e) > now then out[#out + 1] = u end
end
return out
`;

/** ARGV: P, user, minHeartbeat → appIds in which the user is online. */
export const USER_APPS = COMMON + `
local now = nowMs()
local min = tonumber(ARGV[3]) or -math.huge
local out = {}
for _, app in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ua:' .. ARGV[2], '(' .. now, '+inf')) do
  local hb = redis.call('ZSCORE', P .. 'pu:' .. app, ARGV[2])
  if hb and tonumber(hb) >= min then out[#out + 1] = app end
end
return out
`;

/** ARGV: P, node → flat list of (app, user) that went offline. Forgets the node. */
export const REAP_NODE = COMMON + `
local node = ARGV[2]
local nk = P .. 'nc:' .. node
local flat = redis.call('HGETALL', nk)
local out = {}
for i = 1, #flat, 2 do
  local f, user = flat[i], flat[i + 1]
  local bar = string.find(f, '|', 1, true)
  local app, conn = string.sub(f, 1, bar - 1), string.sub(f, bar + 1)
  redis.call('HDEL', P .. 'p:' .. app .. ':' .. user, node .. '|' .. conn)
  if settle(app, user) == 1 then
    out[#out + 1] = app
    out[#out + 1] = user
  end
end
redis.call('DEL', nk)
redis.call('ZREM', P .. 'nodes', node)
return out
`;

/** ARGV: P, node, ttlMs → nodes whose registration expired (excluding this one). */
export const NODE_HEARTBEAT = COMMON + `
local now = nowMs()
redis.call('ZADD', P .. 'nodes', now + tonumber(ARGV[3]), ARGV[2])
return redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now)
`;

/**
 * ARGV: P, now, then groups of (app, user, maxEntries, maxAgeMs, time, json) → seq per group.
 * Seq assignment and XADD (exact MAXLEN) in one step; old entries trimmed only when present.
 */
export const APPEND = COMMON + `
local now = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 6 do
  local app, user, maxEntries, maxAge = ARGV[i], ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3])
  local st = P .. 'i:' .. app .. ':' .. user
  local seq = redis.call('HINCRBY', P .. 'm:' .. app .. ':' .. user, 'last', 1)
  redis.call('XADD', st, 'MAXLEN', maxEntries, seq .. '-0', 't', ARGV[i+4], 'e', ARGV[i+5])
  local oldest = now - maxAge
  local head = redis.call('XRANGE', st, '-', '+', 'COUNT', 1)
  if tonumber(head[1][2][2]) < oldest then
    redis.call('XTRIM', st, 'MINID', firstYoung(st, oldest, seq) .. '-0')
  end
  redis.call('PEXPIRE', st, maxAge + 60000)
  out[#out + 1] = seq
end
return out
`;

/** ARGV: P, app, user, oldest → {firstSeq, lastSeq}. */
export const HEAD = COMMON + `
local last = tonumber(redis.call('HGET', P .. 'm:' .. ARGV[2] .. ':' .. ARGV[3], 'last')) or 0
return {firstYoung(P .. 'i:' .. ARGV[2] .. ':' .. ARGV[3], tonumber(ARGV[4]), last), last}
`;

/** ARGV: P, app, user, oldest, afterSeq, limit → flat (id, fields) list, oldest first. */
export const RANGE = COMMON + `
local st = P .. 'i:' .. ARGV[2] .. ':' .. ARGV[3]
local last = tonumber(redis.call('HGET', P .. 'm:' .. ARGV[2] .. ':' .. ARGV[3], 'last')) or 0
local first = firstYoung(st, tonumber(ARGV[4]), last)
local from = math.max(tonumber(ARGV[5]) + 1, first)
return redis.call('XRANGE', st, from .. '-0', '+', 'COUNT', ARGV[6])
`;

/** ARGV: P, app, user, oldest, beforeSeq, limit → entries newest first. */
export const RANGE_BEFORE = COMMON + `
local st = P .. 'i:' .. ARGV[2] .. ':' .. ARGV[3]
local last = tonumber(redis.call('HGET', P .. 'm:' .. ARGV[2] .. ':' .. ARGV[3], 'last')) or 0
local first = firstYoung(st, tonumber(ARGV[4]), last)
local before = tonumber(ARGV[5])
if before <= first then return {} end
return redis.call('XREVRANGE', st, '(' .. before .. '-0', first .. '-0', 'COUNT', ARGV[6])
`;

/** ARGV: P, app, user, mark, seq → {previous, current}. */
export const ADVANCE_MARK = COMMON + `
local mk = P .. 'm:' .. ARGV[2] .. ':' .. ARGV[3]
local prev = tonumber(redis.call('HGET', mk, ARGV[4])) or 0
local last = tonumber(redis.call('HGET', mk, 'last')) or 0
local cur = math.max(prev, math.min(tonumber(ARGV[5]), last))
if cur ~= prev then redis.call('HSET', mk, ARGV[4], cur) end
return {prev, cur}
`;

/** ARGV: P, app, room, user, maxRooms, maxMembers → joined|already|tooManyRooms|roomFull. */
export const JOIN_ROOM = COMMON + `
local rk = P .. 'r:' .. ARGV[2] .. ':' .. ARGV[3]
local uk = P .. 'ur:' .. ARGV[2] .. ':' .. ARGV[4]
if redis.call('SISMEMBER', rk, ARGV[4]) == 1 then return 'already' end
if redis.call('SCARD', uk) >= tonumber(ARGV[5]) then return 'tooManyRooms' end
if redis.call('SCARD', rk) >= tonumber(ARGV[6]) then return 'roomFull' end
redis.call('SADD', rk, ARGV[4])
redis.call('SADD', uk, ARGV[3])
return 'joined'
`;

/** ARGV: P, app, room, user → 1 when the user was a member. */
export const LEAVE_ROOM = COMMON + `
if redis.call('SREM', P .. 'r:' .. ARGV[2] .. ':' .. ARGV[3], ARGV[4]) == 0 then return 0 end
redis.call('SREM', P .. 'ur:' .. ARGV[2] .. ':' .. ARGV[4], ARGV[3])
return 1
`;

/**
 * ARGV: P, selfNode, then groups of (app, user, payload) → per group, the number of other
 * nodes the payload was published to: only nodes holding an unexpired connection of the user.
 */
export const ROUTE = COMMON + `
local now = nowMs()
local out = {}
for i = 3, #ARGV, 3 do
  local seen = {}
  local n = 0
  local flat = redis.call('HGETALL', P .. 'p:' .. ARGV[i] .. ':' .. ARGV[i+1])
  for k = 1, #flat, 2 do
    local node = string.match(flat[k], '^(.*)|[^|]*$')
    local exp = tonumber(string.match(flat[k + 1], '^(%d+)|'))
    if node ~= ARGV[2] and not seen[node] and exp > now then
      seen[node] = true
      redis.call('PUBLISH', P .. 'node:' .. node, ARGV[i+2])
      n = n + 1
    end
  end
  out[#out + 1] = n
end
return out
`;
