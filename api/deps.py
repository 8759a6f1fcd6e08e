"""``Annotated`` dependency aliases: the only way routers reach state and storage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, authenticate
from api.settings import Settings
from api.tax_runtime import TaxIpLocator
from commerce.repository import CommerceRepository
from commerce.service import CommerceService
from data.db import bind_tenant_lazily, tenant_session
from data.repository import TenantRepository
from geoengine.offers_repository import OfferRepository
from geoengine.offers_service import OfferService
from geoengine.offers_state import OfferCounters
from geoengine.repository import DeviceRepository, GeofenceRepository
from geoengine.service import DeviceService, GeofenceService, GeoParams, PingService
from geoengine.state import DeviceStateRedis, RecordStream
from routing.plan import RoutePlan
from routing.repository import RoutePlanRepository
from routing.service import PlanRequest, RoutingService, solve_request
from tax_zones.repository import TaxRepository
from tax_zones.service import TaxService
from tax_zones.state import QuoteCache


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


async def get_session(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> AsyncIterator[AsyncSession]:
    """One transaction per request, bound to the caller's tenant (RLS).

    Committed when the endpoint returns, before the response is sent (the
    dependency has ``scope="function"``), rolled back on any error.
    """
    async with request.app.state.sessionmaker() as session, session.begin():
        bind_tenant_lazily(session, principal.tenant_id)
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


# ---- geofence engine --------------------------------------------------------
async def get_geofence_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> GeofenceService:
    state = request.app.state
    repo = GeofenceRepository(session, principal.tenant_id)
    return GeofenceService(repo, state.fence_registry, state.geo_params)


GeofenceServiceDep = Annotated[GeofenceService, Depends(get_geofence_service)]


def _device_parts(
    request: Request, principal: Principal, session: AsyncSession
) -> tuple[DeviceRepository, DeviceStateRedis, RecordStream]:
    state = request.app.state
    params: GeoParams = state.geo_params
    return (
        DeviceRepository(session, principal.tenant_id),
        DeviceStateRedis(state.redis, principal.tenant_id, params.device_ttl_s),
        RecordStream(state.redis, principal.tenant_id, params.stream_maxlen),
    )


def offer_service(
    request: Request, principal: Principal, session: AsyncSession
) -> OfferService:
    """Offers of the caller's tenant; rebuilds run in a transaction of their own."""
    state = request.app.state
    tenant_id = principal.tenant_id

    @asynccontextmanager
    async def rebuild_repo() -> AsyncIterator[OfferRepository]:
        async with tenant_session(state.sessionmaker, tenant_id) as own:
            yield OfferRepository(own, tenant_id)

    return OfferService(
        OfferRepository(session, tenant_id),
        OfferCounters(state.redis, tenant_id),
        state.offer_campaign_cache,
        rebuild_repo,
    )


async def get_offer_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> OfferService:
    return offer_service(request, principal, session)


OfferServiceDep = Annotated[OfferService, Depends(get_offer_service)]


async def get_ping_service(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    fences: GeofenceServiceDep,
    offers: OfferServiceDep,
) -> PingService:
    devices, device_state, stream = _device_parts(request, principal, session)
    return PingService(
        fences,
        devices,
        device_state,
        stream,
        request.app.state.ip_locators,
        request.app.state.geo_params,
        store_exact_points=(await tenant_settings(request, principal, session)).get(
            "ping_precision", "exact"
        )
        == "exact",
        offers=offers,
    )


async def tenant_settings(
    request: Request, principal: Principal, session: AsyncSession
) -> dict[str, Any]:
    """The tenant's settings, cached per worker for 30 s (a change made through this
    worker applies at once)."""
    cache = request.app.state.tenant_settings_cache
    found = cache.get(principal.tenant_id)
    if found is None:
        found = await TenantRepository(session).settings(principal.tenant_id)
        cache.put(principal.tenant_id, found)
    return found


async def get_device_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> DeviceService:
    return DeviceService(
        *_device_parts(request, principal, session),
        offers=offer_service(request, principal, session),
    )


PingServiceDep = Annotated[PingService, Depends(get_ping_service)]
DeviceServiceDep = Annotated[DeviceService, Depends(get_device_service)]


# ---- tax ----------------------------------------------------------------------
async def get_tax_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> TaxService:
    state = request.app.state
    resolver = await state.tax_resolver.get()
    ip = TaxIpLocator(state.ip_locators) if state.ip_locators is not None else None
    return TaxService(
        resolver,
        state.tax_rates,
        state.tax_rules,
        TaxRepository(session, principal.tenant_id),
        ip,
        QuoteCache(state.redis, principal.tenant_id),
        state.tax_registrations_cache,
    )


TaxServiceDep = Annotated[TaxService, Depends(get_tax_service)]


# ---- routing ------------------------------------------------------------------
async def get_routing_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> RoutingService:
    queue = request.app.state.routing_queue

    async def enqueue(
        tenant_id: uuid.UUID, plan_id: uuid.UUID, req: PlanRequest
    ) -> None:
        await asyncio.to_thread(
            queue.enqueue,
            "api.worker.run_plan",
            str(tenant_id),
            str(plan_id),
            req.problem,
            req.params,
            job_id=str(plan_id),
            job_timeout=int(req.params.get("time_limit_s", 10) + 120),
            result_ttl=86_400,
        )

    async def run_sync(req: PlanRequest) -> RoutePlan:
        return await asyncio.to_thread(solve_request, req, None, force_workers=1)

    return RoutingService(
        RoutePlanRepository(session, principal.tenant_id), enqueue, run_sync
    )


RoutingServiceDep = Annotated[RoutingService, Depends(get_routing_service)]


# ---- commerce -------------------------------------------------------------------
async def get_commerce_service(
    principal: PrincipalDep,
    session: SessionDep,
    tax: TaxServiceDep,
    offers: OfferServiceDep,
) -> CommerceService:
    return CommerceService(
        CommerceRepository(session, principal.tenant_id),
        tax,
        principal.actor,
        offers=offers,
    )


CommerceServiceDep = Annotated[CommerceService, Depends(get_commerce_service)]
