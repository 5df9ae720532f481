-- A customer request is let in: its token checked (a sender's first request binds a new
-- one) and, for a caller who owns the sender, counted against their request budget.
-- KEYS: conv, rate (the customer's request counter of this second)
-- ARGV: token_hash ('' when the request carries none), new_token_hash, rate_limit (0: none)
-- Returns {'ok', issued ('1' when the new token was bound)} | {'missing_token'} | {'invalid_token'}
--       | {'rate_limited'}
local stored = redis.call('HGET', KEYS[1], 'token')
local issued = '0'
if not stored then
  redis.call('HSET', KEYS[1], 'token', ARGV[2])
  issued = '1'
elseif ARGV[1] == '' then
  return {'missing_token'}
elseif stored ~= ARGV[1] then
  return {'invalid_token'}
end
local rate_limit = tonumber(ARGV[3])
if rate_limit > 0 and count_in_window(KEYS[2], 2) > rate_limit then
  if issued == '1' then redis.call('HDEL', KEYS[1], 'token') end
  return {'rate_limited'}
end
return {'ok', issued}
