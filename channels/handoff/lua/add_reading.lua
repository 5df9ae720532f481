-- The bot's NLU reading of a customer message is kept, and the agents are told.
-- KEYS: readings (of the conversation), events
-- ARGV: conv_id, message_id, reading_json, events_maxlen, event_json
-- Returns {'ok'}
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
emit(KEYS[2], ARGV[4], 'reading', ARGV[1], ARGV[5])
return {'ok'}
