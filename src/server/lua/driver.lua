-- A driver's presence. ARGV[7..]: driver id, action (online | position | offline), then for
-- online: lat, lng, name, make, model, plate; for position: lat, lng, the fastest plausible
-- speed (m/s), the distance allowed on top for GPS jitter (m), positions allowed per window
-- (0: counted by the caller), the window (ms), the position's map cell ('' outside the grid).
-- Returns {outcome, detail, now}: ok (detail: the driver's ride) | offline (a position from a
-- driver who is not online) | rate_limited (detail: ms until the window ends) | implausible
-- (detail: "metres,seconds" from the last position) | busy (going offline with a ride); now is
-- Redis's clock (ms), which live sockets use to date the positions they publish themselves.
local driver, action = ARGV[7], ARGV[8]
local dk = driver_key(driver)
local now = now_ms()
if action == 'online' then
  redis.call('HSET', dk, 'online', 1, 'lat', ARGV[9], 'lng', ARGV[10], 'at_ms', now,
    'name', ARGV[11], 'car_make', ARGV[12], 'car_model', ARGV[13], 'car_plate', ARGV[14])
  make_available(driver, now)
  driver_changed(driver)
  return { 'ok', redis.call('HGET', dk, 'ride') or '', tostring(now) }
elseif action == 'position' then
  local lat, lng = tonumber(ARGV[9]), tonumber(ARGV[10])
  local max_mps, slack_m = tonumber(ARGV[11]), tonumber(ARGV[12])
  local per_window, window_ms = tonumber(ARGV[13]), tonumber(ARGV[14])
  local d = redis.call('HMGET', dk, 'online', 'lat', 'lng', 'at_ms', 'ride', 'cell', 'cell_ms')
  if d[1] ~= '1' then return { 'offline', '', tostring(now) } end
  -- Counted per driver, not per socket or instance: a fixed window in Redis. 0: counted by
  -- the caller (a live socket counts every position it reads and checks here once a second).
  if per_window > 0 then
    local rate = key('rate:position:' .. driver)
    local sent = redis.call('INCR', rate)
    if sent == 1 then redis.call('PEXPIRE', rate, window_ms) end
    if sent > per_window then
      return { 'rate_limited', tostring(math.max(redis.call('PTTL', rate), 1)), tostring(now) }
    end
  end
  local prev_lat, prev_lng, prev_at = tonumber(d[2]), tonumber(d[3]), tonumber(d[4])
  if prev_lat and prev_lng and prev_at then
    local secs = math.max(now - prev_at, 0) / 1000
    local moved = distance_m(prev_lat, prev_lng, lat, lng)
    if moved > slack_m + max_mps * secs then
      return { 'implausible', string.format('%d,%.1f', math.floor(moved), secs), tostring(now) }
    end
  end
  local ride = d[5]
  if blank(ride) then
    -- A free car: on its map cell's channel at most once a second, off the one it left. One
    -- write of the hash either way (the position and what the map was shown).
    local cell, was = ARGV[15], d[6]
    local left = not blank(was) and was ~= cell
    local show = not blank(cell) and (was ~= cell or now - (tonumber(d[7]) or 0) >= 1000)
    if show then
      redis.call('HSET', dk, 'lat', ARGV[9], 'lng', ARGV[10], 'at_ms', now, 'cell', cell,
        'cell_ms', now)
    elseif left then
      redis.call('HSET', dk, 'lat', ARGV[9], 'lng', ARGV[10], 'at_ms', now, 'cell', '')
    else
      redis.call('HSET', dk, 'lat', ARGV[9], 'lng', ARGV[10], 'at_ms', now)
    end
    make_available(driver, now)
    if left then publish_gone(driver, was, now) end
    if show then publish_nearby(driver, cell, lat, lng, now) end
  else
    redis.call('HSET', dk, 'lat', ARGV[9], 'lng', ARGV[10], 'at_ms', now)
    redis.call(PUB, ride_channel(ride), cjson.encode({ type = 'position', ride_id = ride,
      lat = lat, lng = lng, at_ms = now }))
  end
  return { 'ok', ride or '', tostring(now) }
else
  local d = redis.call('HMGET', dk, 'ride', 'offer')
  if not blank(d[1]) then return { 'busy', d[1], tostring(now) } end
  redis.call('HSET', dk, 'online', 0)
  unavailable(driver, now)
  if not blank(d[2]) then pass_on(d[2], driver, now, false) end
  driver_changed(driver)
  return { 'ok', '', tostring(now) }
end
