-- KEYS[1] m, KEYS[2] i; ARGV[1] oldest (ms), ARGV[2] afterSeq, ARGV[3] limit → entries oldest first
local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or 0
local from = math.max(tonumber(ARGV[2]) + 1, firstYoung(KEYS[2], tonumber(ARGV[1]), last))
if from > last then return {} end
return redis.call('XRANGE', KEYS[2], string.format('%d-0', from), '+', 'COUNT', ARGV[3])
