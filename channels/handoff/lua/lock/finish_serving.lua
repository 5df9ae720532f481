-- Returns a ticket; the lock is deleted when no ticket is left.
-- KEYS: lock
-- ARGV: number
-- Returns how many tickets are left (see ticket.lua).
return finish_serving(KEYS[1], ARGV[1])
