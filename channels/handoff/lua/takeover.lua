-- bot -> assigned: an agent takes over a conversation the bot is handling.
-- KEYS: conv, agent_conversations, events, msgs, all_conversations
-- ARGV: conv_id, agent_id, agent_name, now_ms, events_maxlen, joined_text, max_chats (0: no limit)
-- Returns {'ok'} | {'not_found'} | {'not_with_bot', state} | {'capacity_reached', chats}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'bot' then return {'not_with_bot', state} end
local chats = redis.call('SCARD', KEYS[2])
if tonumber(ARGV[7]) > 0 and chats >= tonumber(ARGV[7]) then return {'capacity_reached', tostring(chats)} end
redis.call('HDEL', KEYS[1], 'resume_pending')
redis.call('HSET', KEYS[1], 'state', 'assigned', 'agent', ARGV[2], 'agent_name', ARGV[3], 'claimed_at', ARGV[4],
  'waiting_since', ARGV[4], 'reason', 'takeover', 'updated_at', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'handoffs', 1)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
emit(KEYS[3], ARGV[5], 'claimed', ARGV[1], summary(KEYS[1], ARGV[1]))
add_message(KEYS[4], KEYS[3], ARGV[5], ARGV[1], 'system', ARGV[6],
  '{"event":"agent_joined","agent_name":' .. cjson.encode(ARGV[3]) .. '}', ARGV[4])
return {'ok'}
