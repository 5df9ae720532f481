-- A customer message enters: create the conversation if new, store the message.
-- While a human has the conversation (not 'bot'), the message is also queued for
-- recording in Rasa's tracker (the recorders read `recordings`).
-- KEYS: conv, msgs, events, all_conversations, recording, recordings
-- ARGV: conv_id, text, extra_json, now_ms, events_maxlen, metadata_json
-- Returns {state, message_id, resume_pending}
if redis.call('HSETNX', KEYS[1], 'state', 'bot') == 1 then
  redis.call('HSET', KEYS[1], 'created_at', ARGV[4])
end
local state = redis.call('HGET', KEYS[1], 'state')
local id = add_message(KEYS[2], KEYS[3], ARGV[5], ARGV[1], 'customer', ARGV[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], 'last_message', ARGV[2], 'last_message_at', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
if state ~= 'bot' then queue_recording(KEYS[5], KEYS[6], ARGV[1], id, ARGV[6]) end
return {state, id, redis.call('HGET', KEYS[1], 'resume_pending') or ''}
