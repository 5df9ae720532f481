-- A page of an agents' list as the API answers it: one JSON array of conversations
-- (the fields of Conversation.to_dict, in its order), so the server passes it on as
-- it is. Conversations not in `state` (when given) or gone are left out.
-- KEYS: conv (one per conversation, in the page's order)
-- ARGV: state ('' for any), then conv_id (same order)
local FIELDS = {'state', 'agent', 'agent_name', 'waiting_since', 'claimed_at', 'reason', 'last_message',
  'last_message_at', 'created_at', 'updated_at', 'handoffs'}
local NUMBERS = {waiting_since = true, claimed_at = true, last_message_at = true, created_at = true,
  updated_at = true, handoffs = true}
local out = {}
for i = 1, #KEYS do
  local values = redis.call('HMGET', KEYS[i], unpack(FIELDS))
  if values[1] and (ARGV[1] == '' or values[1] == ARGV[1]) then
    local parts = {'"id":' .. cjson.encode(ARGV[i + 1])}
    for j, name in ipairs(FIELDS) do
      local value = values[j]
      local text
      if NUMBERS[name] then
        local number = value and tonumber(value)
        if number then text = string.format('%.0f', number)
        elseif name == 'handoffs' then text = '0'
        else text = 'null' end
      elseif value then
        text = cjson.encode(value)
      else
        text = 'null'
      end
      parts[#parts + 1] = '"' .. name .. '":' .. text
    end
    out[#out + 1] = '{' .. table.concat(parts, ',') .. '}'
  end
end
return '[' .. table.concat(out, ',') .. ']'
