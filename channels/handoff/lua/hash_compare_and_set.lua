-- Sets a hash field only if it still holds what the caller read (optimistic
-- concurrency: what WATCH/MULTI did on a single Redis, for one field).
-- KEYS: hash
-- ARGV: field, new_value, expected_present ('1' or '0'), expected_value
-- Returns {'ok'} | {'changed'}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  if current ~= ARGV[4] then return {'changed'} end
elseif current then
  return {'changed'}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
