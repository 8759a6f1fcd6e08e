"""``Annotated`` dependency aliases: the only way routers reach state and storage."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from redis.asyncio import Redis
from rq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, authenticate
from api.settings import Settings
from api.tax_runtime import TaxIpLocator
from api.tenancy import service_area_shape
from commerce.provider_repository import ProviderEventRepository
from commerce.provider_service import ProviderWebhookService
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
from routing.prepositioning_repository import PrepositioningRepository
from routing.prepositioning_service import PlanRunRequest, PrepositioningService
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
) -> AsyncSession:
    """One transaction per request, bound to the caller's tenant (RLS).

    The session costs nothing until its first statement. It is committed when
    the endpoint returns, before the response is sent, and rolled back on any
    error, by :func:`end_request_session`, which the API's route class
    (:class:`api.jsonroute.StrictJSONRoute`) calls around every endpoint. (A
    generator dependency would do the same at about 0.1 ms more per request:
    FastAPI wraps it in an exit stack and a shielded cancel scope.)
    """
    return request_session(request, principal.tenant_id)


def request_session(request: Request, tenant_id: uuid.UUID) -> AsyncSession:
    """The request's session, bound to ``tenant_id`` (created on first use)."""
    session: AsyncSession | None = getattr(request.state, REQUEST_SESSION, None)
    if session is None:
        session = request.app.state.sessionmaker()
        bind_tenant_lazily(session, tenant_id)
        setattr(request.state, REQUEST_SESSION, session)
    return session


REQUEST_SESSION = "db_session"


class _SessionOnDemand:
    """Stands for the request's session and creates it on first use: most pings
    never touch PostgreSQL (state and consent are in Redis), and creating a
    session costs ~30 us. The real session is the request's (committed or rolled
    back by the route class like any other)."""

    __slots__ = ("_request", "_tenant_id")

    def __init__(self, request: Request, tenant_id: uuid.UUID) -> None:
        self._request = request
        self._tenant_id = tenant_id

    def __getattr__(self, name: str) -> Any:
        return getattr(request_session(self._request, self._tenant_id), name)


async def end_request_session(request: Request, ok: bool) -> None:
    """Commit (``ok``) or roll back the request's session, if it was used."""
    session: AsyncSession | None = getattr(request.state, REQUEST_SESSION, None)
    if session is None:
        return
    setattr(request.state, REQUEST_SESSION, None)
    try:
        if session.in_transaction():
            if ok:
                await session.commit()
            else:
                await session.rollback()
    finally:
        if session.in_transaction() or session.sync_session.identity_map:
            await session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


# ---- geofence engine --------------------------------------------------------
async def get_geofence_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> GeofenceService:
    state = request.app.state
    repo = GeofenceRepository(session, principal.tenant_id)
    return GeofenceService(repo, state.fence_registry, state.geo_params)


GeofenceServiceDep = Annotated[GeofenceService, Depends(get_geofence_service)]


@dataclasses.dataclass(frozen=True, slots=True)
class _TenantRedis:
    """A tenant's Redis-backed state objects: they hold no request state, so each
    worker builds them once per tenant (each registers its Lua scripts)."""

    devices: DeviceStateRedis
    stream: RecordStream
    offers: OfferCounters


def _tenant_redis(request: Request, tenant_id: uuid.UUID) -> _TenantRedis:
    state = request.app.state
    cache: dict[uuid.UUID, _TenantRedis] = state.tenant_redis
    found = cache.get(tenant_id)
    if found is None:
        params: GeoParams = state.geo_params
        if len(cache) > 10_000:
            cache.clear()
        found = cache[tenant_id] = _TenantRedis(
            DeviceStateRedis(state.redis, tenant_id, params.device_ttl_s),
            RecordStream(state.redis, tenant_id, params.stream_maxlen),
            OfferCounters(state.redis, tenant_id),
        )
    return found


def _device_parts(
    request: Request, principal: Principal, session: AsyncSession
) -> tuple[DeviceRepository, DeviceStateRedis, RecordStream]:
    parts = _tenant_redis(request, principal.tenant_id)
    return DeviceRepository(session, principal.tenant_id), parts.devices, parts.stream


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
        _tenant_redis(request, tenant_id).offers,
        state.offer_campaign_cache,
        rebuild_repo,
    )


async def get_offer_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> OfferService:
    return offer_service(request, principal, session)


OfferServiceDep = Annotated[OfferService, Depends(get_offer_service)]


async def get_ping_service(request: Request, principal: PrincipalDep) -> PingService:
    # built here rather than from the other services' dependencies: on the ping
    # hot path every dependency FastAPI resolves costs ~10-20 us
    state = request.app.state
    session = cast(AsyncSession, _SessionOnDemand(request, principal.tenant_id))
    fences = GeofenceService(
        GeofenceRepository(session, principal.tenant_id),
        state.fence_registry,
        state.geo_params,
    )
    devices, device_state, stream = _device_parts(request, principal, session)
    settings = await tenant_settings(request, principal, session)
    return PingService(
        fences,
        devices,
        device_state,
        stream,
        state.ip_locators,
        state.geo_params,
        store_exact_points=settings.get("ping_precision", "exact") == "exact",
        service_area=settings.get(SERVICE_AREA_SHAPE),
        offers=offer_service(request, principal, session),
    )


async def tenant_settings(
    request: Request, principal: Principal, session: AsyncSession
) -> dict[str, Any]:
    """The tenant's settings, cached per worker for 30 s (a change made through this
    worker applies at once); the service area is parsed once per cache fill and
    kept under ``SERVICE_AREA_SHAPE``."""
    cache = request.app.state.tenant_settings_cache
    found = cache.get(principal.tenant_id)
    if found is None:
        found = await TenantRepository(session).settings(principal.tenant_id)
        found[SERVICE_AREA_SHAPE] = service_area_shape(found)
        cache.put(principal.tenant_id, found)
    return found


SERVICE_AREA_SHAPE = "_service_area_shape"


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
async def get_tax_service(request: Request, principal: PrincipalDep) -> TaxService:
    # a quote needs PostgreSQL only when the tenant's registrations are not cached
    session = cast(AsyncSession, _SessionOnDemand(request, principal.tenant_id))
    return await _tax_service(request, session, principal.tenant_id)


async def _tax_service(
    request: Request, session: AsyncSession, tenant_id: uuid.UUID
) -> TaxService:
    state = request.app.state
    resolver = await state.tax_resolver.get()
    ip = TaxIpLocator(state.ip_locators) if state.ip_locators is not None else None
    return TaxService(
        resolver,
        state.tax_rates,
        state.tax_rules,
        TaxRepository(session, tenant_id),
        ip,
        QuoteCache(state.redis, tenant_id),
        state.tax_registrations_cache,
    )


TaxServiceDep = Annotated[TaxService, Depends(get_tax_service)]


# ---- routing ------------------------------------------------------------------
async def _enqueue(
    queue: Queue, func: str, *args: Any, job_id: str, job_timeout: int
) -> None:
    """A job on the solver queue (rq's client is synchronous: off the event loop);
    results are kept a day."""
    await asyncio.to_thread(
        queue.enqueue,
        func,
        *args,
        job_id=job_id,
        job_timeout=job_timeout,
        result_ttl=86_400,
    )


async def get_routing_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> RoutingService:
    queue = request.app.state.routing_queue

    async def enqueue(
        tenant_id: uuid.UUID, plan_id: uuid.UUID, req: PlanRequest
    ) -> None:
        await _enqueue(
            queue,
            "api.worker.run_plan",
            str(tenant_id),
            str(plan_id),
            req.problem,
            req.params,
            job_id=str(plan_id),
            job_timeout=int(req.params.get("time_limit_s", 10) + 120),
        )

    async def run_sync(req: PlanRequest) -> RoutePlan:
        return await asyncio.to_thread(solve_request, req, None, force_workers=1)

    return RoutingService(
        RoutePlanRepository(session, principal.tenant_id), enqueue, run_sync
    )


RoutingServiceDep = Annotated[RoutingService, Depends(get_routing_service)]


# ---- warehouse pre-positioning ------------------------------------------------------
async def get_prepositioning_service(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> PrepositioningService:
    queue = request.app.state.routing_queue

    async def enqueue(
        tenant_id: uuid.UUID, plan_id: uuid.UUID, req: PlanRunRequest
    ) -> None:
        await _enqueue(
            queue,
            "api.worker.run_prepositioning",
            str(tenant_id),
            str(plan_id),
            dataclasses.asdict(req),
            job_id=f"pp-{plan_id}",
            job_timeout=int(3 * float(req.placement.get("time_limit_s", 60)) + 600),
        )

    res = (await tenant_settings(request, principal, session)).get(
        "prepositioning_h3_res", 7
    )
    return PrepositioningService(
        PrepositioningRepository(session, principal.tenant_id), enqueue, int(res)
    )


PrepositioningServiceDep = Annotated[
    PrepositioningService, Depends(get_prepositioning_service)
]


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


# ---- inbound payment-provider webhooks ------------------------------------------
async def get_webhook_session(request: Request, tenant_id: uuid.UUID) -> AsyncSession:
    """The request's session bound to the tenant named in the webhook URL (no API
    key: the provider proves itself with the tenant's signing secret); ended by
    the route class like every request session."""
    return request_session(request, tenant_id)


WebhookSessionDep = Annotated[AsyncSession, Depends(get_webhook_session)]


async def get_provider_webhook_service(
    request: Request, tenant_id: uuid.UUID, session: WebhookSessionDep
) -> ProviderWebhookService:
    commerce = CommerceService(
        CommerceRepository(session, tenant_id),
        await _tax_service(request, session, tenant_id),
        "payment-provider",
    )
    return ProviderWebhookService(ProviderEventRepository(session, tenant_id), commerce)


async def get_provider_settings_service(
    principal: PrincipalDep, session: SessionDep, commerce: CommerceServiceDep
) -> ProviderWebhookService:
    return ProviderWebhookService(
        ProviderEventRepository(session, principal.tenant_id), commerce
    )


ProviderWebhookServiceDep = Annotated[
    ProviderWebhookService, Depends(get_provider_webhook_service)
]
ProviderSettingsServiceDep = Annotated[
    ProviderWebhookService, Depends(get_provider_settings_service)
]
