-- KEYS[1] counter; ARGV[1] limit; ARGV[2] window in ms. Counts one attempt and returns -1; when
-- the limit is already reached it counts nothing and returns the ms until the window ends.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then return 0 end
  return ttl
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return -1
