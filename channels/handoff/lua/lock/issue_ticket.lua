-- A new ticket for a conversation's lock (Rasa's TicketLock as JSON), expired tickets dropped.
-- KEYS: lock
-- ARGV: conversation_id, expires (seconds, as Python wrote it), now (seconds)
-- Returns the ticket's number: one more than the last held, 0 for the first.
local raw = redis.call('GET', KEYS[1])
local kept = {}
local last = -1
if raw then
  for _, text in ipairs(cjson.decode(raw).tickets or {}) do
    local ticket = cjson.decode(text)
    if tonumber(ticket.expires) >= tonumber(ARGV[3]) then
      kept[#kept + 1] = cjson.encode(text)
      last = tonumber(ticket.number)
    end
  end
end
local number = last + 1
kept[#kept + 1] = cjson.encode('{"number": ' .. number .. ', "expires": ' .. ARGV[2] .. '}')
redis.call('SET', KEYS[1], '{"conversation_id": ' .. cjson.encode(ARGV[1]) .. ', "tickets": [' .. table.concat(kept, ', ') .. ']}')
return number
