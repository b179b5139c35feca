-- Cluster mode, the user's half of join_room.lua. KEYS[1] the user's rooms set; ARGV[1] room,
-- ARGV[2] maxRooms, ARGV[3] '1' when the room's half answered already (a member: listed past maxRooms,
-- as on one Redis) → joined | tooManyRooms
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'joined' end
if ARGV[3] ~= '1' and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'tooManyRooms' end
redis.call('SADD', KEYS[1], ARGV[1])
return 'joined'
