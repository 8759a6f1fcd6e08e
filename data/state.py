"""Redis state for the API edge: per-key rate limits. Only this module names its keys.

Key scheme (hash tags keep a key's related entries in one Redis Cluster slot):
``rl:{<key_id>}`` holds the GCRA "theoretical arrival time" of one API key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

# Generic cell rate algorithm over leases: grants up to ARGV[3] requests at once
# (as many as the limit allows now, possibly none) after refunding ARGV[4] requests
# granted earlier but never used. One key, one round trip, exact under concurrency.
_GCRA_LEASE = """
local key = KEYS[1]
local interval_us = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now) - refund * interval_us
if tat < now then tat = now end
local fits = math.floor((now - tat) / interval_us) + burst + 1
local n = math.min(want, fits)
if n < 1 then
  if refund > 0 then
    redis.call('SET', key, tat, 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
  return {0, tat - burst * interval_us - now}
end
local new_tat = tat + n * interval_us
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {n, 0}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: float


class _Lease:
    __slots__ = ("expires", "left", "refused_until", "size", "taken")

    def __init__(self) -> None:
        self.left = 0  # requests granted by Redis and not used yet
        self.expires = 0.0
        self.taken = 0.0  # when the current lease was granted
        self.size = 1  # requests to ask for next time
        self.refused_until = 0.0  # Redis said no: nothing fits before then


class RateLimiter:
    """Per-key GCRA limiter: ``rate_per_s`` sustained, ``burst`` requests at once.

    The limit is shared by every worker through Redis, but a worker does not ask
    Redis on every request: it takes a *lease* of several requests at once and
    spends it locally for at most ``lease_s`` (then the rest goes back to Redis
    with the next lease request). The lease starts at one request, doubles while
    a key's requests use it up within a quarter of ``lease_s`` and halves when
    they do not, up to ``min(rate_per_s * lease_s, burst // 4)``: a key sending
    a few requests per second asks Redis every time, exactly as before; a key
    near its limit is never allowed more than it is granted, and a lease's
    requests fall within ``lease_s`` of its grant. Unused requests of a worker
    that stops seeing a key are forfeited (the key is refused earlier, never
    later). A refusal is remembered until the time Redis named, so a client
    pushing past its limit costs Redis one call per refusal period, not one per
    request.
    """

    def __init__(
        self, redis: Redis, rate_per_s: float, burst: int, lease_s: float = 0.1
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or lease_s < 0:
            raise ValueError("rate_per_s must be > 0, burst >= 1 and lease_s >= 0")
        self.redis = redis
        self.interval_us = int(1_000_000 / rate_per_s)
        self.burst = burst
        self.lease_s = lease_s
        self.max_lease = max(1, min(int(rate_per_s * lease_s), burst // 4))
        self._leases: dict[str, _Lease] = {}
        self._script = redis.register_script(_GCRA_LEASE)

    async def hit(self, key_id: str) -> RateDecision:
        now = time.monotonic()
        lease = self._leases.get(key_id)
        if lease is None:
            if len(self._leases) > 100_000:
                self._leases.clear()
            lease = self._leases[key_id] = _Lease()
        elif lease.left and now < lease.expires:
            lease.left -= 1
            return RateDecision(True, 0.0)
        elif now < lease.refused_until:
            return RateDecision(False, lease.refused_until - now)
        refund = lease.left
        if lease.taken and now - lease.taken < self.lease_s / 4 and not refund:
            lease.size = min(lease.size * 2, self.max_lease)
        elif refund:
            lease.size = max(lease.size // 2, 1)
        lease.left = 0
        granted, wait_us = await self._script(
            keys=[f"rl:{{{key_id}}}"],
            args=[self.interval_us, self.burst - 1, lease.size, refund],
        )
        granted = int(granted)
        if granted < 1:
            lease.taken = 0.0
            wait_s = int(wait_us) / 1_000_000
            lease.refused_until = time.monotonic() + wait_s
            return RateDecision(False, wait_s)
        now = time.monotonic()
        lease.left += granted - 1
        lease.taken = now
        lease.expires = now + self.lease_s
        return RateDecision(True, 0.0)
