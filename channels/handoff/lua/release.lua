-- assigned -> bot: the agent hands the customer back. The Rasa side (resume,
-- bot-assigned message) follows; `resume_pending` stays set until it is done.
-- KEYS: conv, agent_conversations (of expected_owner), events, msgs, all_conversations
-- ARGV: conv_id, caller, force ('1' or '0'), now_ms, events_maxlen, expected_owner, left_text
-- Returns {'ok', owner} | {'not_found'} | {'not_assigned', state}
--       | {'not_your_conversation', owner} | {'owner_changed'}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'assigned' then return {'not_assigned', state} end
local owner = redis.call('HGET', KEYS[1], 'agent')
if owner ~= ARGV[6] then return {'owner_changed'} end
if owner ~= ARGV[2] and ARGV[3] ~= '1' then return {'not_your_conversation', owner} end
local owner_name = redis.call('HGET', KEYS[1], 'agent_name') or owner
redis.call('HDEL', KEYS[1], 'agent', 'agent_name', 'claimed_at', 'waiting_since', 'reason')
redis.call('HSET', KEYS[1], 'state', 'bot', 'resume_pending', 'action_bot_assigned', 'released_at', ARGV[4],
  'released_by', ARGV[2], 'updated_at', ARGV[4])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
emit(KEYS[3], ARGV[5], 'released', ARGV[1], summary(KEYS[1], ARGV[1]))
add_message(KEYS[4], KEYS[3], ARGV[5], ARGV[1], 'system', ARGV[7],
  '{"event":"agent_left","agent_name":' .. cjson.encode(owner_name) .. '}', ARGV[4])
return {'ok', owner}
