-- The bot's (or the system's) replies join the transcript (`bot_messages()`, run by
-- bot_messages.lua and bot_messages_release.lua). The replies are ARGV[first..last] as
-- text, extra_json pairs. Returns the new message ids.
local function bot_messages(conv, msgs, events, conv_id, now_ms, maxlen, author, first, last)
  local ids = {}
  for i = first, last, 2 do
    ids[#ids + 1] = add_message(msgs, events, maxlen, conv_id, author, ARGV[i], ARGV[i + 1], now_ms)
  end
  if #ids > 0 then redis.call('HSET', conv, 'updated_at', now_ms) end
  return ids
end
