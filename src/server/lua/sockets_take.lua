-- Counts one more open socket for a user, unless they hold the most allowed across instances.
-- Each instance counts its users' sockets in 256 small hashes (user id -> open sockets, the
-- user's bucket is the first byte of their id).
-- KEYS[1] the registry (zset: instance id -> when its counts lapse, ms); KEYS[2] this
-- instance's hash of the user's bucket; KEYS[3..] the same bucket's hash of every other
-- instance the caller found in the registry, whose ids are ARGV[5..] in the same order.
-- ARGV[1] user id (16 bytes), ARGV[2] most sockets per user, ARGV[3] how long counts live
-- without a heartbeat (ms), ARGV[4] this instance's id.
-- Returns -1 when the socket was counted; -2 when the registry holds an instance the caller did
-- not declare (read it again); else the user's open sockets, which are too many.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local declared = { [ARGV[4]] = true }
for i = 5, #ARGV do declared[ARGV[i]] = true end
for _, instance in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not declared[instance] then return -2 end
end
local open = 0
for i = 2, #KEYS do
  open = open + tonumber(redis.call('HGET', KEYS[i], ARGV[1]) or '0')
end
if open >= tonumber(ARGV[2]) then return open end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
return -1
