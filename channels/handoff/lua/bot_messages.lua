-- The bot's (or the system's) replies join the transcript (bot_messages_step.lua).
-- KEYS: conv, msgs, events
-- ARGV: conv_id, now_ms, events_maxlen, author, then text, extra_json pairs
-- Returns the new message ids.
return bot_messages(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 5, #ARGV)
