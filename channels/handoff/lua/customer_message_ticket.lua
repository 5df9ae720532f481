-- A customer message enters (customer_message_step.lua) and, when it is for the bot,
-- takes its ticket for Rasa's lock in the same step (channels/handoff/ticket_step.py).
-- KEYS: customer_message's, then the lock (11th), then (optional) Rasa's tracker (12th)
-- ARGV: customer_message's, then the ticket's (12th-14th): conversation_id, expires, now
-- Returns {ticket, customer_message's answer, tracker read ('1' or '0'), the stored tracker}.
-- The ticket is -1 (none taken) unless the message was let in, the bot has the
-- conversation and no return to the bot is left to finish: Rasa then does not handle the
-- message now. A ticket served at once (0: no other held) makes the tracker Rasa's to
-- read next, and nobody else's to change first: it is read here, when its key is given.
local answer = customer_message()
local ticket = -1
local read, tracker = '0', false
if answer[1] == 'ok' and answer[2] == 'bot' and answer[4] == '' then
  ticket = issue_ticket(KEYS[11], ARGV[12], ARGV[13], ARGV[14])
  if ticket == 0 and KEYS[12] then
    read, tracker = '1', redis.call('GET', KEYS[12])
  end
end
return {ticket, answer, read, tracker}
