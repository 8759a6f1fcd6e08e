"""PostGIS storage of fences, consent, pings and events. The only SQL of geoengine.

Repositories take the request's tenant-bound session (row-level security scopes
every statement to the tenant) and only ``flush()``; they return domain types.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import DeviceConsent, GeofenceEvent, Ping
from data.models import Geofence as FenceRow
from geoengine.types import FenceEvent, Geofence, LatLng


@dataclass(frozen=True)
class StoredFence:
    """A fence as stored: the engine's ``Geofence`` plus bookkeeping."""

    fence: Geofence
    kind: str
    area_m2: float
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewFence:
    """What the service hands the repository to store."""

    kind: str
    geometry: Polygon | MultiPolygon
    area_m2: float
    name: str = ""
    tag: str | None = None
    external_id: str | None = None
    properties: dict[str, Any] | None = None
    opening_hours: dict[str, Any] | None = None
    dwell_s: int | None = None
    active: bool = True
    center: LatLng | None = None
    radius_m: float | None = None


@dataclass(frozen=True)
class Consent:
    location: bool
    marketing: bool


@dataclass(frozen=True)
class StoredPing:
    tenant_id: uuid.UUID
    device_id: str
    ts: datetime
    lat: float | None
    lng: float | None
    accuracy_m: float | None
    h3_cell: int | None
    fused_lat: float | None
    fused_lng: float | None
    fused_accuracy_m: float | None
    sources: list[str]
    flags: list[str]


def _multi(geometry: Polygon | MultiPolygon) -> MultiPolygon:
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])


def _domain(row: FenceRow) -> StoredFence:
    geometry = to_shape(row.geometry)
    if isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    center = (
        LatLng(row.center_lat, row.center_lng)
        if row.center_lat is not None and row.center_lng is not None
        else None
    )
    fence = Geofence(
        id=row.id,
        geometry=geometry,
        name=row.name,
        tag=row.tag,
        external_id=row.external_id,
        metadata=row.properties or {},
        dwell_s=row.dwell_s,
        active=row.active,
        center=center,
        radius_m=row.radius_m,
        opening_hours=row.opening_hours,
    )
    return StoredFence(fence, row.kind, row.area_m2, row.created_at, row.updated_at)


def _values(tenant_id: uuid.UUID, new: NewFence) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "kind": new.kind,
        "geometry": from_shape(_multi(new.geometry), srid=4326),
        "area_m2": new.area_m2,
        "name": new.name,
        "tag": new.tag,
        "external_id": new.external_id,
        "properties": new.properties or {},
        "opening_hours": new.opening_hours,
        "dwell_s": new.dwell_s,
        "active": new.active,
        "center_lat": new.center.lat if new.center else None,
        "center_lng": new.center.lng if new.center else None,
        "radius_m": new.radius_m,
    }


_INSERT_PINGS = text(
    """
    INSERT INTO pings (ts, tenant_id, device_id, lat, lng, accuracy_m, h3_cell,
                       fused_lat, fused_lng, fused_accuracy_m, sources, flags)
    SELECT t.ts, CAST(:tenant AS uuid), t.device, t.lat, t.lng, t.acc, t.h3,
           t.flat, t.flng, t.facc, string_to_array(t.src, ','),
           string_to_array(t.flg, ',')
    FROM unnest(
        CAST(:ts AS timestamptz[]), CAST(:device AS text[]),
        CAST(:lat AS float8[]), CAST(:lng AS float8[]), CAST(:acc AS float8[]),
        CAST(:h3 AS bigint[]), CAST(:flat AS float8[]), CAST(:flng AS float8[]),
        CAST(:facc AS float8[]), CAST(:src AS text[]), CAST(:flg AS text[])
    ) AS t(ts, device, lat, lng, acc, h3, flat, flng, facc, src, flg)
    """
)


class GeofenceRepository:
    """Fences of the session's tenant."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def create(self, new: NewFence) -> StoredFence:
        row = FenceRow(**_values(self.tenant_id, new))
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return _domain(row)

    async def create_many(self, fences: Sequence[NewFence]) -> list[int]:
        """Insert many fences in one statement per chunk; ids in input order."""
        ids: list[int] = []
        for start in range(0, len(fences), 2000):
            chunk = [_values(self.tenant_id, f) for f in fences[start : start + 2000]]
            result = await self.session.execute(
                insert(FenceRow).returning(FenceRow.id, sort_by_parameter_order=True),
                chunk,
            )
            ids.extend(result.scalars().all())
        return ids

    async def get(self, fence_id: int) -> StoredFence | None:
        row = await self.session.get(FenceRow, fence_id)
        return _domain(row) if row else None

    async def replace(self, fence_id: int, new: NewFence) -> StoredFence | None:
        row = await self.session.get(FenceRow, fence_id)
        if row is None:
            return None
        for key, value in _values(self.tenant_id, new).items():
            setattr(row, key, value)
        row.updated_at = datetime.now(UTC)
        await self.session.flush()
        await self.session.refresh(row)
        return _domain(row)

    async def delete(self, fence_id: int) -> bool:
        result = await self.session.execute(
            delete(FenceRow).where(FenceRow.id == fence_id).returning(FenceRow.id)
        )
        return result.first() is not None

    async def list(
        self,
        *,
        tag: str | None = None,
        active: bool | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[StoredFence]:
        stmt = select(FenceRow).where(FenceRow.id > after_id)
        if tag is not None:
            stmt = stmt.where(FenceRow.tag == tag)
        if active is not None:
            stmt = stmt.where(FenceRow.active.is_(active))
        rows = await self.session.scalars(stmt.order_by(FenceRow.id).limit(limit))
        return [_domain(r) for r in rows]

    async def all_active(self) -> list[Geofence]:
        rows = await self.session.scalars(
            select(FenceRow).where(FenceRow.active.is_(True)).order_by(FenceRow.id)
        )
        return [_domain(r).fence for r in rows]

    async def get_many(self, fence_ids: Iterable[int]) -> list[StoredFence]:
        ids = list(fence_ids)
        if not ids:
            return []
        rows = await self.session.scalars(select(FenceRow).where(FenceRow.id.in_(ids)))
        return [_domain(r) for r in rows]

    async def count(self) -> int:
        return int(
            (
                await self.session.execute(select(func.count()).select_from(FenceRow))
            ).scalar_one()
        )


class DeviceRepository:
    """Consent, stored pings and events of the tenant's devices; erasure."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def set_consents(self, items: Sequence[tuple[str, Consent]]) -> None:
        if not items:
            return
        rows = [
            {
                "tenant_id": self.tenant_id,
                "device_id": device_id,
                "location": c.location,
                "marketing": c.marketing,
            }
            for device_id, c in items
        ]
        stmt = pg_insert(DeviceConsent).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "device_id"],
            set_={
                "location": stmt.excluded.location,
                "marketing": stmt.excluded.marketing,
                "updated_at": func.now(),
            },
        )
        await self.session.execute(stmt)

    async def consents(self, device_ids: Sequence[str]) -> dict[str, Consent]:
        if not device_ids:
            return {}
        rows = await self.session.execute(
            select(
                DeviceConsent.device_id, DeviceConsent.location, DeviceConsent.marketing
            ).where(DeviceConsent.device_id.in_(list(device_ids)))
        )
        return {d: Consent(loc, mkt) for d, loc, mkt in rows}

    async def store_pings(self, pings: Sequence[StoredPing]) -> None:
        """Insert pings in one statement: columns as arrays, expanded by ``unnest``.

        (``COPY FROM`` would be faster still, but PostgreSQL refuses it on tables
        with row-level security; one array insert per batch is within a small
        factor of it and keeps the policy in force.)
        """
        if not pings:
            return
        await self.session.execute(
            _INSERT_PINGS,
            {
                "tenant": self.tenant_id,
                "ts": [p.ts for p in pings],
                "device": [p.device_id for p in pings],
                "lat": [p.lat for p in pings],
                "lng": [p.lng for p in pings],
                "acc": [p.accuracy_m for p in pings],
                "h3": [p.h3_cell for p in pings],
                "flat": [p.fused_lat for p in pings],
                "flng": [p.fused_lng for p in pings],
                "facc": [p.fused_accuracy_m for p in pings],
                "src": [",".join(p.sources) for p in pings],
                "flg": [",".join(p.flags) for p in pings],
            },
        )

    async def store_events(
        self,
        tenant_id: uuid.UUID,
        events: Sequence[FenceEvent],
        accuracy: dict[str, float | None],
    ) -> int:
        """Insert events, skipping ids already stored (at-least-once delivery)."""
        if not events:
            return 0
        rows = [
            {
                "event_id": e.event_id,
                "ts": datetime.fromtimestamp(e.ts_s, UTC),
                "tenant_id": tenant_id,
                "device_id": e.device_id,
                "fence_id": e.fence_id,
                "kind": e.kind.value,
                "probability": e.probability,
                "lat": e.latlng.lat if e.latlng else None,
                "lng": e.latlng.lng if e.latlng else None,
                "accuracy_m": accuracy.get(e.event_id),
            }
            for e in events
        ]
        stmt = pg_insert(GeofenceEvent).values(rows).on_conflict_do_nothing()
        result = await self.session.execute(stmt)
        return int(result.rowcount or 0)

    async def events(
        self,
        *,
        device_id: str | None = None,
        fence_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        stmt = select(GeofenceEvent)
        if device_id is not None:
            stmt = stmt.where(GeofenceEvent.device_id == device_id)
        if fence_id is not None:
            stmt = stmt.where(GeofenceEvent.fence_id == fence_id)
        if start is not None:
            stmt = stmt.where(GeofenceEvent.ts >= start)
        if end is not None:
            stmt = stmt.where(GeofenceEvent.ts < end)
        rows = await self.session.scalars(
            stmt.order_by(GeofenceEvent.ts, GeofenceEvent.event_id).limit(limit)
        )
        return [
            {
                "event_id": r.event_id,
                "ts": r.ts,
                "device_id": r.device_id,
                "fence_id": r.fence_id,
                "kind": r.kind,
                "probability": r.probability,
                "lat": r.lat,
                "lng": r.lng,
                "accuracy_m": r.accuracy_m,
            }
            for r in rows
        ]

    async def erase_device(self, device_id: str) -> dict[str, int]:
        """Delete a device's pings, events and consent; counts per table."""
        counts = {}
        for name, model in (
            ("pings", Ping),
            ("events", GeofenceEvent),
            ("consent", DeviceConsent),
        ):
            result = await self.session.execute(
                delete(model).where(model.device_id == device_id)
            )
            counts[name] = int(result.rowcount or 0)
        return counts

    async def ping_count(self, device_id: str) -> int:
        return int(
            (
                await self.session.execute(
                    text("SELECT count(*) FROM pings WHERE device_id = :d"),
                    {"d": device_id},
                )
            ).scalar_one()
        )


CHANGES_CHANNEL = "geofence_changes"
_MAX_IDS_PER_NOTIFY = 400


async def notify_fence_changes(
    session: AsyncSession, tenant_id: uuid.UUID, fence_ids: Sequence[int], origin: str
) -> None:
    """Queue a change notification; PostgreSQL delivers it only if we commit."""
    import orjson

    payload: dict[str, Any] = {"tenant": str(tenant_id), "origin": origin}
    if len(fence_ids) > _MAX_IDS_PER_NOTIFY:
        payload["all"] = True
    else:
        payload["ids"] = list(fence_ids)
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANGES_CHANNEL, "payload": orjson.dumps(payload).decode()},
    )


def on_commit(session: AsyncSession, callback: Any) -> None:
    """Run ``callback()`` once, right after the session's transaction commits."""
    from sqlalchemy import event

    event.listen(session.sync_session, "after_commit", lambda _s: callback(), once=True)


async def listen_fence_changes(url: str, handle: Any, stop: Any) -> None:
    """LISTEN for fence changes and call ``await handle(payload_dict)`` for each.

    Reconnects after errors; before each (re)connection it calls
    ``await handle({"reset": True})`` since notifications may have been missed.
    """
    import asyncio

    import orjson
    import psycopg

    from data.db import normalise_url

    dsn = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(
                dsn, autocommit=True
            ) as conn:
                await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                await handle({"reset": True})
                gen = conn.notifies()
                async for note in gen:
                    await handle(orjson.loads(note.payload))
                    if stop.is_set():
                        break
        except (OSError, psycopg.Error):
            await asyncio.sleep(1.0)
