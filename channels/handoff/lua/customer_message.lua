-- A customer message enters: create the conversation if new, store the message.
-- While a human has the conversation (not 'bot'), the message is also queued for
-- recording in Rasa's tracker (the recorders read `recordings`).
-- With a seventh key, the request is first let in (see `admit`) in the same step.
-- KEYS: conv, msgs, events, all_conversations, recording, recordings
--       [, rate (the customer's request counter of this second)]
-- ARGV: conv_id, text, extra_json, now_ms, events_maxlen, metadata_json
--       [, token_hash ('' when the request carries none), new_token_hash, rate_limit (0: none)]
-- Returns {'ok', state, message_id, resume_pending, issued ('1' when the new token was bound)}
--       | {'missing_token'} | {'invalid_token'} | {'rate_limited'}
local issued = '0'
if KEYS[7] then
  local status
  status, issued = admit(KEYS[1], KEYS[7], ARGV[7], ARGV[8], ARGV[9])
  if status ~= 'ok' then return {status} end
end
if redis.call('HSETNX', KEYS[1], 'state', 'bot') == 1 then
  redis.call('HSET', KEYS[1], 'created_at', ARGV[4])
end
local state = redis.call('HGET', KEYS[1], 'state')
local id = add_message(KEYS[2], KEYS[3], ARGV[5], ARGV[1], 'customer', ARGV[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], 'last_message', ARGV[2], 'last_message_at', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
if state ~= 'bot' then queue_recording(KEYS[5], KEYS[6], ARGV[1], id, ARGV[6]) end
return {'ok', state, id, redis.call('HGET', KEYS[1], 'resume_pending') or '', issued}
