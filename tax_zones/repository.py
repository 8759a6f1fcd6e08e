"""PostGIS storage of jurisdictions, registrations, quotes and reversals.

Jurisdictions are global reference data: loaded by the schema owner, read by
everyone. The rest belongs to a tenant and goes through the request's
tenant-bound session (row-level security).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import Jurisdiction as JurisdictionRow
from data.models import TaxQuote, TaxRegistration, TaxReversal
from tax_zones.codec import decode, to_jsonable
from tax_zones.ledger import Reversal, Sale
from tax_zones.quotes import Quote, Registration
from tax_zones.types import BoundarySource, Jurisdiction, Level


def _multi(geom: Any) -> MultiPolygon | None:
    if geom is None:
        return None
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


class JurisdictionRepository:
    """Jurisdiction boundaries (any session: they carry no tenant)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace_source(self, records: Sequence[Jurisdiction]) -> int:
        """Replace every record of the sources present in ``records``."""
        sources = {r.source.name for r in records}
        await self.session.execute(
            delete(JurisdictionRow).where(JurisdictionRow.source.in_(sources))
        )
        rows = [
            {
                "source": r.source.name,
                "code": r.code,
                "level": r.level.value,
                "name": r.name,
                "parent_code": r.parent_code,
                "geometry": (
                    from_shape(_multi(r.geometry), srid=4326)
                    if r.geometry is not None
                    else None
                ),
                "vintage": r.source.vintage,
                "boundary_error_m": r.source.boundary_error_m,
                "credit": r.source.credit,
                "valid_from": r.valid_from,
                "valid_to": r.valid_to,
            }
            for r in records
        ]
        for start in range(0, len(rows), 500):
            await self.session.execute(
                JurisdictionRow.__table__.insert(), rows[start : start + 500]
            )
        return len(rows)

    async def list_jurisdictions(
        self, levels: Sequence[Level] | None = None
    ) -> list[Jurisdiction]:
        stmt = select(JurisdictionRow).order_by(JurisdictionRow.id)
        if levels:
            stmt = stmt.where(JurisdictionRow.level.in_([lv.value for lv in levels]))
        out = []
        for row in await self.session.scalars(stmt):
            source = BoundarySource(
                row.source, row.vintage, row.boundary_error_m, row.credit
            )
            geometry = to_shape(row.geometry) if row.geometry is not None else None
            out.append(
                Jurisdiction(
                    Level(row.level),
                    row.code,
                    row.name,
                    row.parent_code,
                    geometry,
                    source,
                    row.valid_from,
                    row.valid_to,
                )
            )
        return out

    async def data_version(self) -> str:
        """Changes whenever boundaries are (re)loaded."""
        row = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.max(JurisdictionRow.id), 0))
            )
        ).one()
        return hashlib.sha256(f"{row[0]}:{row[1]}".encode()).hexdigest()[:16]


class TaxRepository:
    """A tenant's registrations, quotes and reversals."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def registrations(self) -> list[Registration]:
        rows = await self.session.scalars(select(TaxRegistration))
        return [
            Registration(
                r.jurisdiction_code, r.registration_id, r.valid_from, r.valid_to
            )
            for r in rows
        ]

    async def set_registrations(self, regs: Iterable[Registration]) -> None:
        """Replace the tenant's registrations."""
        await self.session.execute(delete(TaxRegistration))
        for r in regs:
            self.session.add(
                TaxRegistration(
                    tenant_id=self.tenant_id,
                    jurisdiction_code=r.jurisdiction_code,
                    registration_id=r.registration_id,
                    valid_from=r.valid_from,
                    valid_to=r.valid_to,
                )
            )
        await self.session.flush()

    async def save_committed_quote(
        self, quote: Quote, document: dict[str, Any], order_id: str
    ) -> bool:
        """Store a quote committed to an order (open quotes live in Redis).

        False when the quote was already stored (a concurrent commit won).
        """
        stmt = (
            pg_insert(TaxQuote)
            .values(
                id=uuid.UUID(quote.quote_id),
                tenant_id=self.tenant_id,
                expires_at=quote.expires_at,
                tax_date=quote.tax_date,
                currency=quote.currency,
                tax_minor=quote.tax_minor,
                document=document,
                order_id=order_id,
                committed_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing()
            .returning(TaxQuote.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def get_quote(
        self, quote_id: uuid.UUID, *, for_update: bool = False
    ) -> tuple[Quote, str | None, datetime | None] | None:
        """The quote, the order it was committed to, and when (None if unknown)."""
        stmt = select(TaxQuote).where(TaxQuote.id == quote_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            return None
        return decode(Quote, row.document), row.order_id, row.committed_at

    async def save_reversal(self, reversal: Reversal) -> uuid.UUID:
        row = TaxReversal(
            tenant_id=self.tenant_id,
            quote_id=uuid.UUID(reversal.quote_id),
            tax_date=reversal.tax_date,
            tax_minor=reversal.tax_minor,
            document=to_jsonable(reversal),
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def reversed_minor(self, quote_id: uuid.UUID) -> int:
        """Tax already reversed on a quote (reversal amounts are negative)."""
        total = (
            await self.session.execute(
                select(func.coalesce(func.sum(TaxReversal.tax_minor), 0)).where(
                    TaxReversal.quote_id == quote_id
                )
            )
        ).scalar_one()
        return int(total)

    async def committed_between(self, start: date, end: date) -> list[Quote | Reversal]:
        quotes = await self.session.scalars(
            select(TaxQuote).where(
                TaxQuote.committed_at.is_not(None),
                TaxQuote.tax_date >= start,
                TaxQuote.tax_date < end,
            )
        )
        reversals = await self.session.scalars(
            select(TaxReversal).where(
                TaxReversal.tax_date >= start, TaxReversal.tax_date < end
            )
        )
        docs: list[Quote | Reversal] = [decode(Quote, q.document) for q in quotes]
        docs += [decode(Reversal, r.document) for r in reversals]
        return docs

    async def sales_since(self, since: date) -> list[Sale]:
        """Committed US sales per state (USD) for economic-nexus monitoring."""
        rows = await self.session.scalars(
            select(TaxQuote).where(
                TaxQuote.committed_at.is_not(None),
                TaxQuote.tax_date >= since,
                TaxQuote.currency == "USD",
            )
        )
        sales = []
        for row in rows:
            quote = decode(Quote, row.document)
            state = next(
                (
                    j.code
                    for j in quote.location.jurisdictions
                    if j.level is Level.STATE
                ),
                None,
            )
            if state is not None:
                sales.append(Sale(state, quote.tax_date, quote.subtotal_minor))
        return sales
