-- The offered driver passes. ARGV[7..]: driver id, ride id, allowed-from states. Returns
-- {outcome, status, offers made}.
local driver, id, allowed_from = ARGV[7], ARGV[8], ARGV[9]
local rk = ride_key(id)
if redis.call('EXISTS', rk) == 0 then return { 'not_found', '', 0 } end
local f = redis.call('HMGET', rk, 'status', 'offered_to')
local refusal = offer_refusal(id, driver, f[1], f[2], allowed_from)
if refusal then return { refusal[1], refusal[2], 0 } end
pass_on(id, driver, now_ms(), true)
return { 'ok', redis.call('HGET', rk, 'status'), OFFERS_MADE }
