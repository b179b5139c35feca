-- Cluster mode, the room's half of join_room.lua (the user's rooms set is in another slot:
-- join_room_user.lua runs after it, and a refusal there is undone with SREM).
-- KEYS[1] room members set; ARGV[1] user, ARGV[2] maxMembers → joined | already | roomFull
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'already' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'roomFull' end
redis.call('SADD', KEYS[1], ARGV[1])
return 'joined'
