"""Ping ingestion: consent, fusion, events and queueing of a batch of pings.

Split from :mod:`geoengine.service` (which re-exports these names).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely

from geoengine.cells import latlng_to_cell
from geoengine.events_batch import evaluate_round
from geoengine.fusion_batch import FLAG_BITS, flags_of, fuse_columns, sources_of
from geoengine.geometry import FenceShape
from geoengine.offers import Trigger
from geoengine.pings_columnar import PingBatchResult, PingColumns
from geoengine.registry import TenantFences
from geoengine.repository import DeviceRepository
from geoengine.state import DeviceStateRedis, RecordStream
from geoengine.types import (
    EventKind,
    FenceEvent,
    Flag,
    IpLocation,
    IpStatus,
    LatLng,
    PositionEstimate,
)

if TYPE_CHECKING:
    from geoengine.offers_service import OfferService
    from geoengine.service import GeofenceService, GeoParams, IpLocators


@dataclass(frozen=True)
class PingInput:
    device_id: str
    ts: datetime
    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    ip: str | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    mocked: bool = False


@dataclass(frozen=True)
class PingOutcome:
    """Per ping: accepted or refused, the fused estimate and the events it caused."""

    status: str  # "accepted" | "refused"
    reason: str | None
    estimate: PositionEstimate | None
    events: tuple[FenceEvent, ...] = ()
    ip_location: IpLocation | None = None


def _ts(dt: datetime) -> float:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class PingService:
    """Fuses pings, decides fence events, keeps device state, queues records."""

    def __init__(
        self,
        fences: GeofenceService,
        devices: DeviceRepository,
        state: DeviceStateRedis,
        stream: RecordStream,
        ip: IpLocators | None,
        params: GeoParams,
        store_exact_points: bool = True,
        service_area: FenceShape | None = None,
        offers: OfferService | None = None,
    ) -> None:
        self.fences = fences
        self.devices = devices
        self.state = state
        self.stream = stream
        self.ip = ip
        self.params = params
        self.store_exact_points = store_exact_points
        self.service_area = service_area
        self.offers = offers

    async def _consents(
        self, device_ids: list[str], cached: dict[str, tuple[bool, bool] | None]
    ) -> dict[str, tuple[bool, bool]]:
        """(location, marketing) consent per device (no record: neither)."""
        missing = [d for d in device_ids if cached.get(d) is None]
        loaded = await self.devices.consents(missing) if missing else {}
        if loaded:
            await self.state.cache_consents(
                {d: (c.location, c.marketing) for d, c in loaded.items()}
            )
        out = {}
        for d in device_ids:
            c = cached.get(d)
            if c is not None:
                out[d] = (bool(c[0]), bool(c[1]))
            elif d in loaded:
                out[d] = (loaded[d].location, loaded[d].marketing)
            else:
                out[d] = (False, False)
        return out

    async def ingest(self, pings: Sequence[PingInput]) -> list[PingOutcome]:
        """Fuse, evaluate and queue a batch of pings; one outcome per ping, in order.

        The object form of :meth:`ingest_columns` (same decisions).
        """
        result = await self.ingest_columns(columns_from_inputs(pings))
        return [outcome_of(result, i) for i in range(len(result))]

    async def ingest_columns(self, pings: PingColumns) -> PingBatchResult:
        """Fuse, evaluate and queue a batch of pings given as columns.

        Vectorised: pings are processed in rounds (the k-th ping of every device
        in round k, in time order per device), each round through
        ``fuse_columns`` and ``evaluate_batch_arrays`` over the whole round at
        once. Device state is read with one MGET and written with one script
        call; the records go to the stream as one entry of columns.
        """
        n = len(pings)
        codes: dict[str, int] = {}
        code = np.fromiter(
            (codes.setdefault(d, len(codes)) for d in pings.device_ids),
            dtype=np.int64,
            count=n,
        )
        device_ids = list(codes)
        loaded = await self.state.load_columns(device_ids)
        consent = await self._consents(
            device_ids, dict(zip(device_ids, loaded.consent, strict=True))
        )
        allowed = np.fromiter(
            (consent[d][0] for d in device_ids), dtype=bool, count=len(device_ids)
        )
        accepted = allowed[code] if n else np.zeros(0, dtype=bool)
        tenant_fences = await self.fences.loaded()
        nan = math.nan
        ip_given = np.zeros(n, dtype=bool)
        i_lat, i_lng, i_rad = np.full(n, nan), np.full(n, nan), np.full(n, nan)
        ip_locations: dict[int, IpLocation] = {}
        located: dict[str, IpLocation] = {}
        for i, ip in enumerate(pings.ips):
            if not ip or not accepted[i]:
                continue
            loc = located.get(ip)
            if loc is None:
                loc = (
                    self.ip.locate(ip) if self.ip else IpLocation(ip, IpStatus.UNKNOWN)
                )
                located[ip] = loc
            ip_locations[i] = loc
            ip_given[i] = True
            if (
                loc.status is IpStatus.FOUND
                and loc.latlng is not None
                and loc.radius_m is not None
            ):
                i_lat[i], i_lng[i], i_rad[i] = (
                    loc.latlng.lat,
                    loc.latlng.lng,
                    loc.radius_m,
                )

        gps_lat, gps_lng, area_flags = self._service_area_check(pings, accepted)

        # rounds: the k-th ping (in time order, then input order) of each device
        rows_acc = np.flatnonzero(accepted)
        order = rows_acc[np.lexsort((rows_acc, pings.ts_s[rows_acc], code[rows_acc]))]
        oc = code[order]
        pos = np.arange(order.size)
        first = np.ones(order.size, dtype=bool)
        first[1:] = oc[1:] != oc[:-1]
        rnd = pos - np.maximum.accumulate(np.where(first, pos, 0))

        st = (loaded.ts_s, loaded.lat, loaded.lng, loaded.variance_m2)
        members = loaded.memberships
        out_lat, out_lng = np.full(n, nan), np.full(n, nan)
        out_acc, out_ts = np.full(n, nan), pings.ts_s.astype(np.float64, copy=True)
        flags = np.zeros(n, dtype=np.int64)
        sources = np.zeros(n, dtype=np.int64)
        events: dict[int, list[FenceEvent]] = {}
        for r in range(int(rnd.max()) + 1 if rnd.size else 0):
            rows = order[rnd == r]
            dc = code[rows]
            fused = fuse_columns(
                tuple(a[dc] for a in st),  # type: ignore[arg-type]
                pings.ts_s[rows],
                gps_lat[rows],
                gps_lng[rows],
                pings.accuracy_m[rows],
                ip_given[rows],
                i_lat[rows],
                i_lng[rows],
                i_rad[rows],
                pings.mocked[rows],
                self.params.fusion,
            )
            applied = fused.applied
            # Events only where the fix moved the state (not jumped, not stale).
            acc = np.where(applied, fused.accuracy_m, nan)
            dcl = dc.tolist()
            new_members, round_events = evaluate_round(
                [device_ids[c] for c in dcl],
                fused.ts_s,
                fused.lat,
                fused.lng,
                acc,
                [members[c] for c in dcl],
                tenant_fences.proximity,
                tenant_fences.dwell_s,
                self.params.events,
            )
            for k in np.flatnonzero(applied).tolist():
                members[dcl[k]] = new_members[k]
            for k, evs in round_events.items():
                if applied[k]:
                    events[int(rows[k])] = evs
            upd = dc[applied]
            for a, v in zip(
                st, (fused.ts_s, fused.lat, fused.lng, fused.variance_m2), strict=True
            ):
                a[upd] = v[applied]
            has_pos = np.isfinite(fused.lat)
            out_lat[rows] = fused.lat
            out_lng[rows] = fused.lng
            out_acc[rows] = np.where(has_pos, fused.accuracy_m, nan)
            out_ts[rows] = np.where(has_pos, fused.ts_s, fused.fix_ts_s)
            flags[rows] = fused.flags | area_flags[rows]
            sources[rows] = np.where(has_pos, fused.sources, 0)

        offers = (
            await self._issue_offers(
                tenant_fences, events, consent, out_lat, out_lng, out_acc, flags
            )
            if events and self.offers is not None
            else {}
        )
        result = PingBatchResult(
            accepted,
            out_lat,
            out_lng,
            out_acc,
            out_ts,
            flags,
            sources,
            events,
            ip_locations,
            offers,
        )
        touched = np.unique(code[rows_acc])
        tl = touched.tolist()
        record = self.stream.encode(
            self._ping_columns(pings, result, rows_acc),
            [
                self._event_row(e, float(out_acc[i]))
                for i in sorted(events)
                for e in events[i]
            ],
        )
        await self.state.save_columns(
            [device_ids[c] for c in tl],
            tuple(a[touched] for a in st),
            [members[c] for c in tl],
            queue=(self.stream, record) if record is not None else None,
        )
        return result

    def _service_area_check(
        self, pings: PingColumns, accepted: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """GPS columns for fusion and per-ping service-area flag bits.

        Fixes outside the tenant's service area are flagged
        ``outside_service_area``; those that land inside once latitude and
        longitude are swapped are also flagged ``swapped_coordinates`` and blanked
        for fusion (the position is wrong, not merely far away). One vectorised
        point-in-polygon test per batch (two when some fall outside).
        """
        n = len(pings)
        area_flags = np.zeros(n, dtype=np.int64)
        if self.service_area is None or not n:
            return pings.lat, pings.lng, area_flags
        lat, lng = pings.lat, pings.lng
        rows = np.flatnonzero(accepted & np.isfinite(lat) & np.isfinite(lng))
        inside = shapely.intersects_xy(self.service_area, lng[rows], lat[rows])
        out = rows[~inside]
        if not out.size:
            return lat, lng, area_flags
        area_flags[out] = FLAG_BITS[Flag.OUTSIDE_SERVICE_AREA]
        cand = out[np.abs(lng[out]) <= 90.0]
        swapped = cand[shapely.intersects_xy(self.service_area, lat[cand], lng[cand])]
        if not swapped.size:
            return lat, lng, area_flags
        area_flags[swapped] |= FLAG_BITS[Flag.SWAPPED_COORDINATES]
        lat, lng = lat.copy(), lng.copy()
        lat[swapped] = np.nan
        lng[swapped] = np.nan
        return lat, lng, area_flags

    async def _issue_offers(
        self,
        tenant_fences: TenantFences,
        events: dict[int, list[FenceEvent]],
        consent: dict[str, tuple[bool, bool]],
        lat: npt.NDArray[np.float64],
        lng: npt.NDArray[np.float64],
        acc: npt.NDArray[np.float64],
        flags: npt.NDArray[np.int64],
    ) -> dict[int, list[Any]]:
        """Offers for the enter/dwell events of the batch (not evaluated per ping)."""
        assert self.offers is not None
        triggers: list[Trigger] = []
        for i, evs in events.items():
            for e in evs:
                if e.kind is EventKind.EXIT:
                    continue
                triggers.append(
                    Trigger(
                        i,
                        e.device_id,
                        e.fence_id,
                        e.kind,
                        e.ts_s,
                        float(acc[i]),
                        frozenset(flag_names(int(flags[i]))),
                        consent.get(e.device_id, (False, False))[1],
                    )
                )
        if not triggers:
            return {}
        rows = [t.row for t in triggers]
        return await self.offers.issue(
            triggers, lat[rows].tolist(), lng[rows].tolist(), tenant_fences
        )

    def _ping_columns(
        self, pings: PingColumns, res: PingBatchResult, rows: npt.NDArray[np.int64]
    ) -> dict[str, list[Any]]:
        """The stream records of the accepted pings, as columns (NaN: null)."""
        exact = self.store_exact_points
        k = len(rows)
        none = [None] * k
        rl = rows.tolist()
        lat, lng = pings.lat[rows].tolist(), pings.lng[rows].tolist()
        if exact:
            cells: list[str | None] = none
        else:
            cells = [
                latlng_to_cell(LatLng(a, b), 9) if a == a else None
                for a, b in zip(lat, lng, strict=True)
            ]
        return {
            "device_id": [pings.device_ids[i] for i in rl],
            "ts": pings.ts_s[rows].tolist(),
            "lat": lat if exact else none,
            "lng": lng if exact else none,
            "accuracy_m": _nullable(pings.accuracy_m[rows]),
            "h3_cell": cells,
            "fused_lat": _nullable(res.lat[rows]) if exact else none,
            "fused_lng": _nullable(res.lng[rows]) if exact else none,
            "fused_accuracy_m": _nullable(res.accuracy_m[rows]),
            "sources": [source_names(b) for b in res.sources[rows].tolist()],
            "flags": [flag_names(b) for b in res.flags[rows].tolist()],
        }

    @staticmethod
    def _event_row(e: FenceEvent, accuracy_m: float) -> dict[str, Any]:
        return {
            "event_id": e.event_id,
            "device_id": e.device_id,
            "fence_id": e.fence_id,
            "kind": e.kind.value,
            "ts": e.ts_s,
            "probability": e.probability,
            "lat": e.latlng.lat if e.latlng else None,
            "lng": e.latlng.lng if e.latlng else None,
            "accuracy_m": accuracy_m if accuracy_m == accuracy_m else None,
        }


def _nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [v if v == v else None for v in values.tolist()]


@functools.cache
def source_names(bits: int) -> tuple[str, ...]:
    """Names of the sources in a ``FusionArrays.sources`` bit mask (cached)."""
    return tuple(s.value for s in sources_of(bits))


@functools.cache
def flag_names(bits: int) -> tuple[str, ...]:
    """Sorted names of the flags in a ``FusionArrays.flags`` bit mask (cached)."""
    return tuple(sorted(f.value for f in flags_of(bits)))


def columns_from_inputs(pings: Sequence[PingInput]) -> PingColumns:
    """:class:`PingColumns` of :class:`PingInput` objects."""
    nan = math.nan

    def col(values: Any) -> npt.NDArray[np.float64]:
        return np.array(
            [nan if v is None else v for v in values], dtype=np.float64
        ).reshape(-1)

    return PingColumns(
        [p.device_id for p in pings],
        col(_ts(p.ts) for p in pings),
        col([p.lat if p.lng is not None else None for p in pings]),
        col([p.lng if p.lat is not None else None for p in pings]),
        col([p.accuracy_m for p in pings]),
        [p.ip for p in pings],
        np.array([p.mocked for p in pings], dtype=bool).reshape(-1),
        col([p.speed_mps for p in pings]),
        col([p.heading_deg for p in pings]),
    )


def outcome_of(result: PingBatchResult, i: int) -> PingOutcome:
    """Ping ``i`` of a batch result as a :class:`PingOutcome`."""
    if not result.accepted[i]:
        return PingOutcome("refused", "no_location_consent", None)
    lat = float(result.lat[i])
    flag_set = flags_of(int(result.flags[i]))
    if math.isfinite(lat):
        est = PositionEstimate(
            LatLng(lat, float(result.lng[i])),
            float(result.accuracy_m[i]),
            float(result.ts_s[i]),
            sources_of(int(result.sources[i])),
            flag_set,
        )
    else:
        est = PositionEstimate(None, None, float(result.ts_s[i]), (), flag_set)
    return PingOutcome(
        "accepted",
        None,
        est,
        tuple(result.events.get(i, ())),
        result.ip_locations.get(i),
    )
