-- Forgets members of the recorders' consumer group that hold no unfinished work: the
-- one named (a recorder that stops) and any not heard from for `idle_ms` (a process
-- that died). One with pending notices stays until another recorder takes them over
-- (forgetting it would leave them unclaimable). A consumer that reads again is
-- simply made again.
-- KEYS: recordings
-- ARGV: group, consumer ('' for none), idle_ms
-- Returns the number forgotten.
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end -- no stream or no group yet: nobody to forget
local idle_ms = tonumber(ARGV[3])
local forgotten = 0
for _, fields in ipairs(consumers) do
  local consumer = {}
  for i = 1, #fields, 2 do consumer[fields[i]] = fields[i + 1] end
  if consumer.pending == 0 and (consumer.name == ARGV[2] or consumer.idle >= idle_ms) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], consumer.name)
    forgotten = forgotten + 1
  end
end
return forgotten
