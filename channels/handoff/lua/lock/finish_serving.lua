-- Returns a ticket; the lock is deleted when no ticket is left.
-- KEYS: lock
-- ARGV: number
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local lock = cjson.decode(raw)
local kept = {}
for _, text in ipairs(lock.tickets or {}) do
  if tonumber(cjson.decode(text).number) ~= tonumber(ARGV[1]) then kept[#kept + 1] = cjson.encode(text) end
end
if #kept == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], '{"conversation_id": ' .. cjson.encode(lock.conversation_id) .. ', "tickets": [' .. table.concat(kept, ', ') .. ']}')
end
return #kept
