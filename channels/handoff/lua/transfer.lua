-- assigned -> assigned (another agent) or assigned -> waiting (back to the queue,
-- at its original place: the longer it has waited, the nearer the top; with the
-- reason 'agent_offline', at the very top: its agent left it).
-- KEYS: conv, agent_conversations (expected_owner), agent_conversations (target), waiting, events, msgs,
--       all_conversations
-- ARGV: conv_id, caller, force ('1'/'0'), now_ms, events_maxlen, expected_owner, target ('' = queue),
--       target_name, notice_text, max_chats (0: no limit), reason
-- Returns {'ok', owner} | {'not_found'} | {'not_assigned', state} | {'not_your_conversation', owner}
--       | {'owner_changed'} | {'capacity_reached', chats} | {'same_agent'}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'assigned' then return {'not_assigned', state} end
local owner = redis.call('HGET', KEYS[1], 'agent')
if owner ~= ARGV[6] then return {'owner_changed'} end
if owner ~= ARGV[2] and ARGV[3] ~= '1' then return {'not_your_conversation', owner} end
if ARGV[7] == owner then return {'same_agent'} end
redis.call('SREM', KEYS[2], ARGV[1])
if ARGV[7] == '' then
  local since = redis.call('HGET', KEYS[1], 'waiting_since') or ARGV[4]
  if ARGV[11] == 'agent_offline' then
    local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= tonumber(since) then since = string.format('%d', tonumber(first[2]) - 1) end
  end
  redis.call('HDEL', KEYS[1], 'agent', 'agent_name', 'claimed_at')
  redis.call('HSET', KEYS[1], 'state', 'waiting', 'waiting_since', since, 'updated_at', ARGV[4],
    'requeued_reason', ARGV[11])
  redis.call('ZADD', KEYS[4], since, ARGV[1])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
  emit(KEYS[5], ARGV[5], 'requeued', ARGV[1], summary(KEYS[1], ARGV[1]))
else
  local chats = redis.call('SCARD', KEYS[3])
  if tonumber(ARGV[10]) > 0 and chats >= tonumber(ARGV[10]) then
    redis.call('SADD', KEYS[2], ARGV[1])
    return {'capacity_reached', tostring(chats)}
  end
  redis.call('HSET', KEYS[1], 'agent', ARGV[7], 'agent_name', ARGV[8], 'claimed_at', ARGV[4],
    'updated_at', ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
  emit(KEYS[5], ARGV[5], 'transferred', ARGV[1], summary(KEYS[1], ARGV[1]))
end
add_message(KEYS[6], KEYS[5], ARGV[5], ARGV[1], 'system', ARGV[9],
  '{"event":"transferred","agent_name":' .. cjson.encode(ARGV[8]) .. '}', ARGV[4])
return {'ok', owner}
