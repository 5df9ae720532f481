-- Helpers prepended to every script. KEYS and ARGV stay each script's own.

-- Counts one request in a rate limit's window (the counter expires by itself);
-- returns the window's count, this request included.
local function count_in_window(key, ttl_s)
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ttl_s) end
  return count
end

-- Lets a customer request in: its token checked (a sender's first request binds a new
-- one) and, for a caller who owns the sender, counted against their request budget.
-- Returns 'ok', issued ('1' when the new token was bound) | 'missing_token'
-- | 'invalid_token' | 'rate_limited'.
local function admit(conv_key, rate_key, token_hash, new_token_hash, rate_limit)
  local stored = redis.call('HGET', conv_key, 'token')
  local issued = '0'
  if not stored then
    redis.call('HSET', conv_key, 'token', new_token_hash)
    issued = '1'
  elseif token_hash == '' then
    return 'missing_token'
  elseif stored ~= token_hash then
    return 'invalid_token'
  end
  local limit = tonumber(rate_limit)
  if limit > 0 and count_in_window(rate_key, 2) > limit then
    if issued == '1' then redis.call('HDEL', conv_key, 'token') end
    return 'rate_limited'
  end
  return 'ok', issued
end

-- Appends an event to the agents' live feed (a capped stream). `to_agent` (optional)
-- names the agent the event is for above all (a customer's message: the assignee),
-- whose sockets the feed then serves first.
local function emit(events, maxlen, kind, conv, payload, to_agent)
  if to_agent then
    return redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*',
      'type', kind, 'conv', conv, 'data', payload, 'agent', to_agent)
  end
  return redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*',
    'type', kind, 'conv', conv, 'data', payload)
end

-- Appends a message to a conversation's transcript and announces it on the feed.
local function add_message(msgs, events, maxlen, conv, author, text, extra, now, to_agent)
  local id = redis.call('XADD', msgs, '*', 'from', author, 'text', text, 'data', extra, 'at', now)
  emit(events, maxlen, 'message', conv,
    '{"id":' .. cjson.encode(id) .. ',"from":' .. cjson.encode(author) ..
    ',"text":' .. cjson.encode(text) .. ',"data":' .. extra .. ',"at":' .. now .. '}', to_agent)
  return id
end

-- Queues a human-part message for recording in Rasa's tracker: its id (and the
-- metadata the tracker should get) on the conversation's list, and a notice on
-- the recorders' stream.
local function queue_recording(recording, recordings, conv, id, metadata)
  redis.call('RPUSH', recording, id .. ' ' .. metadata)
  redis.call('XADD', recordings, '*', 'conv', conv)
end

-- The conversation hash as JSON, without its secret fields.
local function summary(conv_key, conv)
  local fields = redis.call('HGETALL', conv_key)
  local out = {id = conv}
  for i = 1, #fields, 2 do
    if fields[i] ~= 'token' then out[fields[i]] = fields[i + 1] end
  end
  return cjson.encode(out)
end
