-- A customer request is let in (see `admit`).
-- KEYS: conv, rate (the customer's request counter of this second)
-- ARGV: token_hash ('' when the request carries none), new_token_hash, rate_limit (0: none)
-- Returns {'ok', issued ('1' when the new token was bound)} | {'missing_token'} | {'invalid_token'}
--       | {'rate_limited'}
local status, issued = admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
if status ~= 'ok' then return {status} end
return {'ok', issued}
