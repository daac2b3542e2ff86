-- KEYS[1] the user's live sockets (zset: socket id -> when its claim lapses, Redis ms);
-- ARGV[1] socket id, ARGV[2] how long a claim lasts unrenewed (ms), ARGV[3] the most sockets.
-- Forgets lapsed claims (sockets of an instance that died without closing them), then claims
-- one more if there is room. Returns 1 when claimed, 0 when the user has their most already.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
