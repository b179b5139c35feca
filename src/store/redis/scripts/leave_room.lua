-- KEYS[1] room members set, KEYS[2] the user's rooms set; ARGV[1] user, ARGV[2] room → 1 when a member
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
