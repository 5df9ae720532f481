-- A new ticket for a conversation's lock (Rasa's TicketLock as JSON), expired tickets dropped.
-- KEYS: lock
-- ARGV: conversation_id, expires (seconds, as Python wrote it), now (seconds)
-- Returns the ticket's number (see ticket.lua).
return issue_ticket(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
