"""Per-worker runtime of the geofence engine: indexes, IP databases, background tasks.

* the fence-change listener (PostgreSQL ``LISTEN``) patches this worker's indexes
  when another worker commits a fence change;
* the persister moves queued ping and event records from Redis to PostGIS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from fastapi import FastAPI

from api.settings import Settings
from data.db import tenant_session
from geoengine.iplocate import IpLocator
from geoengine.persist import run_persister
from geoengine.registry import FenceIndexRegistry
from geoengine.repository import GeofenceRepository, listen_fence_changes
from geoengine.service import WORKER_ORIGIN, IpLocators
from geoengine.state import StreamConsumer

log = logging.getLogger("geocommerce.geo")


class GeoRuntime:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        locators = self.app.state.ip_locators
        if locators is not None:
            locators.close()


def start_geoengine(app: FastAPI, settings: Settings) -> GeoRuntime:
    state = app.state
    state.geo_params = settings.geo_params()
    state.fence_registry = FenceIndexRegistry(state.geo_params.index)
    paths = settings.ip_database_paths()
    state.ip_locators = IpLocators([IpLocator(p) for p in paths]) if paths else None
    runtime = GeoRuntime(app, settings)
    registry: FenceIndexRegistry = state.fence_registry

    async def on_change(payload: dict[str, Any]) -> None:
        if payload.get("reset"):
            registry.forget()
            return
        if payload.get("origin") == WORKER_ORIGIN:
            return  # this worker patched itself right after its commit
        tenant_id = uuid.UUID(payload["tenant"])
        if not registry.loaded(tenant_id):
            return
        if payload.get("all"):
            registry.forget(tenant_id)
            return
        ids = payload.get("ids", [])
        async with tenant_session(state.sessionmaker, tenant_id) as session:
            found = await GeofenceRepository(session, tenant_id).get_many(ids)
        present = {s.fence.id for s in found}
        registry.patch(
            tenant_id, [s.fence for s in found], [i for i in ids if i not in present]
        )

    runtime.tasks.append(
        asyncio.create_task(
            listen_fence_changes(
                settings.resolved_app_database_url(), on_change, runtime.stop_event
            )
        )
    )
    if settings.run_persister:
        consumer = StreamConsumer(state.redis, WORKER_ORIGIN)
        runtime.tasks.append(
            asyncio.create_task(
                run_persister(
                    consumer,
                    lambda t: tenant_session(state.sessionmaker, t),
                    runtime.stop_event,
                )
            )
        )
    return runtime
