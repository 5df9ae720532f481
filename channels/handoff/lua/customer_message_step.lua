-- A customer message enters (`customer_message()`, run by customer_message.lua and
-- customer_message_ticket.lua): create the conversation if new, store the message.
-- While a human has the conversation (not 'bot'), the message is also queued for
-- recording in Rasa's tracker (the recorders read `recordings`). In the same step,
-- when asked: the request is first let in (see `admit`), and for the bot the desk's
-- settings and agents online are read (see `desk_now`), so the bot path makes one
-- round trip before Rasa (with Rasa's lock ticket in it: customer_message_ticket.lua).
-- KEYS: conv, msgs, events, all_conversations, recording, recordings,
--       rate (the customer's request counter of this second), settings, presence, agent_status
-- ARGV: conv_id, text, extra_json, now_ms, events_maxlen, metadata_json,
--       admit ('1' to let the request in first), token_hash ('' when the request carries
--       none), new_token_hash, rate_limit (0: none),
--       offline_grace_s (the desk's default; '' when the desk is not wanted)
-- Returns {'ok', state, message_id, resume_pending, issued ('1' when the new token was
--       bound)[, settings as a flat field/value list, agents online (state 'bot' only)]}
--       | {'missing_token'} | {'invalid_token'} | {'rate_limited'}
-- What the bot needs to know of the desk for every message it answers: the stored desk
-- settings (a flat field/value list) and how many agents are online (connected within
-- the grace period and not Away or Offline by choice).
local function desk_now(settings, presence, agent_status, now_ms, default_grace_s)
  local grace = tonumber(redis.call('HGET', settings, 'offline_grace_s') or '') or tonumber(default_grace_s)
  local since = tonumber(now_ms) - grace * 1000
  local online = 0
  for _, agent in ipairs(redis.call('ZRANGEBYSCORE', presence, since, '+inf')) do
    local status = redis.call('HGET', agent_status, agent)
    if not status or status == 'online' then online = online + 1 end
  end
  return {redis.call('HGETALL', settings), online}
end

local function customer_message()
  local issued = '0'
  if ARGV[7] == '1' then
    local status
    status, issued = admit(KEYS[1], KEYS[7], ARGV[8], ARGV[9], ARGV[10])
    if status ~= 'ok' then return {status} end
  end
  if redis.call('HSETNX', KEYS[1], 'state', 'bot') == 1 then
    redis.call('HSET', KEYS[1], 'created_at', ARGV[4])
  end
  local state = redis.call('HGET', KEYS[1], 'state')
  local assignee = state == 'assigned' and redis.call('HGET', KEYS[1], 'agent') or nil
  local id = add_message(KEYS[2], KEYS[3], ARGV[5], ARGV[1], 'customer', ARGV[2], ARGV[3], ARGV[4], assignee)
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], 'last_message', ARGV[2], 'last_message_at', ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
  if state ~= 'bot' then queue_recording(KEYS[5], KEYS[6], ARGV[1], id, ARGV[6]) end
  local answer = {'ok', state, id, redis.call('HGET', KEYS[1], 'resume_pending') or '', issued}
  if state == 'bot' and ARGV[11] ~= '' then
    local desk = desk_now(KEYS[8], KEYS[9], KEYS[10], ARGV[4], ARGV[11])
    answer[6], answer[7] = desk[1], desk[2]
  end
  return answer
end
