-- Several changes to one hash at once (what MULTI/EXEC did on a single Redis;
-- cluster pipelines have no transactions).
-- KEYS: hash
-- ARGV: count of fields to delete, those fields, then field, value pairs to set
-- Returns {'ok'}
local deletions = tonumber(ARGV[1])
if deletions > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 2, 1 + deletions)) end
if #ARGV > 1 + deletions then redis.call('HSET', KEYS[1], unpack(ARGV, 2 + deletions, #ARGV)) end
return {'ok'}
