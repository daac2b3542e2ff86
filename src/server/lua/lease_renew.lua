-- KEYS[1] the lease; ARGV token, ttl (ms). Extends the lease only while it is still ours, so a
-- leader that paused past its expiry cannot extend a lease another instance took meanwhile.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
