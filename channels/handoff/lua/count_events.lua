-- Analytics (analytics.py): folds a run of counted feed events into the figures,
-- only if no other process counted since the caller read the cursor. So every
-- event is counted exactly once, in order, however many processes count.
-- KEYS: cursor, stats, open, fallback_texts, fallback_latest, then the per-day keys
-- ARGV: one JSON object: expect, last, ttl, counters {field: n}, days [[key index, {field: n}]],
--       waits [[key index, [ms, ...]]], trim [member], fallbacks [[member, latest_json]],
--       open_set {conv: json}, open_del [conv]; numbers as strings
-- Returns 1 when applied, 0 when another process moved the cursor first.
local p = cjson.decode(ARGV[1])
if (redis.call('GET', KEYS[1]) or '0-0') ~= p.expect then return 0 end
for _, member in ipairs(p.trim) do
  redis.call('ZREM', KEYS[4], member)
  redis.call('HDEL', KEYS[5], member)
end
for name, amount in pairs(p.counters) do redis.call('HINCRBY', KEYS[2], name, amount) end
for _, day in ipairs(p.days) do
  local key = KEYS[tonumber(day[1])]
  for name, amount in pairs(day[2]) do redis.call('HINCRBY', key, name, amount) end
  redis.call('EXPIRE', key, p.ttl)
end
for _, waits in ipairs(p.waits) do
  local key = KEYS[tonumber(waits[1])]
  for _, ms in ipairs(waits[2]) do redis.call('RPUSH', key, ms) end
  redis.call('EXPIRE', key, p.ttl)
end
for _, fallback in ipairs(p.fallbacks) do
  redis.call('ZINCRBY', KEYS[4], 1, fallback[1])
  redis.call('HSET', KEYS[5], fallback[1], fallback[2])
end
for conv, value in pairs(p.open_set) do redis.call('HSET', KEYS[3], conv, value) end
for _, conv in ipairs(p.open_del) do redis.call('HDEL', KEYS[3], conv) end
redis.call('SET', KEYS[1], p.last)
return 1
