-- One more request in a rate limit's window; the window's counter expires by itself.
-- KEYS: counter
-- ARGV: ttl_s
-- Returns the window's count, this request included.
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
