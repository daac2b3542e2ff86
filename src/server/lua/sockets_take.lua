-- Counts one more open socket for a user, unless they hold the most allowed across instances.
-- KEYS[1] the registry (zset: each instance's count hash -> when it lapses, ms)
-- KEYS[2] this instance's count hash (user id -> open sockets); KEYS[3..] every other
-- instance's, as the caller read the registry. All share one hash tag.
-- ARGV[1] user id, ARGV[2] most sockets per user, ARGV[3] how long a count hash lives, ms.
-- Returns -1 when the socket was counted; -2 when the registry holds an instance the caller did
-- not declare (read it again); else the user's open sockets, which are too many.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local declared = {}
for i = 2, #KEYS do declared[KEYS[i]] = true end
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if not declared[name] then return -2 end
end
local open = 0
for i = 2, #KEYS do
  open = open + tonumber(redis.call('HGET', KEYS[i], ARGV[1]) or '0')
end
if open >= tonumber(ARGV[2]) then return open end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), KEYS[2])
return -1
