"""Redis state for the API edge: per-key rate limits. Only this module names its keys.

Key scheme (hash tags keep a key's related entries in one Redis Cluster slot):
``rl:{<key_id>}`` holds the GCRA "theoretical arrival time" of one API key.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

# Generic cell rate algorithm: one key, one round trip, exact under concurrency.
_GCRA = """
local key = KEYS[1]
local interval_us = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat - burst * interval_us
if now < allow_at then
  return {0, allow_at - now}
end
local new_tat = tat + interval_us
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: float


class RateLimiter:
    """Per-key GCRA limiter: ``rate_per_s`` sustained, ``burst`` requests at once."""

    def __init__(self, redis: Redis, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.redis = redis
        self.interval_us = int(1_000_000 / rate_per_s)
        self.burst = burst
        self._script = redis.register_script(_GCRA)

    async def hit(self, key_id: str) -> RateDecision:
        allowed, wait_us = await self._script(
            keys=[f"rl:{{{key_id}}}"], args=[self.interval_us, self.burst - 1]
        )
        return RateDecision(bool(allowed), int(wait_us) / 1_000_000)
