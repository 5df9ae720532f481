-- A page of an agents' list as the API answers it, in one step: the caller's request
-- counted against their rate limit, the page's ids read from the list's index, and
-- one JSON array of conversations (the fields of Conversation.to_dict, in its order),
-- so the server passes it on as it is. Conversations not in the view's state (when it
-- has one) or gone are left out.
-- The conversations' keys are the list's members behind `conv_prefix`: they share
-- the bot's hash tag with the declared keys, so on a Redis Cluster they are in the
-- same slot.
-- KEYS: rate (the caller's request counter of this second), index (the waiting or
--       all-conversations sorted set)
-- ARGV: rate_limit (0: none), view ('waiting' | 'live' | 'all'), offset, limit,
--       since_ms (live: updated since), conv_prefix
-- Returns {'ok', json} | {'rate_limited'}
local rate_limit = tonumber(ARGV[1])
if rate_limit > 0 and count_in_window(KEYS[1], 2) > rate_limit then return {'rate_limited'} end
local view, offset, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ids, state
if view == 'waiting' then
  ids, state = redis.call('ZRANGE', KEYS[2], offset, offset + limit - 1), 'waiting'
elseif view == 'live' then
  ids, state = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', ARGV[5], 'LIMIT', offset, limit), 'bot'
else
  ids, state = redis.call('ZREVRANGE', KEYS[2], offset, offset + limit - 1), nil
end
local FIELDS = {'state', 'agent', 'agent_name', 'waiting_since', 'claimed_at', 'reason', 'last_message',
  'last_message_at', 'created_at', 'updated_at', 'handoffs'}
local NUMBERS = {waiting_since = true, claimed_at = true, last_message_at = true, created_at = true,
  updated_at = true, handoffs = true}
local out = {}
for _, conv in ipairs(ids) do
  local values = redis.call('HMGET', ARGV[6] .. conv, unpack(FIELDS))
  if values[1] and (state == nil or values[1] == state) then
    local parts = {'"id":' .. cjson.encode(conv)}
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
return {'ok', '[' .. table.concat(out, ',') .. ']'}
