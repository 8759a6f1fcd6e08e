"""PostGIS storage of inbound payment-provider webhooks: secrets and seen events.

Only SQL, only ``flush``; the request's session (bound to the tenant named in
the webhook URL) commits, so an event id is recorded in the same transaction as
the payment it makes, and a rollback forgets both.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.invoices import InvoiceStatus
from data.models import Customer, ProviderEvent, ProviderSecret
from data.models import Invoice as InvoiceRow


class ProviderEventRepository:
    """One tenant's provider secret and event ids."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def secrets(self) -> list[str]:
        """The current secret, then the previous one (rotation); empty if none."""
        row = (await self.session.scalars(select(ProviderSecret))).first()
        if row is None:
            return []
        return [row.secret, *([row.previous_secret] if row.previous_secret else [])]

    async def set_secret(self, secret: str) -> None:
        """Make ``secret`` current; the one it replaces stays valid as previous."""
        stmt = pg_insert(ProviderSecret).values(
            tenant_id=self.tenant_id, secret=secret, previous_secret=None
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ProviderSecret.tenant_id],
            set_={
                "secret": stmt.excluded.secret,
                "previous_secret": ProviderSecret.secret,
            },
        )
        await self.session.execute(stmt)

    async def claim_event(
        self, event_id: str, event_type: str
    ) -> tuple[bool, uuid.UUID | None]:
        """Record ``event_id``: ``(True, None)`` if it is new, else ``(False, the
        payment it made)``.

        A concurrent delivery of the same id waits on the unique key until the
        first transaction ends, then sees its row (or claims it after a rollback).
        """
        stmt = (
            pg_insert(ProviderEvent)
            .values(tenant_id=self.tenant_id, event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(ProviderEvent.event_id)
        )
        if (await self.session.execute(stmt)).first() is not None:
            return True, None
        payment = (
            await self.session.execute(
                select(ProviderEvent.payment_id).where(
                    ProviderEvent.event_id == event_id
                )
            )
        ).scalar_one()
        return False, payment

    async def set_event_payment(self, event_id: str, payment_id: str) -> None:
        await self.session.execute(
            update(ProviderEvent)
            .where(ProviderEvent.event_id == event_id)
            .values(payment_id=uuid.UUID(payment_id))
        )

    async def lock_customer(self, customer_id: uuid.UUID) -> bool:
        """Lock the customer row (payments of one customer serialise on it)."""
        found = await self.session.execute(
            select(Customer.id).where(Customer.id == customer_id).with_for_update()
        )
        return found.first() is not None

    async def remaining_on(
        self, invoice_id: uuid.UUID, customer_id: uuid.UUID, currency: str
    ) -> int | None:
        """What remains payable on the customer's invoice in ``currency``; None
        when there is no such invoice (another customer's, another currency)."""
        row = (
            await self.session.execute(
                select(
                    InvoiceRow.status,
                    InvoiceRow.total_minor
                    - InvoiceRow.amount_credited_minor
                    - InvoiceRow.amount_paid_minor,
                ).where(
                    InvoiceRow.id == invoice_id,
                    InvoiceRow.customer_id == customer_id,
                    InvoiceRow.currency == currency,
                )
            )
        ).first()
        if row is None:
            return None
        status, remaining = row
        payable = (InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value)
        return int(remaining) if status in payable else 0
