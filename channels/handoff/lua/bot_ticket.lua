-- A customer message already let in and stored (customer_message.lua, run while other
-- messages were ahead of it in Rasa's line) takes its ticket for Rasa's lock when its
-- turn comes (channels/handoff/ticket_step.py): as customer_message_ticket.lua does after
-- its step, one round trip brings the ticket and, served at once, the tracker.
-- KEYS: the lock, then (optional) Rasa's tracker
-- ARGV: the ticket's: conversation_id, expires, now
-- Returns {ticket, 'ok', tracker read ('1' or '0'), the stored tracker}.
local ticket = issue_ticket(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local read, tracker = '0', false
if ticket == 0 and KEYS[2] then
  read, tracker = '1', redis.call('GET', KEYS[2])
end
return {ticket, 'ok', read, tracker}
