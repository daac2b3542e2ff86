-- The dispatcher's heartbeat, run by every instance: lapsed offers pass on, searches retry or
-- give up, stale drivers leave the index. Each due ride is claimed by ZREM inside this one
-- atomic script, so two instances never handle it twice. ARGV[7]: at most this many rides.
-- Returns {rides handled, offers made, offers lapsed}.
local now = now_ms()
local lapsed = 0
local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', now, 'LIMIT', 0, tonumber(ARGV[7]))
for _, id in ipairs(due) do
  redis.call('ZREM', DEADLINES, id)
  local f = redis.call('HMGET', ride_key(id), 'status', 'offered_to', 'offer_expires_ms')
  if f[1] == 'searching' then
    if blank(f[2]) then
      offer_next(id, now)
    elseif tonumber(f[3] or '0') <= now then
      lapsed = lapsed + 1
      pass_on(id, f[2], now, false)
    else
      redis.call('ZADD', DEADLINES, f[3], id)
    end
  end
end
for _, d in ipairs(redis.call('ZRANGEBYSCORE', SEEN, '-inf', now - STALE)) do
  unavailable(d, now)
end
return { #due, OFFERS_MADE, lapsed }
