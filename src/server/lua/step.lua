-- One party moves its ride on. ARGV[7..]: actor (rider | driver), user id, ride id, action,
-- allowed-from states, target state, then per action: start: pin, max attempts;
-- reconfirm: new pin; rate: stars.
-- Returns {outcome, status, detail}: ok | not_found | refused | wrong_pin | pin_locked |
-- already_rated | offline.
local actor, user, id, action, allowed_from, target = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local rk = ride_key(id)
if redis.call('EXISTS', rk) == 0 then return { 'not_found', '', '' } end
local f = redis.call('HMGET', rk, 'status', 'rider_id', 'driver_id', 'pin', 'pin_attempts', 'pin_locked', 'rating')
local owner = actor == 'rider' and f[2] or f[3]
-- Someone else's ride does not exist, as far as they can tell.
if owner ~= user then return { 'not_found', '', '' } end
if not allowed(f[1], allowed_from) then return { 'refused', f[1], '' } end
local now = now_ms()

if action == 'start' then
  if f[6] == '1' then return { 'pin_locked', f[1], '' } end
  if ARGV[13] ~= f[4] then
    local attempts = redis.call('HINCRBY', rk, 'pin_attempts', 1)
    local left = tonumber(ARGV[14]) - attempts
    if left <= 0 then
      redis.call('HSET', rk, 'pin_locked', 1)
      changed(id, now, nil)
      return { 'pin_locked', f[1], '' }
    end
    return { 'wrong_pin', f[1], tostring(left) }
  end
elseif action == 'reconfirm' then
  if f[6] ~= '1' then return { 'refused', f[1], '' } end
  redis.call('HSET', rk, 'pin', ARGV[13], 'pin_attempts', 0, 'pin_locked', 0)
elseif action == 'rate' then
  if not blank(f[7]) then return { 'already_rated', f[1], '' } end
  redis.call('HSET', rk, 'rating', ARGV[13])
  redis.call('HINCRBY', driver_key(f[3]), 'rating_sum', ARGV[13])
  redis.call('HINCRBY', driver_key(f[3]), 'rating_count', 1)
end

if target == 'cancelled' or target == 'completed' then
  finish(id, now, target)
else
  changed(id, now, target)
end
return { 'ok', target, '' }
