-- The bot's replies to a customer message join the transcript, Rasa's save of the
-- conversation's tracker (when held for this step) is written, and the message's ticket
-- for Rasa's lock is given back, in one step (channels/handoff/ticket_step.py): the
-- replies and the tracker are stored before the next holder of the lock can read them.
-- KEYS: bot_messages's, then the lock (4th), then (optional) Rasa's tracker (5th)
-- ARGV: bot_messages's, then (with the tracker) the tracker and its expiry in seconds
--       ('' for none), then the ticket's number (last)
-- Returns the new message ids.
local last = #ARGV - 1
if KEYS[5] then
  last = #ARGV - 3
  if ARGV[#ARGV - 1] == '' then
    redis.call('SET', KEYS[5], ARGV[#ARGV - 2])
  else
    redis.call('SET', KEYS[5], ARGV[#ARGV - 2], 'EX', ARGV[#ARGV - 1])
  end
end
local ids = bot_messages(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 5, last)
finish_serving(KEYS[4], ARGV[#ARGV])
return ids
