"""Back-dating for demo and load data: move a seeded invoice or payment into
the past so receivables KPIs (ageing, DSO, success rate) have a history.

Only SQL; never used by the API, and it needs the schema owner's session: the
app role may not rewrite payments. Amounts are untouched, so the ledger and the
audit chain stay exactly as they were written.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import Invoice as InvoiceRow
from data.models import Order as OrderRow
from data.models import Payment as PaymentRow


class HistoryRepository:
    """One tenant's seeded invoices and payments, shifted in time."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def backdate_invoice(self, invoice_id: str, days: int) -> None:
        """Issue and due dates ``days`` earlier (terms unchanged)."""
        await self.session.execute(
            update(InvoiceRow)
            .where(
                InvoiceRow.tenant_id == self.tenant_id,
                InvoiceRow.id == uuid.UUID(invoice_id),
            )
            .values(
                issued_on=InvoiceRow.issued_on - days,
                due_on=InvoiceRow.due_on - days,
            )
        )

    async def backdate_order(self, order_id: str, days: int) -> None:
        """Created and placed ``days`` earlier (what demand history reads)."""
        shift = timedelta(days=days)
        await self.session.execute(
            update(OrderRow)
            .where(
                OrderRow.tenant_id == self.tenant_id,
                OrderRow.id == uuid.UUID(order_id),
            )
            .values(
                created_at=OrderRow.created_at - shift,
                placed_at=OrderRow.placed_at - shift,
            )
        )

    async def backdate_payment(self, payment_id: str, days: int) -> None:
        await self.session.execute(
            update(PaymentRow)
            .where(
                PaymentRow.tenant_id == self.tenant_id,
                PaymentRow.id == uuid.UUID(payment_id),
            )
            .values(received_on=PaymentRow.received_on - days)
        )
