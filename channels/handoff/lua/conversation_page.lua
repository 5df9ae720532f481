-- A page of an agents' list as the API answers it, in one step: the caller's request
-- counted against their rate limit, the page's ids read from the list's index, and
-- one JSON array of conversations (the fields of Conversation.to_dict), so the server
-- passes it on as it is. The page is encoded by one cjson call, in C: building it
-- field by field in Lua took most of the Waiting list's time. (cjson writes an
-- object's fields in no set order.) Conversations not in the view's state (when it
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
local null = cjson.null
local page, n = {}, 0
for _, conv in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[6] .. conv, unpack(FIELDS))
  if v[1] and (state == nil or v[1] == state) then
    -- Times and counts as JSON integers (tonumber of a missing field, false, is nil).
    n = n + 1
    page[n] = {
      id = conv, state = v[1], agent = v[2] or null, agent_name = v[3] or null,
      waiting_since = tonumber(v[4]) or null, claimed_at = tonumber(v[5]) or null, reason = v[6] or null,
      last_message = v[7] or null, last_message_at = tonumber(v[8]) or null,
      created_at = tonumber(v[9]) or null, updated_at = tonumber(v[10]) or null, handoffs = tonumber(v[11]) or 0,
    }
  end
end
-- (cjson writes an empty table as an object.)
if n == 0 then return {'ok', '[]'} end
return {'ok', cjson.encode(page)}
