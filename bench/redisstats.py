"""Redis commands a phase made, from INFO commandstats (every client counts)."""

from __future__ import annotations

from collections import Counter

from redis.asyncio import Redis


async def command_calls(redis: Redis) -> Counter[str]:
    stats = await redis.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()})


class CommandMeter:
    """Counts the commands Redis served between `start` and `stop`."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._start: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    async def start(self) -> None:
        self._start = await command_calls(self.redis)

    async def stop(self) -> Counter[str]:
        end = await command_calls(self.redis)
        used = end - self._start
        self.calls.update(used)
        return used
