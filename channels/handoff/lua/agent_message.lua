-- The assigned agent writes to the customer; the message is queued for recording
-- in Rasa's tracker.
-- KEYS: conv, msgs, events, all_conversations, recording, recordings,
--       rate (the agent's request counter of this second)
-- ARGV: conv_id, agent_id, text, extra_json, now_ms, events_maxlen, rate_limit (0: none)
-- Returns {'ok', id} | {'not_found'} | {'not_assigned', state} | {'not_your_conversation', owner}
--       | {'rate_limited'}
local rate_limit = tonumber(ARGV[7])
if rate_limit > 0 and count_in_window(KEYS[7], 2) > rate_limit then return {'rate_limited'} end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'assigned' then return {'not_assigned', state} end
local owner = redis.call('HGET', KEYS[1], 'agent')
if owner ~= ARGV[2] then return {'not_your_conversation', owner} end
local id = add_message(KEYS[2], KEYS[3], ARGV[6], ARGV[1], 'agent', ARGV[3], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
queue_recording(KEYS[5], KEYS[6], ARGV[1], id, '{}')
return {'ok', id}
