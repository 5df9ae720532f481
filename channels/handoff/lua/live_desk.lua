-- What the bot needs to know of the desk for every message it answers: the stored desk
-- settings and how many agents are online (connected within the grace period and not
-- Away or Offline by choice), in one round trip.
-- KEYS: settings, presence, agent_status
-- ARGV: now_ms, offline_grace_s (the default, when the settings store none)
-- Returns {settings as a flat field/value list, agents online}
local grace = tonumber(redis.call('HGET', KEYS[1], 'offline_grace_s') or '') or tonumber(ARGV[2])
local since = tonumber(ARGV[1]) - grace * 1000
local online = 0
for _, agent in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf')) do
  local status = redis.call('HGET', KEYS[3], agent)
  if not status or status == 'online' then online = online + 1 end
end
return {redis.call('HGETALL', KEYS[1]), online}
