-- Drops a lock's expired tickets (as Rasa's update_lock does, in one step).
-- KEYS: lock
-- ARGV: now (seconds)
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local lock = cjson.decode(raw)
local kept = {}
for _, text in ipairs(lock.tickets or {}) do
  if tonumber(cjson.decode(text).expires) >= tonumber(ARGV[1]) then kept[#kept + 1] = cjson.encode(text) end
end
redis.call('SET', KEYS[1], '{"conversation_id": ' .. cjson.encode(lock.conversation_id) .. ', "tickets": [' .. table.concat(kept, ', ') .. ']}')
return #kept
