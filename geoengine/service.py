"""Geofence and ping orchestration: ports in, pure kernel calls, frozen results out."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from geoengine.errors import FenceNotFoundError, InvalidInputError
from geoengine.events import EventParams
from geoengine.fusion import FusionParams
from geoengine.geometry import GeometryParams, fence_geometry_from_geojson
from geoengine.index import ContainsResult, IndexParams
from geoengine.iplocate import IpLocator
from geoengine.ping_service import (  # re-exported: the ping half of the services
    PingInput as PingInput,
)
from geoengine.ping_service import PingOutcome as PingOutcome
from geoengine.ping_service import PingService as PingService
from geoengine.ping_service import columns_from_inputs as columns_from_inputs
from geoengine.ping_service import flag_names as flag_names
from geoengine.ping_service import outcome_of as outcome_of
from geoengine.ping_service import source_names as source_names
from geoengine.registry import FenceIndexRegistry, TenantFences
from geoengine.repository import (
    Consent,
    DeviceRepository,
    GeofenceRepository,
    NewFence,
    StoredFence,
    notify_fence_changes,
    on_commit,
)
from geoengine.state import DeviceStateRedis, RecordStream
from geoengine.types import (
    Geofence,
    IpLocation,
    IpStatus,
    LatLng,
)

if TYPE_CHECKING:
    from geoengine.offers_service import OfferService

WORKER_ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


Progress = Callable[..., Awaitable[None]]


async def _no_progress(*_args: object) -> None:
    return None


class ConsentRequiredError(InvalidInputError):
    """The device has no recorded location consent for this tenant."""


class ImportTooLargeError(InvalidInputError):
    """More fences in one import than allowed."""


@dataclass(frozen=True)
class GeoParams:
    """Everything the geofence services are tuned by (built from settings)."""

    geometry: GeometryParams = field(default_factory=GeometryParams)
    index: IndexParams = field(default_factory=IndexParams)
    fusion: FusionParams = field(default_factory=FusionParams)
    events: EventParams = field(default_factory=EventParams)
    device_ttl_s: int = 7 * 86400
    stream_maxlen: int = 2_000_000
    max_import: int = 50_000
    max_contains_points: int = 100_000


@dataclass(frozen=True)
class FenceInput:
    """A fence as received: GeoJSON geometry plus properties."""

    geometry: dict[str, Any]
    name: str = ""
    tag: str | None = None
    external_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    opening_hours: dict[str, Any] | None = None
    dwell_s: int | None = None
    active: bool = True
    radius_m: float | None = None


@dataclass(frozen=True)
class SavedFence:
    stored: StoredFence
    repaired: bool
    repair_note: str | None
    antimeridian_split: bool


class IpLocators:
    """Several MaxMind DB files (DB-IP ships IPv4 and IPv6 apart): first hit wins."""

    def __init__(self, locators: Sequence[IpLocator]) -> None:
        self.locators = list(locators)

    def locate(self, ip: str) -> IpLocation:
        result = IpLocation(ip, IpStatus.UNKNOWN)
        for locator in self.locators:
            result = locator.locate(ip)
            if result.status in (IpStatus.FOUND, IpStatus.PRIVATE):
                return result
        return result

    def close(self) -> None:
        for locator in self.locators:
            locator.close()


def _prepare(
    fi: FenceInput, params: GeometryParams, repair: bool, field_prefix: str = ""
) -> tuple[NewFence, Any]:
    try:
        geom = fence_geometry_from_geojson(
            fi.geometry, radius_m=fi.radius_m, repair=repair, params=params
        )
    except InvalidInputError as exc:
        if field_prefix:
            exc.field = f"{field_prefix}{exc.field}"
            exc.args = (f"{exc.field}: {exc.problem}",)
        raise
    kind = (
        "circle"
        if geom.radius_m is not None
        else "multipolygon"
        if geom.geometry.geom_type == "MultiPolygon"
        else "polygon"
    )
    new = NewFence(
        kind=kind,
        geometry=geom.geometry,
        area_m2=geom.area_m2,
        name=fi.name,
        tag=fi.tag,
        external_id=fi.external_id,
        properties=fi.properties,
        opening_hours=fi.opening_hours,
        dwell_s=fi.dwell_s,
        active=fi.active,
        center=geom.center,
        radius_m=geom.radius_m,
    )
    return new, geom


class GeofenceService:
    """Fence CRUD and queries for one tenant."""

    def __init__(
        self, repo: GeofenceRepository, registry: FenceIndexRegistry, params: GeoParams
    ) -> None:
        self.repo = repo
        self.registry = registry
        self.params = params
        self.tenant_id = repo.tenant_id

    async def _loader(self, tenant_id: uuid.UUID) -> list[Geofence]:
        return await self.repo.all_active()

    async def loaded(self) -> TenantFences:
        """This tenant's fences and index (built from PostGIS on first use)."""
        return await self.registry.get(self.tenant_id, self._loader)

    async def _changed(self, upserted: list[Geofence], removed: list[int]) -> None:
        ids = [f.id for f in upserted] + removed
        await notify_fence_changes(
            self.repo.session, self.tenant_id, ids, WORKER_ORIGIN
        )
        tenant = self.tenant_id
        on_commit(
            self.repo.session, lambda: self.registry.patch(tenant, upserted, removed)
        )

    async def create(self, fi: FenceInput, *, repair: bool = False) -> SavedFence:
        new, geom = _prepare(fi, self.params.geometry, repair)
        stored = await self.repo.create(new)
        await self._changed([stored.fence], [])
        return SavedFence(
            stored, geom.repaired, geom.repair_note, geom.antimeridian_split
        )

    async def replace(
        self, fence_id: int, fi: FenceInput, *, repair: bool = False
    ) -> SavedFence:
        new, geom = _prepare(fi, self.params.geometry, repair)
        stored = await self.repo.replace(fence_id, new)
        if stored is None:
            raise FenceNotFoundError(fence_id)
        await self._changed([stored.fence], [])
        return SavedFence(
            stored, geom.repaired, geom.repair_note, geom.antimeridian_split
        )

    async def delete(self, fence_id: int) -> None:
        if not await self.repo.delete(fence_id):
            raise FenceNotFoundError(fence_id)
        await self._changed([], [fence_id])

    async def get(self, fence_id: int) -> StoredFence:
        stored = await self.repo.get(fence_id)
        if stored is None:
            raise FenceNotFoundError(fence_id)
        return stored

    async def list(self, **filters: Any) -> list[StoredFence]:
        return await self.repo.list(**filters)

    async def import_many(
        self,
        items: Sequence[FenceInput],
        *,
        repair: bool = False,
        progress: Progress | None = None,
    ) -> list[tuple[int, str | None]]:
        """Validate every feature first (nothing is stored if one is bad).

        ``progress(stage, done, total)`` is awaited as the import advances
        (``validating``, ``storing``, ``indexing``, ``committing``, or ``failed``); the
        validation yields to the event loop between chunks.
        """
        report = progress or _no_progress
        total = len(items)
        if total > self.params.max_import:
            raise ImportTooLargeError(
                "features",
                f"at most {self.params.max_import} fences per import, got {total}",
            )
        prepared: list[NewFence] = []
        try:
            for start in range(0, total, 500):
                await report("validating", start, total)
                prepared += [
                    _prepare(
                        fi, self.params.geometry, repair, f"features[{i}].geometry."
                    )[0]
                    for i, fi in enumerate(items[start : start + 500], start)
                ]
        except InvalidInputError as exc:
            await report("failed", len(prepared), total, str(exc))
            raise
        await report("storing", total, total)
        ids = await self.repo.create_many(prepared)
        fences = [
            Geofence(
                id=i,
                geometry=n.geometry,
                name=n.name,
                tag=n.tag,
                external_id=n.external_id,
                metadata=n.properties or {},
                dwell_s=n.dwell_s,
                active=n.active,
                center=n.center,
                radius_m=n.radius_m,
            )
            for i, n in zip(ids, prepared, strict=True)
        ]
        await report("indexing", total, total)
        await self._changed(fences, [])
        await report("committing", total, total)  # the 201 answer confirms it
        return [(i, n.external_id) for i, n in zip(ids, prepared, strict=True)]

    async def contains(self, lngs: np.ndarray, lats: np.ndarray) -> ContainsResult:
        if lngs.size > self.params.max_contains_points:
            raise ImportTooLargeError(
                "points", f"at most {self.params.max_contains_points} points"
            )
        return (await self.loaded()).index.contains(lngs, lats)

    async def nearby(
        self, latlng: LatLng, radius_m: float, limit: int | None = None
    ) -> list[tuple[StoredFence, float]]:
        hits = (await self.loaded()).index.nearby(latlng, radius_m, limit)
        stored = {s.fence.id: s for s in await self.repo.get_many(i for i, _ in hits)}
        return [(stored[i], d) for i, d in hits if i in stored]


class DeviceService:
    """Consent and erasure of a tenant's devices."""

    def __init__(
        self,
        devices: DeviceRepository,
        state: DeviceStateRedis,
        stream: RecordStream,
        offers: OfferService | None = None,
    ) -> None:
        self.devices = devices
        self.state = state
        self.stream = stream
        self.offers = offers

    async def set_consents(self, items: Sequence[tuple[str, Consent]]) -> None:
        await self.devices.set_consents(items)
        await self.state.cache_consents(
            {d: (c.location, c.marketing) for d, c in items}
        )

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        return await self.devices.events(**filters)

    async def erase(self, device_id: str) -> dict[str, int]:
        queued = await self.stream.erase_device(device_id)
        await self.state.erase(device_id)
        counts = await self.devices.erase_device(device_id)
        counts["queued_records"] = queued
        if self.offers is not None:
            counts |= await self.offers.erase_device(device_id)
        return counts
