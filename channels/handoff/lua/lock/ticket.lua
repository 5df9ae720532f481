-- Rasa's lock tickets (a TicketLock as JSON): one taken (`issue_ticket`), one given back
-- (`finish_serving`).

-- A new ticket for a conversation's lock, expired tickets dropped.
-- Returns the ticket's number: one more than the last held, 0 for the first.
-- `expires` and `now` in seconds (`expires` as Python wrote it).
local function issue_ticket(lock_key, conversation_id, expires, now)
  local raw = redis.call('GET', lock_key)
  local kept = {}
  local last = -1
  if raw then
    for _, text in ipairs(cjson.decode(raw).tickets or {}) do
      local ticket = cjson.decode(text)
      if tonumber(ticket.expires) >= tonumber(now) then
        kept[#kept + 1] = cjson.encode(text)
        last = tonumber(ticket.number)
      end
    end
  end
  local number = last + 1
  kept[#kept + 1] = cjson.encode('{"number": ' .. number .. ', "expires": ' .. expires .. '}')
  redis.call('SET', lock_key, '{"conversation_id": ' .. cjson.encode(conversation_id) .. ', "tickets": [' .. table.concat(kept, ', ') .. ']}')
  return number
end

-- Returns ticket `number`; the lock is deleted when no ticket is left. Returns how many are left.
local function finish_serving(lock_key, number)
  local raw = redis.call('GET', lock_key)
  if not raw then return 0 end
  local lock = cjson.decode(raw)
  local kept = {}
  for _, text in ipairs(lock.tickets or {}) do
    if tonumber(cjson.decode(text).number) ~= tonumber(number) then kept[#kept + 1] = cjson.encode(text) end
  end
  if #kept == 0 then
    redis.call('DEL', lock_key)
  else
    redis.call('SET', lock_key, '{"conversation_id": ' .. cjson.encode(lock.conversation_id) .. ', "tickets": [' .. table.concat(kept, ', ') .. ']}')
  end
  return #kept
end
