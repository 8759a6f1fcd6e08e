"""Per-worker runtime of tax resolution: the in-memory resolver, rates and rules.

The resolver (H3 index + border segment trees over every jurisdiction) is built
from PostGIS on first use, in a thread so that the event loop keeps serving, and
rebuilt when the boundaries' data version changes (checked once a minute).
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from geoengine.service import IpLocators
from geoengine.types import IpStatus
from tax_zones.jurisdictions import JurisdictionResolver
from tax_zones.ports import IpPosition
from tax_zones.repository import JurisdictionRepository
from tax_zones.resolution import ResolverParams


class ResolverHolder:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache_dir: Path | None,
        params: ResolverParams | None = None,
        recheck_s: float = 60.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.cache_dir = cache_dir
        self.params = params or ResolverParams()
        self.recheck_s = recheck_s
        self._resolver: JurisdictionResolver | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> JurisdictionResolver:
        now = time.monotonic()
        if self._resolver is not None and now - self._checked < self.recheck_s:
            return self._resolver
        async with self._lock:
            async with self.sessionmaker() as session:
                repo = JurisdictionRepository(session)
                version = await repo.data_version()
                if self._resolver is None or version != self._version:
                    records = await repo.list_jurisdictions()
                    self._resolver = await asyncio.to_thread(
                        JurisdictionResolver, records, self.params, self.cache_dir
                    )
                    self._version = version
                    # long-lived: keep the collector from rescanning it (a full
                    # collection over its objects stalled quotes by ~10 ms)
                    gc.collect()
                    gc.freeze()
            self._checked = time.monotonic()
        assert self._resolver is not None
        return self._resolver


class TaxIpLocator:
    """The geofence engine's MMDB locator, seen through tax_zones' port."""

    def __init__(self, locators: IpLocators) -> None:
        self.locators = locators

    def locate(self, ip: str) -> IpPosition | None:
        loc = self.locators.locate(ip)
        if loc.status is not IpStatus.FOUND:
            return None
        if loc.latlng is None:
            return IpPosition(None, None, None, loc.country_code)
        return IpPosition(
            loc.latlng.lat, loc.latlng.lng, loc.radius_m, loc.country_code
        )
