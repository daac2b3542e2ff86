-- KEYS[1] the user's live sockets; ARGV[1] socket id, ARGV[2] how long a claim lasts (ms).
-- Renews a claim that still exists. Returns 1 when renewed, 0 when it had lapsed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return renewed
