"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from redis import Redis as SyncRedis
from rq import Queue

from api.auth import KeyCache
from api.errors import install_error_handlers
from api.geo_runtime import start_geoengine
from api.middleware import EdgeMiddleware
from api.routers import (
    commerce,
    geofences,
    health,
    offers,
    payment_provider,
    pings,
    prepositioning,
    routing,
    tax,
    tenancy,
)
from api.settings import Settings, get_settings
from api.tax_runtime import ResolverHolder
from data.db import check_app_role, make_app_engine, make_sessionmaker
from data.redis import make_redis
from data.state import RateLimiter
from geoengine.offers_service import CampaignCache
from routing.state import QUEUE_NAME
from tax_zones.rates import RateTable, TaxRules
from tax_zones.state import TtlCache

DESCRIPTION = """
Geospatial commerce and logistics: geofences and location pings, border-aware tax
resolution, route planning, orders and billing.

Authenticate with `Authorization: Bearer <api key>`. Every error is an RFC 9457
`application/problem+json` document. IP geolocation by DB-IP (CC BY 4.0);
US boundaries from the U.S. Census Bureau.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_app_engine(
        settings.resolved_app_database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    await check_app_role(engine)
    redis = make_redis(settings.resolved_redis_url())
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.redis = redis
    app.state.rate_limiter = RateLimiter(
        redis, settings.rate_limit_per_second, settings.rate_limit_burst
    )
    app.state.key_cache = KeyCache(settings.api_key_cache_s)
    geo = start_geoengine(app, settings)
    app.state.tax_resolver = ResolverHolder(
        app.state.sessionmaker, settings.local_dir / "tax-index-cache"
    )
    app.state.tax_rates = RateTable.from_csv(settings.tax_rates_csv)
    app.state.tax_rules = TaxRules.from_csv(settings.tax_rules_dir)
    app.state.tax_registrations_cache = TtlCache(30.0)
    app.state.tenant_settings_cache = TtlCache(30.0)
    app.state.offer_campaign_cache = CampaignCache()
    app.state.tenant_redis = {}  # api.deps._tenant_redis
    app.state.routing_queue = Queue(
        QUEUE_NAME, connection=SyncRedis.from_url(settings.resolved_redis_url())
    )
    # Build the tax resolver in the background so the first checkout need not wait.
    gc.collect()
    gc.freeze()  # start-up objects live as long as the worker: never rescan them
    warm = asyncio.create_task(
        _warm(app.state.tax_resolver)
        if settings.warm_tax_resolver
        else asyncio.sleep(0)
    )
    try:
        yield
    finally:
        warm.cancel()
        await geo.stop()
        await redis.aclose()
        await engine.dispose()


async def _warm(holder: ResolverHolder) -> None:
    try:
        await holder.get()
    except Exception:  # no jurisdictions yet, or the database is down: built on demand
        logging.getLogger("geocommerce.tax").warning("tax resolver not warmed up")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the lifespan opens and closes the pools."""
    settings = settings or get_settings()
    app = FastAPI(
        title="geocommerce", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Routes are matched in order: the hot ones (pings, tax) first; no path of one
    # router overlaps another's, so the order changes nothing else.
    app.include_router(health.router)
    app.include_router(pings.router)
    app.include_router(tax.router)
    app.include_router(tenancy.router)
    app.include_router(geofences.router)
    app.include_router(routing.router)
    app.include_router(prepositioning.router)
    app.include_router(commerce.router)
    app.include_router(payment_provider.router)
    app.include_router(offers.router)
    _document_models(app, pings.REFERENCED_MODELS)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits={"/v1/geofences/import": settings.max_import_body_bytes},
    )
    return app


def _document_models(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add ``models`` to the OpenAPI components (bodies that routes validate
    themselves refer to them, so FastAPI does not collect them)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = default()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
                for name, sub in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, sub)
                schemas.setdefault(model.__name__, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
