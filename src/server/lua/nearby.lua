-- Read-only: where the available, fresh drivers near a point are, for the rider's map. No ids
-- leave the script: the positions come ordered by driver id (random, so it says nothing), which
-- keeps each car in the same place of the list from one read to the next, so the map glides
-- each one instead of swapping them. ARGV[7..]: lat, lng, at most how many.
-- Returns a flat list: lat, lng, lat, lng, ...
local now = now_ms()
local candidates = redis.call('GEOSEARCH', GEO, 'FROMLONLAT', ARGV[8], ARGV[7],
  'BYRADIUS', RADIUS, 'm', 'ASC', 'COUNT', tonumber(ARGV[9]), 'WITHCOORD')
local found = {}
for _, c in ipairs(candidates) do
  local d = c[1]
  local seen = tonumber(redis.call('ZSCORE', SEEN, d) or '0')
  if seen >= now - STALE then
    local busy = redis.call('HMGET', driver_key(d), 'offer', 'ride')
    if blank(busy[1]) and blank(busy[2]) then
      table.insert(found, { d, c[2][2], c[2][1] })
    end
  end
end
table.sort(found, function(a, b) return a[1] < b[1] end)
local out = {}
for _, f in ipairs(found) do
  table.insert(out, f[2])
  table.insert(out, f[3])
end
return out
