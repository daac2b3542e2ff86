-- KEYS[1] counter; ARGV[1] window in ms. Counts one failure, starting the window at the first.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
