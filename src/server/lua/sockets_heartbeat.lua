-- This instance is alive: its count hash lives on. KEYS[1] the registry; KEYS[2] this
-- instance's count hash; ARGV[1] how long the hash lives without another heartbeat, ms.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
