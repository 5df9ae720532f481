-- bot -> waiting: the conversation joins the Waiting queue.
-- KEYS: conv, waiting, events, all_conversations
-- ARGV: conv_id, now_ms, reason, events_maxlen
-- Returns {'ok'} | {'not_found'} | {'unchanged', state}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'bot' then return {'unchanged', state} end
-- A new wait: no agent, and no claim-timeout notice yet (an earlier wait's may linger
-- after an agent handed the customer back).
redis.call('HDEL', KEYS[1], 'agent', 'agent_name', 'claimed_at', 'timeout_notified')
redis.call('HSET', KEYS[1], 'state', 'waiting', 'waiting_since', ARGV[2], 'reason', ARGV[3],
  'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'handoffs', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
emit(KEYS[3], ARGV[4], 'waiting', ARGV[1], summary(KEYS[1], ARGV[1]))
return {'ok'}
