"""Redis counters of proximity offers. Only this module names their keys.

Key scheme (braces: the Redis Cluster hash tag, as in :mod:`geoengine.state`):

* ``oc:{<tenant>:<device>}``: hash of one device's offer counters, fields
  ``c:<campaign>:d:<day>`` and ``c:<campaign>:w:<week>`` (per campaign) and
  ``g:d:<day>``, ``g:w:<week>`` (across campaigns); UTC day numbers and
  Monday-based week numbers (:func:`geoengine.offers.day_week`). TTL
  ``device_ttl_s`` (15 days: the current and the previous ISO week, for pings
  that arrive late), refreshed on each grant.
* ``ob:{<tenant>:<campaign>}``: hash of a campaign's budget reservations,
  ``money`` (minor units: the maximum value of every outstanding code plus the
  actual discount of redeemed ones) and ``count`` (outstanding plus redeemed
  codes). No TTL.
* ``or:{<tenant>}``: "counters are complete" marker, set when the counters were
  rebuilt from PostGIS. Without it (Redis restarted, flushed or evicted) the
  reservation script refuses to grant anything until the service has rebuilt
  the counters from the ``offers`` table.
* ``oq:{<tenant>}``: set (1 h TTL) when a reservation was refused for budget:
  the next issuer releases the budget of expired codes by reconciling the
  budgets with PostGIS; ``ol:{<tenant>}`` (60 s TTL) makes that happen at most
  once a minute per tenant.

The reservation is one Lua script over all the keys of a batch, atomic on a
single Redis node. (On Redis Cluster, device and budget keys live in different
slots: the script would have to run per slot, device caps first, then budgets,
releasing the device counts of refused budgets.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from data.redis import packed_command
from geoengine.offers import RESERVE_REASONS, Reason, day_week

DEVICE_TTL_S = 15 * 86_400
REBUILD_WINDOW_DAYS = 14  # offers counted by a rebuild (two ISO weeks)


def device_counters_key(tenant_id: uuid.UUID, device_id: str) -> str:
    return f"oc:{{{tenant_id}:{device_id}}}"


def budget_key(tenant_id: uuid.UUID, campaign_id: str) -> str:
    return f"ob:{{{tenant_id}:{campaign_id}}}"


def ready_key(tenant_id: uuid.UUID) -> str:
    return f"or:{{{tenant_id}}}"


def reconcile_wanted_key(tenant_id: uuid.UUID) -> str:
    return f"oq:{{{tenant_id}}}"


def reconcile_lease_key(tenant_id: uuid.UUID) -> str:
    return f"ol:{{{tenant_id}}}"


# KEYS[1]: ready marker, then the device keys, then one budget key per campaign.
# ARGV: global day cap, global week cap (-1: none), device TTL ms, number of
# campaigns m, number of candidates n; then per campaign: id, day cap, week cap,
# value, money budget, count budget (-1: none; its budget key is KEYS[1 + d + j]
# with d device keys, given as ARGV[6]); then per candidate: group, device key
# index, campaign index (1-based), day, week.
# Returns -1 when the marker is missing, else one code per candidate
# (0 granted; see geoengine.offers.RESERVE_REASONS).
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local gdcap, gwcap = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, m, n, nd = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local camp = {}
local p = 7
for j = 1, m do
  camp[j] = {ARGV[p], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]),
             tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5]),
             KEYS[1 + nd + j]}
  p = p + 6
end
local out, granted, bud, touched = {}, {}, {}, {}
for i = 1, n do
  local grp, dk = ARGV[p], KEYS[tonumber(ARGV[p + 1])]
  local ci = tonumber(ARGV[p + 2])
  local c = camp[ci]
  local day, week = ARGV[p + 3], ARGV[p + 4]
  p = p + 5
  local r = 0
  if granted[grp] then
    r = 1
  else
    local fd, fw = 'c:' .. c[1] .. ':d:' .. day, 'c:' .. c[1] .. ':w:' .. week
    local gd, gw = 'g:d:' .. day, 'g:w:' .. week
    local v = redis.call('HMGET', dk, fd, fw, gd, gw)
    local vd, vw = tonumber(v[1] or 0), tonumber(v[2] or 0)
    local vgd, vgw = tonumber(v[3] or 0), tonumber(v[4] or 0)
    if c[2] >= 0 and vd >= c[2] then r = 2
    elseif c[3] >= 0 and vw >= c[3] then r = 3
    elseif gdcap >= 0 and vgd >= gdcap then r = 4
    elseif gwcap >= 0 and vgw >= gwcap then r = 5
    else
      -- the campaign's budget, read once per call and written back at the end
      local b = bud[ci]
      if not b then
        local x = redis.call('HMGET', c[7], 'money', 'count')
        b = {tonumber(x[1] or 0), tonumber(x[2] or 0), 0, 0}
        bud[ci] = b
      end
      if c[5] >= 0 and b[1] + c[4] > c[5] then r = 6
      elseif c[6] >= 0 and b[2] + 1 > c[6] then r = 7
      else
        redis.call('HSET', dk, fd, vd + 1, fw, vw + 1, gd, vgd + 1, gw, vgw + 1)
        touched[dk] = true
        b[1], b[2] = b[1] + c[4], b[2] + 1
        b[3], b[4] = b[3] + c[4], b[4] + 1
        granted[grp] = true
      end
    end
  end
  out[i] = r
end
for ci, b in pairs(bud) do
  if b[4] > 0 then
    redis.call('HINCRBY', camp[ci][7], 'money', b[3])
    redis.call('HINCRBY', camp[ci][7], 'count', b[4])
  end
end
for dk in pairs(touched) do redis.call('PEXPIRE', dk, ttl) end
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


class Reservation(NamedTuple):
    """One candidate to reserve (see :class:`geoengine.offers.Candidate`).

    The caps, value and budgets are the campaign's: equal for every item of
    one campaign.
    """

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

    async def status(self) -> tuple[bool, bool]:
        """(counters complete, budget reconciliation wanted)."""
        ready, wanted = await self.redis.mget(
            ready_key(self.tenant_id), reconcile_wanted_key(self.tenant_id)
        )
        return ready is not None, wanted is not None

    async def want_reconcile(self) -> None:
        await self.redis.set(reconcile_wanted_key(self.tenant_id), 1, ex=3600)

    async def claim_reconcile(self, every_s: int = 60) -> bool:
        """True for at most one caller per ``every_s`` (then the wish is cleared)."""
        if not await self.redis.set(
            reconcile_lease_key(self.tenant_id), 1, nx=True, ex=every_s
        ):
            return False
        await self.redis.delete(reconcile_wanted_key(self.tenant_id))
        return True

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
        devices: dict[str, int] = {}
        campaigns: dict[str, tuple[int, Reservation]] = {}
        for it in items:
            devices.setdefault(it.device_id, len(devices) + 2)  # Lua: 1-based
            campaigns.setdefault(it.campaign_id, (len(campaigns) + 1, it))
        keys = [ready_key(self.tenant_id)]
        keys += [device_counters_key(self.tenant_id, d) for d in devices]
        keys += [budget_key(self.tenant_id, c) for c in campaigns]
        argv: list[str | int] = [
            _cap(global_day_cap),
            _cap(global_week_cap),
            self.device_ttl_ms,
            len(campaigns),
            len(items),
            len(devices),
        ]
        for cid, (_, it) in campaigns.items():
            argv += [
                cid,
                _cap(it.day_cap),
                _cap(it.week_cap),
                it.value_minor,
                _cap(it.budget_minor),
                _cap(it.budget_count),
            ]
        for it in items:
            day, week = day_week(it.ts_s)
            argv += [
                it.group,
                devices[it.device_id],
                campaigns[it.campaign_id][0],
                day,
                week,
            ]
        try:
            codes = await packed_command(
                self.redis, "EVALSHA", self._reserve.sha, len(keys), *keys, *argv
            )
        except NoScriptError:
            codes = await self._reserve(keys=keys, args=argv)  # loads the script
        if codes == -1:
            return None
        return [RESERVE_REASONS[int(c)] for c in codes]

    async def rebuild(self, counters: Counters) -> int:
        """Overwrite the counters with ``counters`` and mark them complete.

        With an empty ``counters.device``, only the budgets are overwritten (the
        device counters are left as they are).
        """
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

    async def erase_device(self, device_id: str) -> int:
        return int(
            await self.redis.delete(device_counters_key(self.tenant_id, device_id))
        )

    async def budget(self, campaign_id: str) -> tuple[int, int]:
        money, count = await self.redis.hmget(
            budget_key(self.tenant_id, campaign_id), "money", "count"
        )
        return int(money or 0), int(count or 0)
