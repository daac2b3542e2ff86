-- Read-only: where the nearest available, fresh driver within the radius is, as {lng, lat}
-- strings, or an empty array. ARGV[7..]: lat, lng.
local now = now_ms()
local candidates = redis.call('GEOSEARCH', GEO, 'FROMLONLAT', ARGV[8], ARGV[7],
  'BYRADIUS', RADIUS, 'm', 'ASC', 'COUNT', 20, 'WITHCOORD')
for _, c in ipairs(candidates) do
  local d = c[1]
  local seen = tonumber(redis.call('ZSCORE', SEEN, d) or '0')
  if seen >= now - STALE then
    local busy = redis.call('HMGET', driver_key(d), 'offer', 'ride')
    if blank(busy[1]) and blank(busy[2]) then
      return {tostring(c[2][1]), tostring(c[2][2])}
    end
  end
end
return {}
