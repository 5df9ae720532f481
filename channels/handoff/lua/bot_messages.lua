-- The bot's (or the system's) replies join the transcript.
-- KEYS: conv, msgs, events
-- ARGV: conv_id, now_ms, events_maxlen, author, then text, extra_json pairs
-- Returns the new message ids.
local ids = {}
for i = 5, #ARGV, 2 do
  ids[#ids + 1] = add_message(KEYS[2], KEYS[3], ARGV[3], ARGV[1], ARGV[4], ARGV[i], ARGV[i + 1], ARGV[2])
end
if #ids > 0 then redis.call('HSET', KEYS[1], 'updated_at', ARGV[2]) end
return ids
