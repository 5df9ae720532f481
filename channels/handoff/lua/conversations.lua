-- Many conversations at once, for the agents' lists: one JSON array of summaries
-- (without secret fields), so the client parses one string for the whole page
-- instead of every field of every hash.
-- KEYS: conv (one per conversation)
-- ARGV: conv_id (same order)
-- Returns '[summary, ...]'; a missing conversation gives {"id": ...} alone.
local out = {}
for i = 1, #KEYS do
  out[i] = summary(KEYS[i], ARGV[i])
end
return '[' .. table.concat(out, ',') .. ']'
