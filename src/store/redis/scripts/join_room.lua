-- KEYS[1] room members set, KEYS[2] the user's rooms set; ARGV[1] user, ARGV[2] room, ARGV[3] maxRooms,
-- ARGV[4] maxMembers → joined | already | tooManyRooms | roomFull
-- The member set is the truth about membership: a member whose list lost the room (a half-done write)
-- gets it listed again, past maxRooms if need be, so userRooms never hides a room the user is in.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 'already'
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'tooManyRooms' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 'roomFull' end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 'joined'
