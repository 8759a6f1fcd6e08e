"""Redis counters of proximity offers. Only this module names their keys.

Key scheme (braces: the Redis Cluster hash tag, as in :mod:`geoengine.state`):

* ``oc:{<tenant>:<device>}``: hash of one device's offer counters, fields
  ``c:<campaign>:d:<day>`` and ``c:<campaign>:w:<week>`` (per campaign) and
  ``g:d:<day>``, ``g:w:<week>`` (across campaigns); UTC day numbers and
  Monday-based week numbers (:func:`geoengine.offers.day_week`). TTL
  ``device_ttl_s`` (8 days: past the longest window), refreshed on each grant.
* ``ob:{<tenant>:<campaign>}``: hash of a campaign's budget reservations,
  ``money`` (minor units: the maximum value of every outstanding code plus the
  actual discount of redeemed ones) and ``count`` (outstanding plus redeemed
  codes). No TTL.
* ``or:{<tenant>}``: "counters are complete" marker, set when the counters were
  rebuilt from PostGIS. Without it (Redis restarted, flushed or evicted) the
  reservation script refuses to grant anything until the service has rebuilt
  the counters from the ``offers`` table.

The reservation is one Lua script over all the keys of a batch, atomic on a
single Redis node. (On Redis Cluster, device and budget keys live in different
slots: the script would have to run per slot, device caps first, then budgets,
releasing the device counts of refused budgets.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from geoengine.offers import RESERVE_REASONS, Reason, day_week

DEVICE_TTL_S = 8 * 86_400


def device_counters_key(tenant_id: uuid.UUID, device_id: str) -> str:
    return f"oc:{{{tenant_id}:{device_id}}}"


def budget_key(tenant_id: uuid.UUID, campaign_id: str) -> str:
    return f"ob:{{{tenant_id}:{campaign_id}}}"


def ready_key(tenant_id: uuid.UUID) -> str:
    return f"or:{{{tenant_id}}}"


# KEYS[1]: ready marker, then device and budget keys (indexes given in ARGV).
# ARGV: global day cap, global week cap (-1: none), device TTL ms, n, then per
# candidate: group, device key index, budget key index, campaign id, day, week,
# day cap, week cap, value, money budget, count budget (-1: none).
# Returns -1 when the marker is missing, else one code per candidate
# (0 granted; see geoengine.offers.RESERVE_REASONS).
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local gdcap, gwcap = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, n = ARGV[3], tonumber(ARGV[4])
local out, granted, p = {}, {}, 5
for i = 1, n do
  local grp = ARGV[p]
  local dk, bk = KEYS[tonumber(ARGV[p + 1])], KEYS[tonumber(ARGV[p + 2])]
  local cid, day, week = ARGV[p + 3], ARGV[p + 4], ARGV[p + 5]
  local dcap, wcap = tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7])
  local value = tonumber(ARGV[p + 8])
  local bmoney, bcount = tonumber(ARGV[p + 9]), tonumber(ARGV[p + 10])
  p = p + 11
  local r = 0
  if granted[grp] then
    r = 1
  else
    local fd, fw = 'c:' .. cid .. ':d:' .. day, 'c:' .. cid .. ':w:' .. week
    local gd, gw = 'g:d:' .. day, 'g:w:' .. week
    local v = redis.call('HMGET', dk, fd, fw, gd, gw)
    if dcap >= 0 and tonumber(v[1] or 0) >= dcap then r = 2
    elseif wcap >= 0 and tonumber(v[2] or 0) >= wcap then r = 3
    elseif gdcap >= 0 and tonumber(v[3] or 0) >= gdcap then r = 4
    elseif gwcap >= 0 and tonumber(v[4] or 0) >= gwcap then r = 5
    else
      local b = redis.call('HMGET', bk, 'money', 'count')
      if bmoney >= 0 and tonumber(b[1] or 0) + value > bmoney then r = 6
      elseif bcount >= 0 and tonumber(b[2] or 0) + 1 > bcount then r = 7
      else
        redis.call('HINCRBY', dk, fd, 1)
        redis.call('HINCRBY', dk, fw, 1)
        redis.call('HINCRBY', dk, gd, 1)
        redis.call('HINCRBY', dk, gw, 1)
        redis.call('PEXPIRE', dk, ttl)
        redis.call('HINCRBY', bk, 'money', value)
        redis.call('HINCRBY', bk, 'count', 1)
        granted[grp] = true
      end
    end
  end
  out[i] = r
end
return out
"""

# Overwrite counters with the values rebuilt from PostGIS, then set the marker.
# KEYS: marker, then keys; ARGV: device TTL ms, then per key: kind ('d' or 'b'),
# number of fields, field, value, ...
_REBUILD = """
local ttl, p = ARGV[1], 2
for i = 2, #KEYS do
  local kind, nf = ARGV[p], tonumber(ARGV[p + 1])
  p = p + 2
  redis.call('DEL', KEYS[i])
  for j = 1, nf do
    redis.call('HSET', KEYS[i], ARGV[p], ARGV[p + 1])
    p = p + 2
  end
  if kind == 'd' and nf > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('SET', KEYS[1], '1')
return #KEYS - 1
"""


@dataclass(frozen=True)
class Reservation:
    """One candidate to reserve (see :class:`geoengine.offers.Candidate`)."""

    group: int
    device_id: str
    campaign_id: str
    ts_s: float
    day_cap: int | None
    week_cap: int | None
    value_minor: int
    budget_minor: int | None
    budget_count: int | None


@dataclass(frozen=True)
class Counters:
    """Counters rebuilt from PostGIS.

    ``device``: device -> field -> count; ``budget``: campaign -> (money, count).
    """

    device: Mapping[str, Mapping[str, int]]
    budget: Mapping[str, tuple[int, int]]


def _cap(v: int | None) -> int:
    return -1 if v is None else v


class OfferCounters:
    """The reservation script and the rebuild of one tenant's offer counters."""

    def __init__(
        self, redis: Redis, tenant_id: uuid.UUID, device_ttl_s: int = DEVICE_TTL_S
    ) -> None:
        self.redis = redis
        self.tenant_id = tenant_id
        self.device_ttl_ms = device_ttl_s * 1000
        self._reserve = redis.register_script(_RESERVE)
        self._rebuild = redis.register_script(_REBUILD)

    async def ready(self) -> bool:
        return bool(await self.redis.exists(ready_key(self.tenant_id)))

    async def reserve(
        self,
        items: Sequence[Reservation],
        global_day_cap: int | None,
        global_week_cap: int | None,
    ) -> list[Reason | None] | None:
        """Check and take caps and budgets for every item, atomically, in order.

        Returns None when the counters are not complete (rebuild first), else
        per item None (granted) or the reason it was refused.
        """
        if not items:
            return []
        keys = [ready_key(self.tenant_id)]
        index: dict[str, int] = {}

        def key_index(k: str) -> int:
            if k not in index:
                keys.append(k)
                index[k] = len(keys)  # Lua is 1-based
            return index[k]

        argv: list[str | int] = [
            _cap(global_day_cap),
            _cap(global_week_cap),
            self.device_ttl_ms,
            len(items),
        ]
        for it in items:
            day, week = day_week(it.ts_s)
            argv += [
                it.group,
                key_index(device_counters_key(self.tenant_id, it.device_id)),
                key_index(budget_key(self.tenant_id, it.campaign_id)),
                it.campaign_id,
                day,
                week,
                _cap(it.day_cap),
                _cap(it.week_cap),
                it.value_minor,
                _cap(it.budget_minor),
                _cap(it.budget_count),
            ]
        codes = await self._reserve(keys=keys, args=argv)
        if codes == -1:
            return None
        return [RESERVE_REASONS[int(c)] for c in codes]

    async def rebuild(self, counters: Counters) -> int:
        """Overwrite the counters with ``counters`` and mark them complete."""
        keys = [ready_key(self.tenant_id)]
        argv: list[str | int] = [self.device_ttl_ms]
        for device, fields in counters.device.items():
            keys.append(device_counters_key(self.tenant_id, device))
            argv += ["d", len(fields)]
            for f, v in fields.items():
                argv += [f, v]
        for campaign, (money, count) in counters.budget.items():
            keys.append(budget_key(self.tenant_id, campaign))
            argv += ["b", 2, "money", money, "count", count]
        return int(await self._rebuild(keys=keys, args=argv))

    async def budget(self, campaign_id: str) -> tuple[int, int]:
        money, count = await self.redis.hmget(
            budget_key(self.tenant_id, campaign_id), "money", "count"
        )
        return int(money or 0), int(count or 0)
