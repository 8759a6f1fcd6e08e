"""PostGIS storage of proximity offers: the only SQL of the offers feature.

Built with the request's session (bound to one tenant by RLS); only flushes.
Issued offers and their decisions are written in the ping request's
transaction; a redemption is written in the order's transaction. Webhook
pushes go through commerce's outbox table (``offer.issued``), so the existing
signed, retried delivery carries them.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import (
    DeviceCustomer,
    Offer,
    OfferCampaign,
    OfferSettings,
)
from geoengine.offers import CustomerFacts, day_week

# Orders that count as purchases (drafts and cancellations do not).
PURCHASED = ("placed", "paid", "fulfilled")


@dataclass(frozen=True)
class StoredCampaign:
    campaign_id: str
    name: str
    active: bool
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TenantOfferSettings:
    key_version: int
    secret: bytes
    device_cap_per_day: int | None
    device_cap_per_week: int | None


@dataclass(frozen=True)
class NewOffer:
    offer_id: uuid.UUID
    campaign_id: str
    device_id: str
    customer_id: str | None
    fence_id: int
    store_fence_id: int
    issued_at: datetime
    expires_at: datetime
    currency: str
    value_minor: int
    code: str


@dataclass(frozen=True)
class NewDecision:
    campaign_id: str
    device_id: str
    fence_id: int
    ts: datetime
    outcome: str
    offer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class StoredOffer:
    offer_id: uuid.UUID
    campaign_id: str
    device_id: str
    customer_id: str | None
    expires_at: datetime
    currency: str
    value_minor: int
    redeemed_at: datetime | None
    order_id: str | None


_OFFER_COLUMNS = (
    "id",
    "campaign_id",
    "device_id",
    "customer_id",
    "fence_id",
    "store_fence_id",
    "issued_at",
    "expires_at",
    "currency",
    "value_minor",
    "code",
)
_DECISION_COLUMNS = (
    "campaign_id",
    "device_id",
    "fence_id",
    "ts",
    "outcome",
    "offer_id",
)


def _json(rows: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> str:
    """Rows as a JSON array of objects (orjson: UUIDs and datetimes natively)."""
    return orjson.dumps(
        [dict(zip(columns, r, strict=True)) for r in rows], option=orjson.OPT_UTC_Z
    ).decode()


def _campaign(row: OfferCampaign) -> StoredCampaign:
    return StoredCampaign(
        str(row.id),
        row.name,
        row.active,
        dict(row.spec),
        row.created_at,
        row.updated_at,
    )


class OfferRepository:
    """Campaigns, settings, device links, issued offers, decisions, counters."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # ---- locks -------------------------------------------------------------------
    async def _lock(self, fn: str) -> None:
        await self.session.execute(
            text(f"SELECT {fn}(hashtextextended(:k, 0))"),
            {"k": f"offers:{self.tenant_id}"},
        )

    async def lock_shared(self) -> None:
        """Held by every issuer from its Redis reservation until its commit."""
        await self._lock("pg_advisory_xact_lock_shared")

    async def lock_exclusive(self) -> None:
        """Held by a rebuild: waits for in-flight issuers to commit."""
        await self._lock("pg_advisory_xact_lock")

    # ---- campaigns -----------------------------------------------------------------
    async def insert_campaign(
        self, name: str, active: bool, spec: dict[str, Any]
    ) -> StoredCampaign:
        row = OfferCampaign(
            id=uuid.uuid4(),
            tenant_id=self.tenant_id,
            name=name,
            active=active,
            spec=spec,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return _campaign(row)

    async def update_campaign(
        self, campaign_id: uuid.UUID, name: str, active: bool, spec: dict[str, Any]
    ) -> StoredCampaign | None:
        row = await self.session.get(OfferCampaign, campaign_id)
        if row is None:
            return None
        row.name, row.active, row.spec = name, active, spec
        row.updated_at = datetime.now(UTC)
        await self.session.flush()
        return _campaign(row)

    async def get_campaign(self, campaign_id: uuid.UUID) -> StoredCampaign | None:
        row = await self.session.get(OfferCampaign, campaign_id)
        return None if row is None else _campaign(row)

    async def campaigns(self, active_only: bool = False) -> list[StoredCampaign]:
        stmt = select(OfferCampaign).order_by(
            OfferCampaign.created_at, OfferCampaign.id
        )
        if active_only:
            stmt = stmt.where(OfferCampaign.active)
        return [_campaign(r) for r in await self.session.scalars(stmt)]

    # ---- settings --------------------------------------------------------------------
    async def settings(self) -> TenantOfferSettings:
        """The tenant's offer settings, created (with a new secret) on first use."""
        await self.session.execute(
            pg_insert(OfferSettings)
            .values(
                tenant_id=self.tenant_id,
                key_version=1,
                secret=secrets.token_bytes(32),
                device_cap_per_day=3,
                device_cap_per_week=10,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        row = await self.session.get(
            OfferSettings, self.tenant_id, populate_existing=True
        )
        assert row is not None
        return TenantOfferSettings(
            row.key_version,
            bytes(row.secret),
            row.device_cap_per_day,
            row.device_cap_per_week,
        )

    async def set_caps(self, per_day: int | None, per_week: int | None) -> None:
        await self.settings()
        await self.session.execute(
            update(OfferSettings)
            .where(OfferSettings.tenant_id == self.tenant_id)
            .values(device_cap_per_day=per_day, device_cap_per_week=per_week)
        )

    # ---- devices and customers ---------------------------------------------------------
    async def link_device(self, device_id: str, customer_id: uuid.UUID) -> None:
        stmt = pg_insert(DeviceCustomer).values(
            tenant_id=self.tenant_id, device_id=device_id, customer_id=customer_id
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "device_id"],
                set_={"customer_id": stmt.excluded.customer_id},
            )
        )

    async def customer_facts(
        self, device_ids: Sequence[str]
    ) -> dict[str, CustomerFacts]:
        """What commerce knows about the customers behind ``device_ids``."""
        if not device_ids:
            return {}
        rows = await self.session.execute(
            text(
                """
                SELECT dc.device_id, c.id, c.segment, o.currency,
                       count(o.id), coalesce(sum(o.total_minor), 0),
                       max(coalesce(o.placed_at, o.created_at))
                FROM offer_device_customers dc
                JOIN commerce_customers c ON c.id = dc.customer_id
                LEFT JOIN commerce_orders o
                  ON o.customer_id = c.id AND o.status = ANY(:purchased)
                WHERE dc.device_id = ANY(:devices)
                GROUP BY dc.device_id, c.id, c.segment, o.currency
                """
            ),
            {"devices": list(device_ids), "purchased": list(PURCHASED)},
        )
        acc: dict[str, dict[str, Any]] = {}
        for device, cid, segment, currency, n, spend, last in rows:
            f = acc.setdefault(
                device,
                {
                    "customer_id": str(cid),
                    "segment": segment,
                    "orders": 0,
                    "spend": {},
                    "last": None,
                },
            )
            if currency is not None:
                f["orders"] += int(n)
                f["spend"][currency] = int(spend)
                ts = last.timestamp() if last is not None else None
                if ts is not None and (f["last"] is None or ts > f["last"]):
                    f["last"] = ts
        return {
            d: CustomerFacts(
                f["customer_id"], f["segment"], f["orders"], f["spend"], f["last"]
            )
            for d, f in acc.items()
        }

    async def erase_device(self, device_id: str) -> dict[str, int]:
        """Forget a device: its unredeemed codes, decisions and customer link go;
        redeemed codes stay (they are part of an order's books) without it."""
        counts = {}
        for name, sql in (
            (
                "offers",
                "DELETE FROM offers WHERE device_id = :d AND redeemed_at IS NULL",
            ),
            (
                "offers_anonymised",
                "UPDATE offers SET device_id = 'erased' WHERE device_id = :d",
            ),
            ("offer_decisions", "DELETE FROM offer_decisions WHERE device_id = :d"),
            (
                "offer_device_customers",
                "DELETE FROM offer_device_customers WHERE device_id = :d",
            ),
        ):
            res = await self.session.execute(text(sql), {"d": device_id})
            counts[name] = int(res.rowcount or 0)
        return counts

    # ---- issuing ---------------------------------------------------------------------------
    async def record(
        self,
        offers: Sequence[NewOffer],
        decisions: Sequence[NewDecision],
        counts: Mapping[tuple[str, str], int],
        now: datetime,
    ) -> None:
        """Store issued offers, the per-device decisions (issued, holdout), the
        other suppressions as counts by (campaign, reason), and the webhook
        outbox rows.

        One ``INSERT ... SELECT FROM jsonb_to_recordset(...)`` per table, the
        rows serialised by orjson: a batch may issue hundreds of offers, and
        per-row (or per-array-element) parameter binding would cost more than
        the rest of the offer path.
        """
        tenant = str(self.tenant_id)
        if offers:
            # the offer rows and their ``offer.issued`` outbox rows (the webhook
            # carries the code and its binding; the campaign is one GET away),
            # both from one parsed parameter
            await self.session.execute(
                text(
                    """
                    WITH r AS (
                        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                        AS r(id uuid, campaign_id uuid, device_id text,
                            customer_id uuid, fence_id bigint, store_fence_id bigint,
                            issued_at timestamptz, expires_at timestamptz,
                            currency text, value_minor bigint, code text)
                    ), o AS (
                        INSERT INTO offers (tenant_id, id, campaign_id, device_id,
                            customer_id, fence_id, issued_at, expires_at, currency,
                            value_minor)
                        SELECT CAST(:tenant AS uuid), id, campaign_id, device_id,
                            customer_id, fence_id, issued_at, expires_at, currency,
                            value_minor
                        FROM r
                    )
                    INSERT INTO commerce_outbox (tenant_id, event, subject_id, payload)
                    SELECT CAST(:tenant AS uuid), 'offer.issued', r.id::text,
                        jsonb_build_object(
                            'event', 'offer.issued', 'offer_id', r.id,
                            'code', r.code, 'campaign_id', r.campaign_id,
                            'device_id', r.device_id, 'fence_id', r.fence_id,
                            'store_fence_id', r.store_fence_id,
                            'expires_at', to_char(r.expires_at AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    FROM r
                    """
                ),
                {
                    "tenant": tenant,
                    "rows": _json(
                        [
                            (
                                o.offer_id,
                                o.campaign_id,
                                o.device_id,
                                o.customer_id,
                                o.fence_id,
                                o.store_fence_id,
                                o.issued_at,
                                o.expires_at,
                                o.currency,
                                o.value_minor,
                                o.code,
                            )
                            for o in offers
                        ],
                        _OFFER_COLUMNS,
                    ),
                },
            )
        if decisions:
            await self.session.execute(
                text(
                    """
                    INSERT INTO offer_decisions (tenant_id, campaign_id, device_id,
                        fence_id, ts, outcome, offer_id)
                    SELECT CAST(:tenant AS uuid), r.* FROM jsonb_to_recordset(
                        CAST(:rows AS jsonb)) AS r(campaign_id uuid, device_id text,
                        fence_id bigint, ts timestamptz, outcome text, offer_id uuid)
                    """
                ),
                {
                    "tenant": tenant,
                    "rows": _json(
                        [
                            (
                                d.campaign_id,
                                d.device_id,
                                d.fence_id,
                                d.ts,
                                d.outcome,
                                d.offer_id,
                            )
                            for d in decisions
                        ],
                        _DECISION_COLUMNS,
                    ),
                },
            )
        if counts:
            await self.session.execute(
                text(
                    """
                    INSERT INTO offer_outcome_counts (tenant_id, campaign_id, ts,
                        outcome, n)
                    SELECT CAST(:tenant AS uuid), r.c, CAST(:ts AS timestamptz),
                        r.o, r.n
                    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                        AS r(c uuid, o text, n integer)
                    """
                ),
                {
                    "tenant": tenant,
                    "ts": now,
                    "rows": _json(
                        [(c, o, n) for (c, o), n in counts.items()], ("c", "o", "n")
                    ),
                },
            )

    # ---- redemption ---------------------------------------------------------------------------
    async def offer_for_update(self, offer_id: uuid.UUID) -> StoredOffer | None:
        row = await self.session.get(Offer, offer_id, with_for_update=True)
        if row is None:
            return None
        return StoredOffer(
            row.id,
            str(row.campaign_id),
            row.device_id,
            str(row.customer_id) if row.customer_id else None,
            row.expires_at,
            row.currency,
            row.value_minor,
            row.redeemed_at,
            str(row.order_id) if row.order_id else None,
        )

    async def mark_redeemed(
        self,
        offer_id: uuid.UUID,
        order_id: str,
        customer_id: str,
        discount_minor: int,
        now: datetime,
    ) -> bool:
        """Mark redeemed unless it already is (False then)."""
        res = await self.session.execute(
            update(Offer)
            .where(Offer.id == offer_id, Offer.redeemed_at.is_(None))
            .values(
                redeemed_at=now,
                order_id=uuid.UUID(order_id),
                customer_id=uuid.UUID(customer_id),
                discount_minor=discount_minor,
            )
        )
        return bool(res.rowcount)

    # ---- counters ------------------------------------------------------------------------------
    async def counters(
        self, now: datetime, window_days: int = 14
    ) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
        """Cap and budget counters as the reservation script keeps them.

        Device counters from the offers issued in the last ``window_days``
        (timestamps of their pings); budgets: the
        maximum value of outstanding (unexpired, unredeemed) codes plus the
        actual discount of redeemed ones, and their number.
        """
        rows = await self.session.execute(
            select(Offer.device_id, Offer.campaign_id, Offer.issued_at).where(
                Offer.issued_at >= now - timedelta(days=window_days)
            )
        )
        device: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for dev, cid, issued in rows:
            day, week = day_week(issued.timestamp())
            f = device[dev]
            f[f"c:{cid}:d:{day}"] += 1
            f[f"c:{cid}:w:{week}"] += 1
            f[f"g:d:{day}"] += 1
            f[f"g:w:{week}"] += 1
        live = (Offer.redeemed_at.isnot(None)) | (Offer.expires_at > now)
        money = func.coalesce(
            func.sum(func.coalesce(Offer.discount_minor, Offer.value_minor)).filter(
                live
            ),
            0,
        )
        brows = await self.session.execute(
            select(OfferCampaign.id, money, func.count(Offer.id).filter(live))
            .select_from(OfferCampaign)
            .outerjoin(Offer, Offer.campaign_id == OfferCampaign.id)
            .group_by(OfferCampaign.id)
        )
        budget = {str(c): (int(m), int(n)) for c, m, n in brows}
        return {d: dict(f) for d, f in device.items()}, budget

    # ---- measurement -----------------------------------------------------------------------------
    async def outcome_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        """Decisions by outcome: per-device rows plus the suppression counts."""
        rows = await self.session.execute(
            text(
                """
                SELECT outcome, sum(n) FROM (
                  SELECT outcome, count(*) AS n FROM offer_decisions
                  WHERE campaign_id = :c GROUP BY outcome
                  UNION ALL
                  SELECT 'issued', count(*) FROM offers WHERE campaign_id = :c
                  UNION ALL
                  SELECT outcome, sum(n) FROM offer_outcome_counts
                  WHERE campaign_id = :c GROUP BY outcome
                ) u GROUP BY outcome
                """
            ),
            {"c": campaign_id},
        )
        return {o: int(n) for o, n in rows}

    async def has_device_links(self) -> bool:
        """Whether any device of the tenant is tied to a customer."""
        return bool(
            await self.session.scalar(
                select(func.count()).select_from(
                    select(DeviceCustomer.device_id).limit(1).subquery()
                )
            )
        )

    async def redemption_totals(self, campaign_id: uuid.UUID) -> tuple[int, int, int]:
        """(redeemed codes, discount given, total of the redeeming orders)."""
        row = (
            await self.session.execute(
                text(
                    """
                    SELECT count(*), coalesce(sum(f.discount_minor), 0),
                           coalesce(sum(o.total_minor), 0)
                    FROM offers f LEFT JOIN commerce_orders o ON o.id = f.order_id
                    WHERE f.campaign_id = :c AND f.redeemed_at IS NOT NULL
                    """
                ),
                {"c": campaign_id},
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def group_conversions(
        self, campaign_id: uuid.UUID, attribution_days: int
    ) -> Mapping[str, tuple[int, int]]:
        """Per group (``treatment``: issued, ``holdout``): (devices, converted).

        A device converts when its customer places an order within
        ``attribution_days`` of its first offer (or holdout decision).
        """
        rows = await self.session.execute(
            text(
                """
                WITH exposed AS (
                  SELECT device_id, min(ts) AS ts, bool_or(treated) AS treated
                  FROM (
                    SELECT device_id, issued_at AS ts, true AS treated FROM offers
                    WHERE campaign_id = :c
                    UNION ALL
                    SELECT device_id, ts, false FROM offer_decisions
                    WHERE campaign_id = :c AND outcome = 'holdout'
                  ) d
                  GROUP BY device_id
                )
                SELECT e.treated, count(*),
                       count(*) FILTER (WHERE EXISTS (
                         SELECT 1 FROM offer_device_customers dc
                         JOIN commerce_orders o ON o.customer_id = dc.customer_id
                         WHERE dc.device_id = e.device_id
                           AND o.status = ANY(:purchased)
                           AND o.created_at >= e.ts
                           AND o.created_at < e.ts + make_interval(days => :days)))
                FROM exposed e GROUP BY e.treated
                """
            ),
            {"c": campaign_id, "days": attribution_days, "purchased": list(PURCHASED)},
        )
        out = {"treatment": (0, 0), "holdout": (0, 0)}
        for treated, n, conv in rows:
            out["treatment" if treated else "holdout"] = (int(n), int(conv))
        return out
