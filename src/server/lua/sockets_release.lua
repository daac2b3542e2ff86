-- A user's socket on this instance closed. KEYS[1] this instance's hash of the user's bucket;
-- ARGV[1] user id (16 bytes). Returns the user's sockets left on this instance.
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return math.max(left, 0)
