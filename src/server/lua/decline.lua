-- The offered driver passes. ARGV[8..]: driver id, ride id, allowed-from states.
local driver, id, allowed_from = ARGV[8], ARGV[9], ARGV[10]
local rk = ride_key(id)
if redis.call('EXISTS', rk) == 0 then return { 'not_found', '' } end
local f = redis.call('HMGET', rk, 'status', 'offered_to')
local offered = f[2] == driver
if not offered and redis.call('SISMEMBER', declined_key(id), driver) == 0 then
  return { 'not_found', '' }
end
if not allowed(f[1], allowed_from) then return { 'refused', f[1] } end
if not offered then return { 'not_offered', f[1] } end
pass_on(id, driver, now_ms())
return { 'ok', redis.call('HGET', rk, 'status') }
