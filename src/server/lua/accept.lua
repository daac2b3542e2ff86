-- The offered driver takes the ride. ARGV[7..]: driver id, ride id, allowed-from states.
-- Returns {outcome, status}: ok | not_found | refused | not_offered | driver_busy.
local driver, id, allowed_from = ARGV[7], ARGV[8], ARGV[9]
local rk = ride_key(id)
if redis.call('EXISTS', rk) == 0 then return { 'not_found', '' } end
local f = redis.call('HMGET', rk, 'status', 'offered_to', 'driver_id')
-- A retried accept of a ride this driver already took answers as the first one did.
if f[3] == driver then return { 'ok', f[1] } end
local refusal = offer_refusal(id, driver, f[1], f[2], allowed_from)
if refusal then return refusal end
local dk = driver_key(driver)
local d = redis.call('HMGET', dk, 'ride', 'name', 'car_make', 'car_model', 'car_plate')
if not blank(d[1]) then return { 'driver_busy', f[1] } end
local now = now_ms()
redis.call('HSET', rk, 'driver_id', driver, 'driver_name', d[2] or '', 'car_make', d[3] or '',
  'car_model', d[4] or '', 'car_plate', d[5] or '', 'offered_to', '', 'offer_expires_ms', '')
redis.call('HSET', dk, 'offer', '', 'ride', id)
unavailable(driver, now)
driver_changed(driver)
redis.call('ZREM', DEADLINES, id)
redis.call('ZADD', key('rides:driver:' .. driver), now, id)
changed(id, now, 'driver_assigned')
return { 'ok', 'driver_assigned' }
