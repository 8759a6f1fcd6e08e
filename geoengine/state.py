"""Redis state of the geofence engine. Only this module names its keys.

Key scheme (the part in braces is the Redis Cluster hash tag):

* ``gd:{<tenant>:<device>}``: one device's state as one string: a length byte,
  the fused state (``DeviceState.to_bytes``), then its fence memberships
  (``events.encode_memberships``). Expires after ``device_ttl_s`` without pings.
* ``gc:{<tenant>:<device>}``: the device's consent cache, ``"LM"`` (location
  and marketing as ``1``/``0``); PostgreSQL holds the truth.

  Both keys of a device share its hash tag, so devices shard evenly across a
  Redis Cluster and a device's keys stay together. A whole batch is read with
  one ``MGET`` and written with one script call (on a cluster, the client splits
  them per slot: ``mget_nonatomic`` and per-node pipelines).
* ``gs:{<tenant>}``: the tenant's stream of ping and event records, consumed by
  the ``persist`` consumer group that writes them to PostGIS (at-least-once;
  the tables are idempotent on event id).
* ``gs:streams``: the set of tenant streams, for consumers to discover.
* channel ``geofence-changes``: fence ids changed, so every worker patches its
  in-memory index.
"""

from __future__ import annotations

import functools
import math
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from data.redis import packed_command, packed_pipeline
from geoengine.errors import StateError
from geoengine.events import Membership, decode_memberships, encode_memberships
from geoengine.fusion import _STATE_FMT, _STATE_VERSION, DeviceState

CHANGES_CHANNEL = "geofence-changes"
STREAMS_SET = "gs:streams"
GROUP = "persist"


def device_key(tenant_id: uuid.UUID, device_id: str) -> str:
    return f"gd:{{{tenant_id}:{device_id}}}"


def consent_key(tenant_id: uuid.UUID, device_id: str) -> str:
    return f"gc:{{{tenant_id}:{device_id}}}"


# SET every KEYS[i] to ARGV[i + 1] with a TTL of ARGV[1] ms, in one round trip.
_SET_MANY = """
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'PX', ttl)
end
return #KEYS
"""


def _encode_record(
    state: DeviceState | None, memberships: dict[int, Membership]
) -> bytes:
    s = state.to_bytes() if state is not None else b""
    return bytes([len(s)]) + s + encode_memberships(memberships)


def _decode_record(
    blob: bytes | None,
) -> tuple[DeviceState | None, dict[int, Membership]]:
    if not blob:
        return None, {}
    n = blob[0]
    state = DeviceState.from_bytes(blob[1 : 1 + n]) if n else None
    return state, decode_memberships(blob[1 + n :])


# Saves of fewer devices than this go out in one pipeline with their stream record.
_SMALL_SAVE = 32
_STATE = struct.Struct(_STATE_FMT)
_STATE_LEN = bytes([_STATE.size])


def _decode_into(
    blob: bytes, k: int, out: tuple[npt.NDArray[np.float64], ...]
) -> dict[int, Membership]:
    """Decode a device blob: its state into ``out[*][k]``, memberships returned."""
    n = blob[0]
    if n:
        version, *values = _STATE.unpack_from(blob, 1)
        if n != _STATE.size or version != _STATE_VERSION:
            raise StateError(f"state: cannot decode {n} bytes (version {version})")
        for a, v in zip(out, values, strict=True):
            a[k] = v
    return decode_memberships(blob[1 + n :]) if len(blob) > 1 + n else {}


@functools.cache
def _consent(value: bytes) -> tuple[bool, bool]:
    return (value[0:1] == b"1", value[1:2] == b"1")


def stream_key(tenant_id: uuid.UUID) -> str:
    return f"gs:{{{tenant_id}}}"


def tenant_of_stream(key: str | bytes) -> uuid.UUID:
    text = key.decode() if isinstance(key, bytes) else key
    return uuid.UUID(text[text.index("{") + 1 : text.index("}")])


@dataclass(frozen=True)
class DeviceRecord:
    """What Redis holds for one device."""

    state: DeviceState | None
    memberships: dict[int, Membership]
    consent: tuple[bool, bool] | None  # (location, marketing); None: not cached


@dataclass(frozen=True)
class DeviceColumns:
    """What Redis holds for many devices, as arrays (one row per device)."""

    ts_s: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lng: npt.NDArray[np.float64]
    variance_m2: npt.NDArray[np.float64]
    memberships: list[dict[int, Membership]]
    consent: list[tuple[bool, bool] | None]


class DeviceStateRedis:
    """Device state and consent cache of one tenant."""

    def __init__(self, redis: Redis, tenant_id: uuid.UUID, ttl_s: int) -> None:
        self.redis = redis
        self.tenant_id = tenant_id
        self.ttl_s = ttl_s
        self._set_many = redis.register_script(_SET_MANY)
        self._dkey = f"gd:{{{tenant_id}:"
        self._ckey = f"gc:{{{tenant_id}:"

    async def load_many(self, device_ids: Sequence[str]) -> dict[str, DeviceRecord]:
        if not device_ids:
            return {}
        keys = [device_key(self.tenant_id, d) for d in device_ids]
        keys += [consent_key(self.tenant_id, d) for d in device_ids]
        values = await self.redis.mget(keys)
        n = len(device_ids)
        out = {}
        for i, d in enumerate(device_ids):
            state, memberships = _decode_record(values[i])
            c = values[n + i]
            consent = (c[0:1] == b"1", c[1:2] == b"1") if c else None
            out[d] = DeviceRecord(state, memberships, consent)
        return out

    async def load_columns(self, device_ids: Sequence[str]) -> DeviceColumns:
        """:meth:`load_many` as arrays (NaN state where a device has none)."""
        n = len(device_ids)
        out = tuple(np.full(n, math.nan) for _ in range(4))
        members: list[dict[int, Membership]] = [{} for _ in range(n)]
        if not n:
            return DeviceColumns(*out, members, [])
        dk, ck = self._dkey, self._ckey
        keys = [dk + d + "}" for d in device_ids] + [ck + d + "}" for d in device_ids]
        values = await packed_command(self.redis, "MGET", *keys)
        for k, blob in enumerate(values[:n]):
            if blob:
                members[k] = _decode_into(blob, k, out)
        consent = [(c[0:1] == b"1", c[1:2] == b"1") if c else None for c in values[n:]]
        return DeviceColumns(*out, members, consent)

    async def save_columns(
        self,
        device_ids: Sequence[str],
        states: tuple[npt.NDArray[np.float64], ...],
        memberships: Sequence[dict[int, Membership]],
        queue: tuple[RecordStream, bytes] | None = None,
    ) -> None:
        """:meth:`save_many` from arrays ``(ts_s, lat, lng, variance_m2)``.

        ``queue`` (a stream and a record from :meth:`RecordStream.encode`) is
        appended in the same round trip when the batch is small (a pipeline of
        the script call, XADD and SADD: what a single ping costs in Redis), and
        right after the state otherwise.
        """
        if not device_ids:
            if queue is not None:
                await queue[0].append_encoded(queue[1])
            return
        dk = self._dkey
        keys = [dk + d + "}" for d in device_ids]
        ts, lat, lng, var = (a.tolist() for a in states)
        pack, v = _STATE.pack, _STATE_VERSION
        blobs = [
            (
                _STATE_LEN + pack(v, ts[k], lat[k], lng[k], var[k])
                if lat[k] == lat[k]  # not NaN: the device has a state
                else b"\x00"
            )
            + (encode_memberships(m) if m else b"")
            for k, m in enumerate(memberships)
        ]
        args = [self.ttl_s * 1000, *blobs]
        if queue is not None and len(keys) < _SMALL_SAVE:
            stream, record = queue
            first: tuple[Any, ...] = (
                ("SET", keys[0], blobs[0], "PX", args[0])
                if len(keys) == 1
                else ("EVALSHA", self._set_many.sha, len(keys), *keys, *args)
            )
            result = await packed_pipeline(
                self.redis, [first, *stream.commands(record)]
            )
            if isinstance(result[0], NoScriptError):
                await self._set_many(keys=keys, args=args)  # loads the script
            for r in result:
                if isinstance(r, Exception) and not isinstance(r, NoScriptError):
                    raise r
            return
        await self._run_set_many(keys, args)
        if queue is not None:
            await queue[0].append_encoded(queue[1])

    async def _run_set_many(self, keys: list[str], args: list[Any]) -> None:
        try:
            await packed_command(
                self.redis, "EVALSHA", self._set_many.sha, len(keys), *keys, *args
            )
        except NoScriptError:
            await self._set_many(keys=keys, args=args)  # loads the script

    async def save_many(
        self, records: dict[str, tuple[DeviceState | None, dict[int, Membership]]]
    ) -> None:
        if not records:
            return
        keys = [device_key(self.tenant_id, d) for d in records]
        blobs = [_encode_record(s, m) for s, m in records.values()]
        await self._set_many(keys=keys, args=[self.ttl_s * 1000, *blobs])

    async def cache_consents(self, consents: dict[str, tuple[bool, bool]]) -> None:
        if not consents:
            return
        keys = [consent_key(self.tenant_id, d) for d in consents]
        values = [f"{int(loc)}{int(mkt)}" for loc, mkt in consents.values()]
        await self._set_many(keys=keys, args=[self.ttl_s * 1000, *values])

    async def erase(self, device_id: str) -> None:
        await self.redis.delete(
            device_key(self.tenant_id, device_id),
            consent_key(self.tenant_id, device_id),
        )


class RecordStream:
    """The tenant's stream of ping and event records bound for PostGIS."""

    def __init__(self, redis: Redis, tenant_id: uuid.UUID, maxlen: int) -> None:
        self.redis = redis
        self.key = stream_key(tenant_id)
        self.maxlen = maxlen

    async def append(
        self, pings: list[dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        if not pings and not events:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(
            self.key,
            {"d": orjson.dumps({"p": pings, "e": events})},
            maxlen=self.maxlen,
            approximate=True,
        )
        pipe.sadd(STREAMS_SET, self.key)
        await pipe.execute()

    async def append_columns(
        self, pings: dict[str, list[Any]], events: list[dict[str, Any]]
    ) -> None:
        """Queue a batch with its ping records as columns (one list per field).

        Cheaper than one dict per ping; readers get rows back from
        :func:`ping_rows`.
        """
        record = self.encode(pings, events)
        if record is not None:
            await self.append_encoded(record)

    @staticmethod
    def encode(
        pings: dict[str, list[Any]], events: list[dict[str, Any]]
    ) -> bytes | None:
        """The stream record of a batch (ping records as columns), or ``None``
        when there is nothing to queue."""
        if not pings.get("device_id") and not events:
            return None
        return orjson.dumps({"c": pings, "p": [], "e": events})

    def commands(self, record: bytes) -> list[tuple[Any, ...]]:
        """The commands that queue ``record``: XADD, and SADD of the stream's name."""
        return [
            ("XADD", self.key, "MAXLEN", "~", self.maxlen, "*", "d", record),
            ("SADD", STREAMS_SET, self.key),
        ]

    async def append_encoded(self, record: bytes) -> None:
        for r in await packed_pipeline(self.redis, self.commands(record)):
            if isinstance(r, Exception):
                raise r

    async def erase_device(self, device_id: str) -> int:
        """Remove a device's records still waiting in the stream (erasure)."""
        removed = 0
        async for batch in _scan_stream(self.redis, self.key):
            for entry_id, fields in batch:
                doc = orjson.loads(fields[b"d"])
                if _without_device(doc, device_id):
                    removed += await self.redis.xdel(self.key, entry_id)
                    if doc["p"] or doc["e"] or doc.get("c", {}).get("device_id"):
                        await self.redis.xadd(self.key, {"d": orjson.dumps(doc)})
        return removed


def ping_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The ping records of a stream entry as dicts (rows and columns alike)."""
    rows = list(doc.get("p", ()))
    cols = doc.get("c")
    if cols:
        names = list(cols)
        rows += [
            dict(zip(names, vals, strict=True))
            for vals in zip(*cols.values(), strict=True)
        ]
    return rows


def _without_device(doc: dict[str, Any], device_id: str) -> bool:
    """Drop the device's records from ``doc`` in place; True if there were any."""
    found = False
    for part in ("p", "e"):
        rows = doc.get(part, [])
        kept = [r for r in rows if r.get("device_id") != device_id]
        found |= len(kept) != len(rows)
        doc[part] = kept
    cols = doc.get("c")
    if cols and device_id in cols.get("device_id", ()):
        keep = [i for i, d in enumerate(cols["device_id"]) if d != device_id]
        doc["c"] = {k: [v[i] for i in keep] for k, v in cols.items()}
        found = True
    return found


async def _scan_stream(redis: Redis, key: str, count: int = 500):
    last = "-"
    while True:
        batch = await redis.xrange(key, min=last, max="+", count=count)
        if last != "-" and batch and batch[0][0] == last:
            batch = batch[1:]
        if not batch:
            return
        yield batch
        last = batch[-1][0]


CLAIM_EVERY_S = 5.0


class StreamConsumer:
    """Reads the tenant streams in the ``persist`` group (at-least-once)."""

    def __init__(self, redis: Redis, name: str) -> None:
        self.redis = redis
        self.name = name
        self._known: set[bytes] = set()
        # entries left by dead consumers are looked for at most every
        # CLAIM_EVERY_S (they must sit idle 30 s before they qualify anyway)
        self._claimed_at = -math.inf

    async def _ensure_groups(self) -> list[bytes]:
        keys = sorted(await self.redis.smembers(STREAMS_SET))
        for key in keys:
            if key not in self._known:
                try:
                    await self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._known.add(key)
        return keys

    async def read(
        self, count: int = 200, block_ms: int = 1000
    ) -> list[tuple[bytes, bytes, dict[str, Any]]]:
        """New entries (and entries idle too long in another consumer's hands)."""
        keys = await self._ensure_groups()
        if not keys:
            return []
        out: list[tuple[bytes, bytes, dict[str, Any]]] = []
        now = time.monotonic()
        claim = now - self._claimed_at >= CLAIM_EVERY_S
        if claim:
            self._claimed_at = now
        for key in keys if claim else ():
            claimed = await self.redis.xautoclaim(
                key, GROUP, self.name, min_idle_time=30_000, count=count
            )
            for entry_id, fields in claimed[1]:
                if fields:
                    out.append((key, entry_id, orjson.loads(fields[b"d"])))
        streams = await self.redis.xreadgroup(
            GROUP,
            self.name,
            dict.fromkeys(keys, ">"),
            count=count,
            block=None if out else block_ms,
        )
        for key, entries in streams or []:
            for entry_id, fields in entries:
                out.append((key, entry_id, orjson.loads(fields[b"d"])))
        return out

    async def ack(self, key: bytes, entry_ids: Sequence[bytes]) -> None:
        if entry_ids:
            await self.redis.xack(key, GROUP, *entry_ids)


async def publish_changes(
    redis: Redis, tenant_id: uuid.UUID, fence_ids: Sequence[int]
) -> None:
    """Tell every worker that these fences of the tenant changed."""
    await redis.publish(
        CHANGES_CHANNEL,
        orjson.dumps({"tenant": str(tenant_id), "ids": list(fence_ids)}),
    )
