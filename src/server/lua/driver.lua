-- A driver's presence. ARGV[8..]: driver id, action (online | position | offline), then for
-- online: lat, lng, name, make, model, plate; for position: lat, lng.
-- Returns {outcome, ride id}: ok | offline (a position from a driver who is not online) |
-- busy (going offline with a ride).
local driver, action = ARGV[8], ARGV[9]
local dk = driver_key(driver)
local now = now_ms()
if action == 'online' then
  redis.call('HSET', dk, 'online', 1, 'lat', ARGV[10], 'lng', ARGV[11], 'at_ms', now,
    'name', ARGV[12], 'car_make', ARGV[13], 'car_model', ARGV[14], 'car_plate', ARGV[15])
  make_available(driver, now)
  return { 'ok', redis.call('HGET', dk, 'ride') or '' }
elseif action == 'position' then
  if redis.call('HGET', dk, 'online') ~= '1' then return { 'offline', '' } end
  redis.call('HSET', dk, 'lat', ARGV[10], 'lng', ARGV[11], 'at_ms', now)
  local ride = redis.call('HGET', dk, 'ride')
  if blank(ride) then
    make_available(driver, now)
  else
    redis.call('PUBLISH', CH_RIDE .. ride, cjson.encode({ type = 'position', ride_id = ride,
      lat = tonumber(ARGV[10]), lng = tonumber(ARGV[11]), at_ms = now }))
  end
  return { 'ok', ride or '' }
else
  local d = redis.call('HMGET', dk, 'ride', 'offer')
  if not blank(d[1]) then return { 'busy', d[1] } end
  redis.call('HSET', dk, 'online', 0)
  unavailable(driver)
  if not blank(d[2]) then pass_on(d[2], driver, now) end
  return { 'ok', '' }
end
