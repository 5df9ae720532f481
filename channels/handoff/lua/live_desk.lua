-- The desk settings and how many agents are online, in one round trip (see `desk_now`).
-- KEYS: settings, presence, agent_status
-- ARGV: now_ms, offline_grace_s (the default, when the settings store none)
-- Returns {settings as a flat field/value list, agents online}
return desk_now(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
