-- Many conversations at once, for the agents' lists: one JSON summary (without
-- secret fields) per conversation, so the client parses one string per
-- conversation instead of every field of every hash.
-- KEYS: conv (one per conversation)
-- ARGV: conv_id (same order)
-- Returns {summary_json, ...}; a missing conversation gives {"id": ...} alone.
local out = {}
for i = 1, #KEYS do
  out[i] = summary(KEYS[i], ARGV[i])
end
return out
