-- This instance is alive: its counts live on. KEYS[1] the registry; KEYS[2..] this instance's
-- 256 bucket hashes; ARGV[1] how long counts live without another heartbeat (ms); ARGV[2] this
-- instance's id.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
