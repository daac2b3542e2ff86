-- KEYS[1] email index, KEYS[2] user hash; ARGV id, name, email, role, hash, created_at.
-- Returns 1 when the account was created, 0 when the email was already taken.
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then
    return 0
end
redis.call('HSET', KEYS[2],
    'id', ARGV[1], 'name', ARGV[2], 'email', ARGV[3], 'role', ARGV[4],
    'password_hash', ARGV[5], 'created_at', ARGV[6])
return 1
