-- One more request in a rate limit's window.
-- KEYS: counter
-- ARGV: ttl_s
-- Returns the window's count, this request included.
return count_in_window(KEYS[1], ARGV[1])
