-- KEYS[1] counter; ARGV[1] limit. Returns the ms until the window ends when the limit is
-- reached, else -1.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return -1 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
return ttl
