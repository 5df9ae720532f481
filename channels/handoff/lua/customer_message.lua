-- A customer message enters: see customer_message_step.lua (KEYS, ARGV and the answer).
return customer_message()
