-- Takes recorded messages off the head of a conversation's recording list: only the
-- entries given, in order, and only while the head is the next of them (another
-- recorder that got there first leaves nothing to take twice).
-- KEYS: recording
-- ARGV: the list's entries as read, oldest first
-- Returns how many were taken off.
local taken = 0
for i = 1, #ARGV do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[i] then break end
  redis.call('LPOP', KEYS[1])
  taken = taken + 1
end
return taken
