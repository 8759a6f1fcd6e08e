"""Per-worker in-memory fence indexes, one per tenant, kept in step with PostGIS.

A tenant's index is built from PostGIS on first use (so a restart rebuilds it) and
then patched, never rebuilt: by the worker that made a change right after its
transaction commits, and by every other worker when PostgreSQL delivers the
change notification (``NOTIFY`` is transactional: it arrives only on commit).
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from geoengine.index import FenceIndex, IndexParams
from geoengine.proximity import FenceProximity
from geoengine.types import FenceId, Geofence

Loader = Callable[[uuid.UUID], Awaitable[list[Geofence]]]


class TenantFences:
    """One tenant's active fences and their index."""

    def __init__(self, fences: Iterable[Geofence], params: IndexParams) -> None:
        self.fences: dict[FenceId, Geofence] = {f.id: f for f in fences if f.active}
        self.index = FenceIndex.build(self.fences.values(), params)
        self.proximity = FenceProximity()
        self.proximity.add_many(self.fences.values())
        self.dwell_s: dict[FenceId, float | None] = {
            f.id: f.dwell_s for f in self.fences.values()
        }
        self._memo: dict[FenceId, dict[str, Any]] = {}

    def memo(self, fence_id: FenceId) -> dict[str, Any]:
        """Values derived from one fence by other parts (for example its offer
        facts), kept until the fence changes."""
        found = self._memo.get(fence_id)
        if found is None:
            found = self._memo[fence_id] = {}
        return found

    def upsert(self, fence: Geofence) -> None:
        self.remove(fence.id)
        if fence.active:
            self.index.add(fence)
            self.proximity.add(fence)
            self.fences[fence.id] = fence
            self.dwell_s[fence.id] = fence.dwell_s

    def remove(self, fence_id: FenceId) -> None:
        self._memo.pop(fence_id, None)
        if self.fences.pop(fence_id, None) is not None:
            self.index.remove(fence_id)
            self.proximity.remove(fence_id)
            self.dwell_s.pop(fence_id, None)


class FenceIndexRegistry:
    """The indexes of every tenant this worker has served."""

    def __init__(self, params: IndexParams | None = None) -> None:
        self.params = params or IndexParams()
        self._indexes: dict[uuid.UUID, TenantFences] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    def loaded(self, tenant_id: uuid.UUID) -> bool:
        return tenant_id in self._indexes

    async def get(self, tenant_id: uuid.UUID, loader: Loader) -> TenantFences:
        """The tenant's fences and index, built with ``loader`` the first time."""
        entry = self._indexes.get(tenant_id)
        if entry is not None:
            return entry
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            entry = self._indexes.get(tenant_id)
            if entry is None:
                entry = TenantFences(await loader(tenant_id), self.params)
                self._indexes[tenant_id] = entry
                # The index is long-lived: keep the collector from rescanning it.
                gc.freeze()
        return entry

    def patch(
        self,
        tenant_id: uuid.UUID,
        upserted: Iterable[Geofence],
        removed: Iterable[FenceId],
    ) -> None:
        """Apply committed changes (no-op for a tenant whose index is not built)."""
        entry = self._indexes.get(tenant_id)
        if entry is None:
            return
        for fence_id in removed:
            entry.remove(fence_id)
        for fence in upserted:
            entry.upsert(fence)

    def forget(self, tenant_id: uuid.UUID | None = None) -> None:
        """Drop one tenant's index (or all): rebuilt on next use."""
        if tenant_id is None:
            self._indexes.clear()
        else:
            self._indexes.pop(tenant_id, None)
