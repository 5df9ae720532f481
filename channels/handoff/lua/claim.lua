-- waiting -> assigned: the first agent to claim wins, everyone else is refused.
-- KEYS: conv, waiting, agent_conversations, events, msgs, all_conversations, settings,
--       rate (the agent's request counter of this second)
-- ARGV: conv_id, agent_id, agent_name, now_ms, events_maxlen, joined_text,
--       max_chats (0: no limit; the desk settings' max_chats_per_agent, when stored, wins),
--       rate_limit (requests a second; 0: none)
-- Returns {'ok', conversation as JSON} | {'not_found'} | {'already_assigned', agent, agent_name} | {'not_waiting', state}
--       | {'capacity_reached', chats} | {'rate_limited'}
-- The agent's request is counted here, not in a round trip of its own: claims come in races.
local rate_limit = tonumber(ARGV[8])
if rate_limit > 0 and count_in_window(KEYS[8], 2) > rate_limit then return {'rate_limited'} end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state == 'assigned' then
  return {'already_assigned', redis.call('HGET', KEYS[1], 'agent'),
    redis.call('HGET', KEYS[1], 'agent_name') or ''}
end
if state ~= 'waiting' then return {'not_waiting', state} end
local chats = redis.call('SCARD', KEYS[3])
local max_chats = tonumber(redis.call('HGET', KEYS[7], 'max_chats_per_agent') or '') or tonumber(ARGV[7])
if max_chats > 0 and chats >= max_chats then return {'capacity_reached', tostring(chats)} end
redis.call('HSET', KEYS[1], 'state', 'assigned', 'agent', ARGV[2], 'agent_name', ARGV[3],
  'claimed_at', ARGV[4], 'updated_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
local claimed = summary(KEYS[1], ARGV[1])
emit(KEYS[4], ARGV[5], 'claimed', ARGV[1], claimed)
add_message(KEYS[5], KEYS[4], ARGV[5], ARGV[1], 'system', ARGV[6],
  '{"event":"agent_joined","agent_name":' .. cjson.encode(ARGV[3]) .. '}', ARGV[4])
return {'ok', claimed}
