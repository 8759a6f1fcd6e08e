"""Pings as columns: a batch is a few arrays, not one object per ping.

:class:`PingColumns` is what :meth:`~geoengine.ping_service.PingService.ingest_columns`
takes and :class:`PingBatchResult` what it gives back. :func:`columns_from_json`
builds the columns straight from parsed JSON objects, checking every value the
way the API's request schema does; whenever it meets anything it is not sure
about (a value of another type, an unusual timestamp, an unknown key), it
answers None and the caller validates the slow, exact way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from geoengine.types import FenceEvent, IpLocation

F64 = npt.NDArray[np.float64]

_DEVICE_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")
# What the fast path parses itself; anything else goes to the exact validator.
_ISO_TS = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?"
)
_KEYS = frozenset(
    (
        "device_id",
        "timestamp",
        "lat",
        "lon",
        "accuracy_m",
        "ip",
        "speed_mps",
        "heading_deg",
        "mocked",
    )
)
_NUM = (int, float)


@dataclass(frozen=True)
class PingColumns:
    """A batch of pings, one entry per ping in every column.

    Missing numbers are NaN; ``ips`` holds None where no IP was given.
    """

    device_ids: list[str]
    ts_s: F64
    lat: F64
    lng: F64
    accuracy_m: F64
    ips: list[str | None]
    mocked: npt.NDArray[np.bool_]
    speed_mps: F64 | None = None
    heading_deg: F64 | None = None

    def __len__(self) -> int:
        return len(self.device_ids)

    def __post_init__(self) -> None:
        n = len(self.device_ids)
        sizes = (self.ts_s, self.lat, self.lng, self.accuracy_m, self.mocked)
        if any(np.shape(a) != (n,) for a in sizes) or len(self.ips) != n:
            raise ValueError("ts_s, lat, lng, accuracy_m, ips, mocked: one per ping")


@dataclass(frozen=True)
class PingBatchResult:
    """Per ping of a batch: accepted or refused, the fused estimate, its events.

    ``lat``/``lng``/``accuracy_m`` are the estimate (NaN: no position);
    ``flags`` and ``sources`` are the bit masks of
    :mod:`geoengine.fusion_batch` (decode with ``flags_of``/``sources_of``).
    """

    accepted: npt.NDArray[np.bool_]
    lat: F64
    lng: F64
    accuracy_m: F64
    ts_s: F64
    flags: npt.NDArray[np.int64]
    sources: npt.NDArray[np.int64]
    events: dict[int, list[FenceEvent]] = field(default_factory=dict)
    ip_locations: dict[int, IpLocation] = field(default_factory=dict)
    offers: dict[int, list[Any]] = field(default_factory=dict)  # IssuedOffer by row

    def __len__(self) -> int:
        return int(self.accepted.size)


def _ts_s(text: str) -> float:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _floats(values: list[Any], lo: float, hi: float, *, gt: bool = False) -> F64:
    """Column of optional numbers, or raise _Unsure (any doubt: exact path)."""
    if not set(map(type, values)) <= {int, float, type(None)}:
        raise _Unsure
    arr = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    given = ~np.isnan(arr)
    vals = arr[given]
    if not np.isfinite(vals).all():
        raise _Unsure
    low_ok = (vals > lo) if gt else (vals >= lo)
    if not (low_ok & (vals <= hi)).all():
        raise _Unsure
    return arr


class _Unsure(Exception):
    """The fast path cannot vouch for this batch."""


def columns_from_json(items: Sequence[Any]) -> PingColumns | None:
    """Columns from parsed JSON ping objects, or None if any item needs a closer look.

    Accepts exactly what the request schema accepts when every value has its
    plain JSON type (numbers as numbers, ISO 8601 timestamps); returns None for
    anything else, valid or not, so the caller's exact validator decides and
    names the offending field.
    """
    n = len(items)
    if not 1 <= n <= 10_000:
        return None
    try:
        if not all(type(p) is dict and p.keys() <= _KEYS for p in items):
            return None
        devices = [p.get("device_id") for p in items]
        stamps = [p.get("timestamp") for p in items]
        if set(map(type, devices)) != {str} or set(map(type, stamps)) != {str}:
            return None
        dev_ok, ts_ok = _DEVICE_ID.fullmatch, _ISO_TS.fullmatch
        if not all(map(dev_ok, devices)) or not all(map(ts_ok, stamps)):
            return None
        ts = np.fromiter(map(_ts_s, stamps), dtype=np.float64, count=n)
        lat = _floats([p.get("lat") for p in items], -90.0, 90.0)
        lng = _floats([p.get("lon") for p in items], -180.0, 180.0)
        acc = _floats([p.get("accuracy_m") for p in items], 0.0, 1e6, gt=True)
        speed = _floats([p.get("speed_mps") for p in items], 0.0, 400.0)
        heading = _floats([p.get("heading_deg") for p in items], 0.0, 360.0)
        ips = [p.get("ip") for p in items]
        mocked_raw = [p.get("mocked", False) for p in items]
    except (_Unsure, ValueError, OverflowError):
        return None
    if not set(map(type, mocked_raw)) <= {bool}:
        return None
    if not set(map(type, ips)) <= {str, type(None)}:
        return None
    if any(len(ip) > 64 for ip in ips if ip is not None):
        return None
    has_lat, has_lng = ~np.isnan(lat), ~np.isnan(lng)
    has_ip = np.fromiter((bool(ip) for ip in ips), dtype=bool, count=n)
    if (has_lat != has_lng).any() or not (has_lat | has_ip).all():
        return None
    return PingColumns(
        devices,
        ts,
        lat,
        lng,
        acc,
        ips,
        np.array(mocked_raw, dtype=bool),
        speed,
        heading,
    )
