-- A customer message enters (customer_message_step.lua) and, when it is for the bot,
-- takes its ticket for Rasa's lock in the same step (channels/handoff/ticket_step.py).
-- KEYS: customer_message's, then the lock (11th)
-- ARGV: customer_message's, then the ticket's (12th-14th): conversation_id, expires, now
-- Returns {ticket, customer_message's answer}. The ticket is -1 (none taken) unless the
-- message was let in, the bot has the conversation and no return to the bot is left to
-- finish: Rasa then does not handle the message now.
local answer = customer_message()
local ticket = -1
if answer[1] == 'ok' and answer[2] == 'bot' and answer[4] == '' then
  ticket = issue_ticket(KEYS[11], ARGV[12], ARGV[13], ARGV[14])
end
return {ticket, answer}
