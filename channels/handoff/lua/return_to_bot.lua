-- waiting -> bot without an agent: the customer cancelled, or nobody claimed in time.
-- The bot side (resume and its message) follows; `resume_pending` names the action.
-- KEYS: conv, waiting, events, msgs, all_conversations
-- ARGV: conv_id, now_ms, events_maxlen, expected_waiting_since ('' = any), cause, notice_text, resume_action
-- Returns {'ok'} | {'not_found'} | {'not_waiting', state} | {'changed'}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'waiting' then return {'not_waiting', state} end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'waiting_since') ~= ARGV[4] then return {'changed'} end
redis.call('HDEL', KEYS[1], 'agent', 'agent_name', 'claimed_at', 'waiting_since', 'reason', 'timeout_notified')
redis.call('HSET', KEYS[1], 'state', 'bot', 'resume_pending', ARGV[7], 'released_at', ARGV[2],
  'released_by', ARGV[5], 'updated_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
local payload = cjson.decode(summary(KEYS[1], ARGV[1]))
payload['abandoned'] = true
payload['cause'] = ARGV[5]
emit(KEYS[3], ARGV[3], 'released', ARGV[1], cjson.encode(payload))
add_message(KEYS[4], KEYS[3], ARGV[3], ARGV[1], 'system', ARGV[6],
  '{"event":"back_to_bot","cause":' .. cjson.encode(ARGV[5]) .. '}', ARGV[2])
return {'ok'}
