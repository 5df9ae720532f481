-- The bot's replies to a customer message join the transcript, and the message's ticket
-- for Rasa's lock is given back, in one step (channels/handoff/ticket_step.py): the
-- replies are stored before the next holder of the lock can read the transcript.
-- KEYS: bot_messages's, then the lock (4th)
-- ARGV: bot_messages's, then the ticket's number (last)
-- Returns the new message ids.
local ids = bot_messages(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 5, #ARGV - 1)
finish_serving(KEYS[4], ARGV[#ARGV])
return ids
