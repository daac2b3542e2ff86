-- Creates a ride and offers it. ARGV[7..]: ride id, rider id, rider name, client key, pickup
-- lat, lng, name, drop-off lat, lng, name, distance m, duration s, fare cents, pin, search ms,
-- client-key ttl ms. Returns {outcome, ride id, offers made}: created | existing (same client
-- key) | busy.
local id, rider, rider_name, client_key = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local now = now_ms()
local idem = key('idem:' .. rider .. ':' .. client_key)
local existing = redis.call('GET', idem)
if existing then return { 'existing', existing, 0 } end
local active = redis.call('HGET', rider_key(rider), 'ride')
if not blank(active) then return { 'busy', active, 0 } end

redis.call('HSET', ride_key(id),
  'id', id, 'status', 'searching', 'seq', 0, 'rider_id', rider, 'rider_name', rider_name,
  'pickup_lat', ARGV[11], 'pickup_lng', ARGV[12], 'pickup_name', ARGV[13],
  'dropoff_lat', ARGV[14], 'dropoff_lng', ARGV[15], 'dropoff_name', ARGV[16],
  'distance_m', ARGV[17], 'duration_s', ARGV[18], 'fare_cents', ARGV[19],
  'pin', ARGV[20], 'pin_attempts', 0, 'pin_locked', 0,
  'driver_id', '', 'offered_to', '', 'offer_expires_ms', '',
  'search_expires_ms', now + tonumber(ARGV[21]), 'created_ms', now, 'updated_ms', now)
redis.call('SET', idem, id, 'PX', ARGV[22])
redis.call('HSET', rider_key(rider), 'ride', id)
redis.call('ZADD', key('rides:rider:' .. rider), now, id)
changed(id, now, nil)
offer_next(id, now)
return { 'created', id, OFFERS_MADE }
