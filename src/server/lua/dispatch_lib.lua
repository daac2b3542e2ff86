-- Shared by every dispatch script (prepended to each). Every key and channel a script touches
-- lives in one region, whose hash tag `{r:<region>}` puts them all in one Redis Cluster slot:
-- KEYS[1] is the region's deadline set, "<prefix>:{r:<region>}:deadlines", and every other
-- name is built from its prefix by `key` below, which checks the tag. Keys a script knows
-- before it runs are declared too (KEYS[2..], same tag), so that a slot being migrated turns
-- the call away before it starts (ASK, TRYAGAIN) instead of in the middle; keys it discovers
-- (a driver found by GEOSEARCH) cannot be, and are safe because they share the slot.
--
-- ARGV[1] the publish command (PUBLISH on one node, SPUBLISH on a cluster: a script may only
-- publish to a channel of its own slot there), ARGV[2] search radius (m), ARGV[3] staleness
-- (ms), ARGV[4] offer time (ms), ARGV[5] the pause before a search tries again, when no driver
-- is free or every one has passed (ms), ARGV[6] how long a finished ride is kept (ms). Script
-- arguments start at ARGV[7].
local DEADLINES = KEYS[1]
local P = string.match(DEADLINES, '^([^{}]*{r:[^{}]+}:)deadlines$')
if not P then
  return redis.error_reply('ERR KEYS[1] must be a region deadline set, got ' .. DEADLINES)
end
-- A name's hash tag as Redis reads it: between its first `{` and the next `}`.
local function tag_of(name) return string.match(name, '{(.-)}') end
local TAG = tag_of(P)
for i = 2, #KEYS do
  if tag_of(KEYS[i]) ~= TAG then
    return redis.error_reply('ERR ' .. KEYS[i] .. ' is not in the region ' .. TAG)
  end
end
local PUB = ARGV[1]
if PUB ~= 'PUBLISH' and PUB ~= 'SPUBLISH' then
  return redis.error_reply('ERR ARGV[1] must be PUBLISH or SPUBLISH')
end
local RADIUS = tonumber(ARGV[2])
local STALE = tonumber(ARGV[3])
local OFFER_MS = tonumber(ARGV[4])
local RETRY_MS = tonumber(ARGV[5])
local RETENTION_MS = tonumber(ARGV[6])
-- A driver who declined a ride this many times is not offered it again.
local MAX_DECLINES = 2
-- History entries are trimmed this long after their rides expire: a ride's history score is
-- when it was requested or accepted, its expiry counts from when it finished.
local HISTORY_SLACK_MS = 24 * 3600 * 1000

-- The one way a script names a key or a channel: under the region's prefix, in its slot.
local function key(suffix)
  local name = P .. suffix
  if tag_of(name) ~= TAG then error('a key outside the region: ' .. name) end
  return name
end

-- Offers this script run made (returned by the scripts that can make them, for metrics).
local OFFERS_MADE = 0

local GEO = key('drivers:geo')
local SEEN = key('drivers:seen')

-- Redis's clock, not an instance's: deadlines mean the same on every instance.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ride_key(id) return key('ride:' .. id) end
-- Who passed on a ride's offer: driver -> "<round>:<declines>", the search round they last
-- passed in and how many times they declined (a lapse is a pass, not a decline).
local function passes_key(id) return key('ride:' .. id .. ':passes') end
local function driver_key(id) return key('driver:' .. id) end
local function rider_key(id) return key('rider:' .. id) end
-- Channels are named like keys (channels and keys do not collide in Redis) and for the same
-- reason: a sharded channel lives in the slot of its name.
local function ride_channel(id) return key('ride:' .. id) end
local function user_channel(id) return key('user:' .. id) end
local function cell_channel(cell) return key('cell:' .. cell) end

-- Great-circle distance in metres (the same formula as GeoPoint::distance_m).
local function distance_m(lat1, lng1, lat2, lng2)
  local dlat, dlng = math.rad(lat2 - lat1), math.rad(lng2 - lng1)
  local a = math.sin(dlat / 2) ^ 2
    + math.cos(math.rad(lat1)) * math.cos(math.rad(lat2)) * math.sin(dlng / 2) ^ 2
  return 2 * 6371008.8 * math.asin(math.min(1, math.sqrt(a)))
end

local function blank(v) return v == false or v == nil or v == '' end

local function allowed(status, list)
  for s in string.gmatch(list, '[^,]+') do
    if s == status then return true end
  end
  return false
end

-- Every change bumps the ride's sequence number and is published on the ride's channel.
local function changed(id, now, status)
  local rk = ride_key(id)
  if status then redis.call('HSET', rk, 'status', status) end
  redis.call('HSET', rk, 'updated_ms', now)
  local seq = redis.call('HINCRBY', rk, 'seq', 1)
  local st = redis.call('HGET', rk, 'status')
  redis.call(PUB, ride_channel(id),
    cjson.encode({ type = 'status', ride_id = id, seq = seq, status = st }))
  return seq
end

local function tell_driver(driver, message)
  redis.call(PUB, user_channel(driver), cjson.encode(message))
end

-- Tells the driver's live sockets that their ride or presence changed, so the next position
-- is checked against Redis again instead of the socket's memory (see server::tracker). Only
-- instances read it; clients never see it.
local function driver_changed(driver)
  redis.call(PUB, user_channel(driver), '{"type":"driver_changed"}')
end

-- A driver who is online and free goes (back) into the index of available drivers.
local function make_available(driver, now)
  local d = redis.call('HMGET', driver_key(driver), 'online', 'lng', 'lat', 'at_ms', 'ride')
  if d[1] == '1' and not blank(d[2]) and blank(d[5]) then
    redis.call('GEOADD', GEO, d[2], d[3], driver)
    redis.call('ZADD', SEEN, tonumber(d[4]) or now, driver)
  end
end

-- Free cars on idle riders' maps: each free driver's position, anonymous, on the channel of
-- its map cell (server::keys), at most once a second (driver.lua decides, and keeps in the
-- driver's hash the cell last shown and when). `car` is a digest of the driver's id and the
-- day: a map can move the car smoothly, but not tell who drives it, nor follow it into the
-- next day.
local function car_token(driver, now)
  return string.sub(redis.sha1hex('car:' .. driver .. ':' .. math.floor(now / 86400000)), 1, 16)
end

local function publish_nearby(driver, cell, lat, lng, now)
  redis.call(PUB, cell_channel(cell), cjson.encode({ type = 'nearby', cell = cell,
    car = car_token(driver, now), lat = lat, lng = lng }))
end

local function publish_gone(driver, cell, now)
  redis.call(PUB, cell_channel(cell),
    cjson.encode({ type = 'nearby_gone', cell = cell, car = car_token(driver, now) }))
end

-- The driver is no longer a free car: off the map they were last shown on.
local function hide_nearby(driver, now)
  local dk = driver_key(driver)
  local cell = redis.call('HGET', dk, 'cell')
  if not blank(cell) then
    redis.call('HSET', dk, 'cell', '')
    publish_gone(driver, cell, now)
  end
end

local function unavailable(driver, now)
  redis.call('ZREM', GEO, driver)
  redis.call('ZREM', SEEN, driver)
  hide_nearby(driver, now)
end

-- Withdraws the offer a driver holds for ride `id`, if they still hold it.
local function withdraw_offer(driver, id)
  local dk = driver_key(driver)
  if redis.call('HGET', dk, 'offer') == id then
    redis.call('HSET', dk, 'offer', '')
    tell_driver(driver, { type = 'offer_withdrawn', ride_id = id })
  end
end

local function finish(id, now, status)
  local rk = ride_key(id)
  local f = redis.call('HMGET', rk, 'rider_id', 'driver_id', 'offered_to')
  if not blank(f[3]) then withdraw_offer(f[3], id) end
  if not blank(f[2]) then
    local dk = driver_key(f[2])
    if redis.call('HGET', dk, 'ride') == id then
      redis.call('HSET', dk, 'ride', '')
      make_available(f[2], now)
      driver_changed(f[2])
    end
  end
  local rk_rider = rider_key(f[1])
  if redis.call('HGET', rk_rider, 'ride') == id then
    redis.call('HSET', rk_rider, 'ride', '')
  end
  redis.call('HSET', rk, 'offered_to', '', 'offer_expires_ms', '')
  redis.call('ZREM', DEADLINES, id)
  local seq = changed(id, now, status)
  -- A finished ride is kept for the retention time, and the histories that list it are
  -- trimmed of rides that expired before it, so Redis does not grow with every ride ever made.
  redis.call('PEXPIRE', rk, RETENTION_MS)
  redis.call('PEXPIRE', passes_key(id), RETENTION_MS)
  local expired_before = '(' .. (now - RETENTION_MS - HISTORY_SLACK_MS)
  local rider_history = key('rides:rider:' .. f[1])
  redis.call('ZREMRANGEBYSCORE', rider_history, '-inf', expired_before)
  redis.call('PEXPIRE', rider_history, RETENTION_MS + HISTORY_SLACK_MS)
  if not blank(f[2]) then
    local driver_history = key('rides:driver:' .. f[2])
    redis.call('ZREMRANGEBYSCORE', driver_history, '-inf', expired_before)
    redis.call('PEXPIRE', driver_history, RETENTION_MS + HISTORY_SLACK_MS)
  end
  return seq
end

-- A driver's pass on ride `id`: the round they last passed in (0: never) and their declines.
local function passed(id, driver)
  local p = redis.call('HGET', passes_key(id), driver)
  if not p then return 0, 0 end
  local round, declines = string.match(p, '^(%d+):(%d+)$')
  return tonumber(round) or 0, tonumber(declines) or 0
end

-- Offers ride `id` to the nearest driver who is available, fresh and has not passed on it in
-- this round of the search. When every nearby driver has passed, the next round starts after
-- the retry pause and may offer it to them again, except to those who declined it
-- MAX_DECLINES times; the search gives up once its time is over.
local function offer_next(id, now)
  local rk = ride_key(id)
  local r = redis.call('HMGET', rk, 'pickup_lng', 'pickup_lat', 'search_expires_ms', 'round')
  local search_expires = tonumber(r[3])
  if now >= search_expires then
    finish(id, now, 'no_driver_found')
    return 'no_driver_found'
  end
  local round = tonumber(r[4]) or 1
  local passed_this_round = false
  local candidates = redis.call('GEOSEARCH', GEO, 'FROMLONLAT', r[1], r[2],
    'BYRADIUS', RADIUS, 'm', 'ASC', 'COUNT', 50)
  for _, d in ipairs(candidates) do
    local seen = tonumber(redis.call('ZSCORE', SEEN, d) or '0')
    if seen < now - STALE then
      unavailable(d, now)
    else
      local last_round, declines = passed(id, d)
      local dk = driver_key(d)
      -- The offer and ride the driver holds, read only when they may be asked at all.
      local held = last_round ~= round and declines < MAX_DECLINES
        and redis.call('HMGET', dk, 'offer', 'ride')
      if last_round == round then
        passed_this_round = true
      elseif held and blank(held[1]) and blank(held[2]) then
        local expires = now + OFFER_MS
        redis.call('HSET', dk, 'offer', id)
        redis.call('HSET', rk, 'offered_to', d, 'offer_expires_ms', expires)
        redis.call('ZADD', DEADLINES, expires, id)
        tell_driver(d, { type = 'offer', ride_id = id, expires_at_ms = expires })
        changed(id, now, nil)
        OFFERS_MADE = OFFERS_MADE + 1
        return 'offered'
      end
    end
  end
  -- Nobody free now, or everyone passed: look again shortly (in a new round if someone
  -- passed in this one), until the search time runs out.
  if passed_this_round then redis.call('HSET', rk, 'round', round + 1) end
  redis.call('HSET', rk, 'offered_to', '', 'offer_expires_ms', '')
  redis.call('ZADD', DEADLINES, math.min(now + RETRY_MS, search_expires), id)
  return 'waiting'
end

-- Whether `driver` may answer ride `id`'s offer. A driver who once held it learns that it is
-- gone; anyone else, that there is no such ride. Returns nil when the offer is theirs to answer,
-- else the refusal to return.
local function offer_refusal(id, driver, status, offered_to, allowed_from)
  local offered = offered_to == driver
  if not offered and redis.call('HEXISTS', passes_key(id), driver) == 0 then
    return { 'not_found', '' }
  end
  if not allowed(status, allowed_from) then return { 'refused', status } end
  if not offered then return { 'not_offered', status } end
  return nil
end

-- The ride's offer passes from `driver` (who declined it, or let it lapse) to the next one.
local function pass_on(id, driver, now, declined)
  local _, declines = passed(id, driver)
  if declined then declines = declines + 1 end
  local round = tonumber(redis.call('HGET', ride_key(id), 'round')) or 1
  redis.call('HSET', passes_key(id), driver, round .. ':' .. declines)
  redis.call('PEXPIRE', passes_key(id), 24 * 3600 * 1000)
  withdraw_offer(driver, id)
  return offer_next(id, now)
end
