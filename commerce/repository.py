"""PostGIS storage of a tenant's customers, orders, invoices, payments and books.

Only SQL: every method takes and returns plain values or ``commerce`` domain
types, and only flushes (the request's session commits). Rows go through the
tenant-bound session, so row-level security hides other tenants' rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import Integer, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.audit import AuditRecord
from commerce.credit_notes import CreditApplication, CreditNote, CreditNoteLine
from commerce.dunning import DunningItem
from commerce.idempotency import StoredRequest
from commerce.invoices import Invoice, InvoiceLine, InvoiceStatus
from commerce.ledger import JournalEntry, Posting
from commerce.orders import Discount, DiscountKind, Order, OrderLine, OrderStatus
from commerce.orders import TaxLine as DomainTaxLine
from commerce.payments import Allocation, Payment
from commerce.reconciliation import OpenInvoice
from commerce.statements import StatementLine
from commerce.webhooks import Delivery, DeliveryStatus
from data.models import (
    AuditChainRecord,
    Customer,
    CustomerCredit,
    IdempotencyKey,
    InvoiceCounter,
    LedgerEntry,
    LedgerPosting,
    OutboxEvent,
    PaymentAllocation,
    Product,
    WebhookEndpoint,
)
from data.models import CreditNote as CreditNoteRow
from data.models import Invoice as InvoiceRow
from data.models import InvoiceLine as InvoiceLineRow
from data.models import Order as OrderRow
from data.models import OrderLine as OrderLineRow
from data.models import Payment as PaymentRow
from data.models import StatementLine as StatementLineRow
from data.models import TaxLine as TaxLineRow


@dataclass(frozen=True)
class GeoPoint:
    """A WGS84 point with its accuracy radius in metres."""

    lat: float
    lng: float
    accuracy_m: float = 0.0


@dataclass(frozen=True)
class CustomerRecord:
    """A stored customer; contact fields are None once erased."""

    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    address_point: GeoPoint | None
    payment_terms_days: int
    segment: str
    external_ref: str | None = None
    on_hold: bool = False
    erased: bool = False


@dataclass(frozen=True)
class ProductRecord:
    """A SKU of the catalog."""

    product_id: str
    sku: str
    name: str
    price_minor: int
    currency: str
    tax_category: str
    active: bool = True


@dataclass(frozen=True)
class StoredOrder:
    """An order with where it ships and, once placed, its tax evidence."""

    order: Order
    ship_to: GeoPoint
    ship_from: GeoPoint | None
    ship_from_label: str | None
    tax_quote_id: str | None
    evidence: dict[str, Any] | None


@dataclass(frozen=True)
class OrderSummary:
    """An order as spatial queries return it (``distance_m`` for radius queries)."""

    order_id: str
    customer_id: str
    status: str
    currency: str
    total_minor: int
    lat: float
    lng: float
    distance_m: float | None = None


@dataclass(frozen=True)
class QueuedLine:
    """A stored statement line waiting for (or past) a person's decision."""

    line_id: int
    line: StatementLine
    status: str
    confidence: float | None
    suggestion: dict[str, Any] | None


def _point(p: GeoPoint | None) -> Any:
    return None if p is None else from_shape(Point(p.lng, p.lat), srid=4326)


def _geo(value: Any, accuracy_m: float = 0.0) -> GeoPoint | None:
    if value is None:
        return None
    shape = to_shape(value)
    return GeoPoint(shape.y, shape.x, accuracy_m)


def _customer(row: Customer) -> CustomerRecord:
    return CustomerRecord(
        str(row.id),
        row.name,
        row.email,
        row.phone,
        row.address,
        _geo(row.address_point),
        row.payment_terms_days,
        row.segment,
        row.external_ref,
        row.on_hold,
        row.erased,
    )


def _discount_json(d: Discount) -> dict[str, Any]:
    return {
        "discount_id": d.discount_id,
        "kind": d.kind.value,
        "percent": str(d.percent),
        "amount_minor": d.amount_minor,
        "line_id": d.line_id,
        "code": d.code,
        "label": d.label,
    }


def _discount(doc: dict[str, Any]) -> Discount:
    return Discount(
        doc["discount_id"],
        DiscountKind(doc["kind"]),
        Decimal(doc["percent"]),
        doc["amount_minor"],
        doc["line_id"],
        doc["code"],
        doc["label"],
    )


def _tax_json(t: DomainTaxLine) -> dict[str, Any]:
    return {
        "line_id": t.line_id,
        "level": t.level,
        "code": t.code,
        "name": t.name,
        "rate": str(t.rate),
        "taxable_minor": t.taxable_minor,
        "tax_minor": t.tax_minor,
        "sample": t.sample,
    }


def _tax_line(doc: dict[str, Any]) -> DomainTaxLine:
    return DomainTaxLine(
        doc["line_id"],
        doc["level"],
        doc["code"],
        doc["name"],
        Decimal(doc["rate"]),
        doc["taxable_minor"],
        doc["tax_minor"],
        doc["sample"],
    )


def _delivery(r: OutboxEvent) -> Delivery:
    return Delivery(
        str(r.id),
        str(r.id),
        "",
        DeliveryStatus(r.status),
        r.attempts,
        r.next_attempt_at,
        r.last_status_code,
        r.last_error,
    )


class CommerceRepository:
    """One tenant's order-to-cash tables."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # ---- customers -----------------------------------------------------------
    async def insert_customer(self, c: CustomerRecord) -> None:
        self.session.add(
            Customer(
                id=uuid.UUID(c.customer_id),
                tenant_id=self.tenant_id,
                external_ref=c.external_ref,
                name=c.name,
                email=c.email,
                phone=c.phone,
                address=c.address,
                address_point=_point(c.address_point),
                payment_terms_days=c.payment_terms_days,
                segment=c.segment,
            )
        )
        await self.session.flush()

    async def get_customer(
        self, customer_id: uuid.UUID, *, for_update: bool = False
    ) -> CustomerRecord | None:
        stmt = select(Customer).where(Customer.id == customer_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.scalars(stmt)).first()
        return None if row is None else _customer(row)

    async def list_customers(self, limit: int, offset: int) -> list[CustomerRecord]:
        rows = await self.session.scalars(
            select(Customer)
            .order_by(Customer.created_at, Customer.id)
            .limit(limit)
            .offset(offset)
        )
        return [_customer(r) for r in rows]

    async def update_customer(self, c: CustomerRecord) -> None:
        await self.session.execute(
            update(Customer)
            .where(Customer.id == uuid.UUID(c.customer_id))
            .values(
                name=c.name,
                email=c.email,
                phone=c.phone,
                address=c.address,
                address_point=_point(c.address_point),
                payment_terms_days=c.payment_terms_days,
                segment=c.segment,
                external_ref=c.external_ref,
            )
        )

    async def erase_customer(self, customer_id: uuid.UUID) -> None:
        """Blank the contact data, the name on invoices and exact ship-to points."""
        await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(
                name=None,
                email=None,
                phone=None,
                address=None,
                address_point=None,
                external_ref=None,
                erased=True,
                erased_at=datetime.now(UTC),
            )
        )
        await self.session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.customer_id == customer_id)
            .values(customer_name=None)
        )
        # Ship-to points are addresses too: keep them only to 0.1 degree (about
        # 11 km; tax lines keep the jurisdictions) and drop the exact evidence point.
        await self.session.execute(
            text(
                "UPDATE commerce_orders SET ship_to = ST_SnapToGrid("
                "ship_to::geometry, 0.1)::geography, ship_to_accuracy_m = "
                "greatest(ship_to_accuracy_m, 11000), evidence = evidence - 'point' "
                "WHERE customer_id = :c"
            ),
            {"c": customer_id},
        )

    # ---- catalog -------------------------------------------------------------
    async def insert_product(self, p: ProductRecord) -> None:
        self.session.add(
            Product(
                id=uuid.UUID(p.product_id),
                tenant_id=self.tenant_id,
                sku=p.sku,
                name=p.name,
                price_minor=p.price_minor,
                currency=p.currency,
                tax_category=p.tax_category,
                active=p.active,
            )
        )
        await self.session.flush()

    async def products(self, skus: Sequence[str] | None = None) -> list[ProductRecord]:
        stmt = select(Product).order_by(Product.sku)
        if skus is not None:
            stmt = stmt.where(Product.sku.in_(list(skus)))
        return [
            ProductRecord(
                str(r.id),
                r.sku,
                r.name,
                r.price_minor,
                r.currency,
                r.tax_category,
                r.active,
            )
            for r in await self.session.scalars(stmt)
        ]

    # ---- orders --------------------------------------------------------------
    async def save_order(
        self,
        order: Order,
        totals: Any,
        ship_to: GeoPoint,
        ship_from: GeoPoint | None,
        ship_from_label: str | None,
    ) -> None:
        """Insert a draft order and its lines."""
        order_id = uuid.UUID(order.order_id)
        self.session.add(
            OrderRow(
                id=order_id,
                tenant_id=self.tenant_id,
                customer_id=uuid.UUID(order.customer_id),
                status=order.status.value,
                currency=order.currency,
                gross_minor=totals.gross_minor,
                discount_minor=totals.discount_minor,
                shipping_minor=totals.shipping_minor,
                tax_minor=totals.tax_minor,
                total_minor=totals.total_minor,
                discounts=[_discount_json(d) for d in order.discounts],
                ship_to=_point(ship_to),
                ship_to_accuracy_m=ship_to.accuracy_m,
                ship_from=_point(ship_from),
                ship_from_label=ship_from_label,
            )
        )
        await self.session.flush()
        for i, ln in enumerate(order.lines):
            self.session.add(
                OrderLineRow(
                    tenant_id=self.tenant_id,
                    order_id=order_id,
                    line_id=ln.line_id,
                    position=i,
                    sku=ln.sku,
                    description=ln.description,
                    quantity=ln.quantity,
                    unit_price_minor=ln.unit_price_minor,
                    tax_code=str(ln.tax_code),
                )
            )
        await self.session.flush()

    async def get_order(
        self, order_id: uuid.UUID, *, for_update: bool = False
    ) -> StoredOrder | None:
        stmt = select(OrderRow).where(OrderRow.id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            return None
        lines = await self.session.scalars(
            select(OrderLineRow)
            .where(OrderLineRow.order_id == order_id)
            .order_by(OrderLineRow.position)
        )
        order = Order(
            str(row.id),
            str(row.customer_id),
            row.currency,
            tuple(
                OrderLine(
                    ln.line_id,
                    ln.sku,
                    ln.quantity,
                    ln.unit_price_minor,
                    ln.tax_code,
                    ln.description,
                )
                for ln in lines
            ),
            tuple(_discount(d) for d in row.discounts),
            row.shipping_minor,
            tuple(await self.tax_lines(order_id)),
            OrderStatus(row.status),
        )
        return StoredOrder(
            order,
            _geo(row.ship_to, row.ship_to_accuracy_m) or GeoPoint(0, 0),
            _geo(row.ship_from),
            row.ship_from_label,
            str(row.tax_quote_id) if row.tax_quote_id else None,
            row.evidence,
        )

    async def tax_lines(self, order_id: uuid.UUID) -> list[DomainTaxLine]:
        rows = await self.session.scalars(
            select(TaxLineRow)
            .where(TaxLineRow.order_id == order_id)
            .order_by(TaxLineRow.id)
        )
        return [
            DomainTaxLine(
                r.line_id,
                r.level,
                r.code,
                r.name,
                r.rate,
                r.taxable_minor,
                r.tax_minor,
                r.sample,
            )
            for r in rows
        ]

    async def save_placed(
        self,
        order: Order,
        totals: Any,
        quote_id: str,
        evidence: dict[str, Any],
    ) -> None:
        """Store a placed order's status, totals, tax lines and evidence."""
        order_id = uuid.UUID(order.order_id)
        await self.session.execute(
            update(OrderRow)
            .where(OrderRow.id == order_id)
            .values(
                status=order.status.value,
                tax_minor=totals.tax_minor,
                total_minor=totals.total_minor,
                tax_quote_id=uuid.UUID(quote_id),
                evidence=evidence,
                placed_at=datetime.now(UTC),
            )
        )
        for t in order.tax_lines:
            self.session.add(
                TaxLineRow(
                    tenant_id=self.tenant_id,
                    order_id=order_id,
                    line_id=t.line_id,
                    level=t.level,
                    code=t.code,
                    name=t.name,
                    rate=t.rate,
                    taxable_minor=t.taxable_minor,
                    tax_minor=t.tax_minor,
                    sample=t.sample,
                )
            )
        await self.session.flush()

    async def set_order_status(
        self, order_id: str, status: OrderStatus, only_from: OrderStatus
    ) -> None:
        """Move the order to ``status`` if it is in ``only_from``."""
        await self.session.execute(
            update(OrderRow)
            .where(
                OrderRow.id == uuid.UUID(order_id), OrderRow.status == only_from.value
            )
            .values(status=status.value)
        )

    async def committed_tax_by_jurisdiction(self) -> dict[tuple[str, str], int]:
        """Sum of the stored tax lines per (currency, ``level:code``), cancelled
        orders (voided invoices, tax reversed) left out."""
        rows = await self.session.execute(
            select(
                OrderRow.currency,
                TaxLineRow.level,
                TaxLineRow.code,
                func.sum(TaxLineRow.tax_minor),
            )
            .join(OrderRow, OrderRow.id == TaxLineRow.order_id)
            .where(OrderRow.status != OrderStatus.CANCELLED.value)
            .group_by(OrderRow.currency, TaxLineRow.level, TaxLineRow.code)
        )
        return {(c, f"{lv}:{code}"): int(s) for c, lv, code, s in rows}

    # ---- spatial queries -----------------------------------------------------
    def _summary_columns(self) -> tuple[Any, ...]:
        return (
            OrderRow.id,
            OrderRow.customer_id,
            OrderRow.status,
            OrderRow.currency,
            OrderRow.total_minor,
            func.ST_Y(func.ST_GeomFromWKB(func.ST_AsBinary(OrderRow.ship_to))),
            func.ST_X(func.ST_GeomFromWKB(func.ST_AsBinary(OrderRow.ship_to))),
        )

    @staticmethod
    def _summaries(rows: Any) -> list[OrderSummary]:
        return [
            OrderSummary(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5], r[6], *r[7:])
            for r in rows
        ]

    async def orders_within(
        self, at: GeoPoint, radius_m: float, limit: int
    ) -> list[OrderSummary]:
        """Orders shipping within ``radius_m`` of ``at``, nearest first."""
        here = func.ST_GeogFromText(f"SRID=4326;POINT({at.lng!r} {at.lat!r})")
        dist = func.ST_Distance(OrderRow.ship_to, here)
        rows = await self.session.execute(
            select(*self._summary_columns(), dist)
            .where(func.ST_DWithin(OrderRow.ship_to, here, radius_m))
            .order_by(dist, OrderRow.id)
            .limit(limit)
        )
        return self._summaries(rows)

    async def orders_covered_by(
        self, polygon_wkt: str, limit: int
    ) -> list[OrderSummary]:
        """Orders whose ship-to point lies in the polygon (geodesic edges)."""
        area = func.ST_GeogFromText(f"SRID=4326;{polygon_wkt}")
        rows = await self.session.execute(
            select(*self._summary_columns())
            .where(func.ST_Covers(area, OrderRow.ship_to))
            .order_by(OrderRow.created_at, OrderRow.id)
            .limit(limit)
        )
        return self._summaries(rows)

    async def order_points(self) -> list[OrderSummary]:
        """Every non-draft, non-cancelled order with its ship-to point."""
        rows = await self.session.execute(
            select(*self._summary_columns()).where(
                OrderRow.status.notin_(
                    [OrderStatus.DRAFT.value, OrderStatus.CANCELLED.value]
                )
            )
        )
        return self._summaries(rows)

    async def tax_by_jurisdiction(
        self,
    ) -> list[tuple[str, str, str, str, int, int, int]]:
        """(currency, level, code, name, orders, taxable, tax) per jurisdiction."""
        rows = await self.session.execute(
            select(
                OrderRow.currency,
                TaxLineRow.level,
                TaxLineRow.code,
                func.min(TaxLineRow.name),
                func.count(func.distinct(TaxLineRow.order_id)),
                func.sum(TaxLineRow.taxable_minor),
                func.sum(TaxLineRow.tax_minor),
            )
            .join(OrderRow, OrderRow.id == TaxLineRow.order_id)
            .group_by(OrderRow.currency, TaxLineRow.level, TaxLineRow.code)
            .order_by(OrderRow.currency, TaxLineRow.level, TaxLineRow.code)
        )
        return [
            (c, lv, code, n, int(k), int(a), int(b)) for c, lv, code, n, k, a, b in rows
        ]

    # ---- invoices ------------------------------------------------------------
    async def next_invoice_seq(self) -> int:
        """The tenant's next invoice number; the counter row stays locked until
        the transaction ends, and a rollback gives the number back (no gaps)."""
        stmt = (
            pg_insert(InvoiceCounter)
            .values(tenant_id=self.tenant_id, last_seq=1)
            .on_conflict_do_update(
                index_elements=[InvoiceCounter.tenant_id],
                set_={"last_seq": InvoiceCounter.last_seq + 1},
            )
            .returning(InvoiceCounter.last_seq)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def insert_invoice(self, inv: Invoice, seq: int | None) -> None:
        invoice_id = uuid.UUID(inv.invoice_id)
        self.session.add(
            InvoiceRow(
                id=invoice_id,
                tenant_id=self.tenant_id,
                order_id=uuid.UUID(inv.order_id or ""),
                customer_id=uuid.UUID(inv.customer_id),
                customer_name=inv.customer_name,
                status=inv.status.value,
                number=inv.number,
                seq=seq,
                currency=inv.currency,
                gross_minor=inv.gross_minor,
                discount_minor=inv.discount_minor,
                shipping_minor=inv.shipping_minor,
                tax_minor=inv.tax_minor,
                total_minor=inv.total_minor,
                amount_paid_minor=inv.amount_paid_minor,
                amount_credited_minor=inv.amount_credited_minor,
                issued_on=inv.issued_on,
                due_on=inv.due_on,
            )
        )
        await self.session.flush()
        for i, ln in enumerate(inv.lines):
            self.session.add(
                InvoiceLineRow(
                    tenant_id=self.tenant_id,
                    invoice_id=invoice_id,
                    position=i,
                    line_id=ln.line_id,
                    description=ln.description,
                    quantity=ln.quantity,
                    unit_price_minor=ln.unit_price_minor,
                    discount_minor=ln.discount_minor,
                    net_minor=ln.net_minor,
                )
            )
        await self.session.flush()

    async def _invoices(self, rows: Sequence[InvoiceRow]) -> list[Invoice]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        lines: dict[uuid.UUID, list[InvoiceLine]] = defaultdict(list)
        for ln in await self.session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id.in_(ids))
            .order_by(InvoiceLineRow.invoice_id, InvoiceLineRow.position)
        ):
            lines[ln.invoice_id].append(
                InvoiceLine(
                    ln.line_id,
                    ln.description,
                    ln.quantity,
                    ln.unit_price_minor,
                    ln.discount_minor,
                    ln.net_minor,
                )
            )
        out = []
        for r in rows:
            out.append(
                Invoice(
                    str(r.id),
                    str(r.customer_id),
                    r.currency,
                    tuple(lines[r.id]),
                    tuple(await self.tax_lines(r.order_id)),
                    r.shipping_minor,
                    (),
                    InvoiceStatus(r.status),
                    r.number,
                    r.issued_on,
                    r.due_on,
                    r.amount_paid_minor,
                    r.amount_credited_minor,
                    str(r.order_id),
                    r.customer_name,
                )
            )
        return out

    async def get_invoice(
        self, invoice_id: uuid.UUID, *, for_update: bool = False
    ) -> Invoice | None:
        stmt = select(InvoiceRow).where(InvoiceRow.id == invoice_id)
        if for_update:
            stmt = stmt.with_for_update()
        rows = list(await self.session.scalars(stmt))
        found = await self._invoices(rows)
        return found[0] if found else None

    async def lock_open_invoices(
        self, customer_id: uuid.UUID, currency: str
    ) -> list[Invoice]:
        """The customer's payable invoices in ``currency``, locked (id order)."""
        rows = list(
            await self.session.scalars(
                select(InvoiceRow)
                .where(
                    InvoiceRow.customer_id == customer_id,
                    InvoiceRow.currency == currency,
                    InvoiceRow.status.in_(
                        [InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value]
                    ),
                )
                .order_by(InvoiceRow.id)
                .with_for_update()
            )
        )
        return await self._invoices(rows)

    async def update_invoice_payment(self, inv: Invoice) -> None:
        await self.session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == uuid.UUID(inv.invoice_id))
            .values(status=inv.status.value, amount_paid_minor=inv.amount_paid_minor)
        )

    async def invoice_for_order(self, order_id: uuid.UUID) -> Invoice | None:
        rows = list(
            await self.session.scalars(
                select(InvoiceRow)
                .where(InvoiceRow.order_id == order_id)
                .with_for_update()
            )
        )
        found = await self._invoices(rows)
        return found[0] if found else None

    async def set_invoice_status(self, inv: Invoice) -> None:
        await self.session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == uuid.UUID(inv.invoice_id))
            .values(status=inv.status.value)
        )

    async def update_invoice_credit(self, inv: Invoice) -> None:
        await self.session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == uuid.UUID(inv.invoice_id))
            .values(
                status=inv.status.value,
                amount_credited_minor=inv.amount_credited_minor,
            )
        )

    # ---- credit notes --------------------------------------------------------
    async def insert_credit_note(
        self, note: CreditNote, app: CreditApplication, reversed_quote: str | None
    ) -> None:
        self.session.add(
            CreditNoteRow(
                id=uuid.UUID(note.credit_note_id),
                tenant_id=self.tenant_id,
                invoice_id=uuid.UUID(note.invoice_id),
                currency=note.currency,
                amount_minor=note.amount_minor,
                tax_minor=note.tax_minor,
                to_receivable_minor=app.to_receivable_minor,
                to_customer_credit_minor=app.to_customer_credit_minor,
                lines=[
                    {
                        "line_id": ln.line_id,
                        "amount_minor": ln.amount_minor,
                        "tax_minor": ln.tax_minor,
                    }
                    for ln in note.lines
                ],
                tax_lines=[_tax_json(t) for t in note.tax_lines],
                reason=note.reason,
                reversed_quote_id=uuid.UUID(reversed_quote) if reversed_quote else None,
            )
        )
        await self.session.flush()

    async def credit_notes(
        self, invoice_id: uuid.UUID | None = None
    ) -> list[CreditNote]:
        stmt = select(CreditNoteRow).order_by(
            CreditNoteRow.created_at, CreditNoteRow.id
        )
        if invoice_id is not None:
            stmt = stmt.where(CreditNoteRow.invoice_id == invoice_id)
        return [
            CreditNote(
                str(r.id),
                str(r.invoice_id),
                r.currency,
                tuple(
                    CreditNoteLine(x["line_id"], x["amount_minor"], x["tax_minor"])
                    for x in r.lines
                ),
                tuple(_tax_line(x) for x in r.tax_lines),
                r.reason,
            )
            for r in await self.session.scalars(stmt)
        ]

    # ---- payments and credit -------------------------------------------------
    async def insert_payment(
        self,
        payment: Payment,
        allocation: Allocation,
        reference: str | None,
        status: str = "succeeded",
    ) -> None:
        payment_id = uuid.UUID(payment.payment_id)
        self.session.add(
            PaymentRow(
                id=payment_id,
                tenant_id=self.tenant_id,
                customer_id=uuid.UUID(payment.customer_id),
                currency=payment.currency,
                amount_minor=payment.amount_minor,
                method=payment.method,
                token=payment.token,
                last4=payment.last4,
                reference=reference,
                received_on=payment.received_on,
                credit_minor=allocation.credit_minor,
                status=status,
            )
        )
        await self.session.flush()
        for a in allocation.applications:
            self.session.add(
                PaymentAllocation(
                    tenant_id=self.tenant_id,
                    payment_id=payment_id,
                    invoice_id=uuid.UUID(a.invoice_id),
                    amount_minor=a.amount_minor,
                )
            )
        await self.session.flush()

    async def add_credit(self, customer_id: str, currency: str, amount: int) -> int:
        """Add to (or, negative, take from) a customer's credit; the new balance."""
        stmt = (
            pg_insert(CustomerCredit)
            .values(
                tenant_id=self.tenant_id,
                customer_id=uuid.UUID(customer_id),
                currency=currency,
                balance_minor=amount,
            )
            .on_conflict_do_update(
                index_elements=["tenant_id", "customer_id", "currency"],
                set_={"balance_minor": CustomerCredit.balance_minor + amount},
            )
            .returning(CustomerCredit.balance_minor)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def credit_balances(self, customer_id: uuid.UUID) -> dict[str, int]:
        rows = await self.session.execute(
            select(CustomerCredit.currency, CustomerCredit.balance_minor).where(
                CustomerCredit.customer_id == customer_id
            )
        )
        return {c: int(b) for c, b in rows}

    # ---- receivables ---------------------------------------------------------
    async def dunning_items(self) -> list[DunningItem]:
        """Every payable invoice with something remaining, with its segment."""
        remaining = (
            InvoiceRow.total_minor
            - InvoiceRow.amount_credited_minor
            - InvoiceRow.amount_paid_minor
        )
        rows = await self.session.execute(
            select(
                InvoiceRow.id,
                InvoiceRow.customer_id,
                InvoiceRow.currency,
                remaining,
                InvoiceRow.due_on,
                Customer.segment,
            )
            .join(Customer, Customer.id == InvoiceRow.customer_id)
            .where(
                InvoiceRow.status.in_(
                    [InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value]
                ),
                remaining > 0,
            )
            .order_by(InvoiceRow.due_on, InvoiceRow.id)
        )
        return [
            DunningItem(str(i), str(c), cur, int(rem), due, seg)
            for i, c, cur, rem, due, seg in rows
        ]

    async def invoiced_since(self, since: date) -> dict[str, int]:
        """Invoiced totals per currency issued on or after ``since``."""
        rows = await self.session.execute(
            select(InvoiceRow.currency, func.sum(InvoiceRow.total_minor))
            .where(InvoiceRow.issued_on >= since)
            .group_by(InvoiceRow.currency)
        )
        return {c: int(v) for c, v in rows}

    async def payment_statuses(self, since: date) -> list[str]:
        rows = await self.session.scalars(
            select(PaymentRow.status).where(PaymentRow.received_on >= since)
        )
        return list(rows)

    async def last_payments(self) -> dict[str, date]:
        """Each customer's latest successful payment day."""
        rows = await self.session.execute(
            select(PaymentRow.customer_id, func.max(PaymentRow.received_on))
            .where(PaymentRow.status == "succeeded")
            .group_by(PaymentRow.customer_id)
        )
        return {str(c): d for c, d in rows}

    async def holds(self) -> dict[str, bool]:
        rows = await self.session.execute(select(Customer.id, Customer.on_hold))
        return {str(c): h for c, h in rows}

    async def set_on_hold(self, customer_id: str, on_hold: bool) -> None:
        await self.session.execute(
            update(Customer)
            .where(Customer.id == uuid.UUID(customer_id))
            .values(on_hold=on_hold)
        )

    async def reminders_sent(self) -> dict[str, int]:
        """Invoice id -> highest reminder stage already in the outbox."""
        invoice = OutboxEvent.payload["invoice_id"].astext
        stage = OutboxEvent.payload["stage"].astext.cast(Integer)
        rows = await self.session.execute(
            select(invoice, func.max(stage))
            .where(OutboxEvent.event == "invoice.reminder")
            .group_by(invoice)
        )
        return {i: int(st) for i, st in rows}

    # ---- ledger --------------------------------------------------------------
    async def insert_entry(self, entry: JournalEntry) -> None:
        entry_id = uuid.UUID(entry.entry_id)
        self.session.add(
            LedgerEntry(
                id=entry_id,
                tenant_id=self.tenant_id,
                event=entry.event,
                currency=entry.currency,
                reference=entry.reference,
            )
        )
        await self.session.flush()
        for p in entry.postings:
            self.session.add(
                LedgerPosting(
                    tenant_id=self.tenant_id,
                    entry_id=entry_id,
                    account=p.account,
                    debit_minor=p.debit_minor,
                    credit_minor=p.credit_minor,
                    reference=p.reference,
                )
            )
        await self.session.flush()

    async def entries(self) -> list[JournalEntry]:
        heads = {
            e.id: e
            for e in await self.session.scalars(
                select(LedgerEntry).order_by(LedgerEntry.created_at)
            )
        }
        postings: dict[uuid.UUID, list[Posting]] = defaultdict(list)
        for p in await self.session.scalars(
            select(LedgerPosting).order_by(LedgerPosting.id)
        ):
            postings[p.entry_id].append(
                Posting(p.account, p.debit_minor, p.credit_minor, p.reference)
            )
        return [
            JournalEntry(str(i), e.event, e.currency, tuple(postings[i]), e.reference)
            for i, e in heads.items()
        ]

    # ---- audit chain ---------------------------------------------------------
    async def lock_audit_chain(self) -> AuditRecord | None:
        """Serialise appends to this tenant's chain; the last record (or None)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"commerce_audit:{self.tenant_id}"},
        )
        row = (
            await self.session.scalars(
                select(AuditChainRecord).order_by(AuditChainRecord.seq.desc()).limit(1)
            )
        ).first()
        return None if row is None else self._audit(row)

    def _audit(self, row: AuditChainRecord) -> AuditRecord:
        return AuditRecord(
            str(row.tenant_id),
            row.seq,
            row.at,
            row.actor,
            row.event,
            row.data,
            row.prev_hash,
            row.hash,
            row.field_digests,
        )

    async def insert_audit(self, record: AuditRecord) -> None:
        self.session.add(
            AuditChainRecord(
                tenant_id=self.tenant_id,
                seq=record.seq,
                at=record.at,
                actor=record.actor,
                event=record.event,
                data=dict(record.data),
                prev_hash=record.prev_hash,
                hash=record.hash,
                field_digests=dict(record.field_digests),
            )
        )
        await self.session.flush()

    async def audit_records(self) -> list[AuditRecord]:
        rows = await self.session.scalars(
            select(AuditChainRecord).order_by(AuditChainRecord.seq)
        )
        return [self._audit(r) for r in rows]

    # ---- outbox --------------------------------------------------------------
    async def add_outbox(
        self, event: str, subject_id: str, payload: dict[str, Any]
    ) -> None:
        self.session.add(
            OutboxEvent(
                tenant_id=self.tenant_id,
                event=event,
                subject_id=subject_id,
                payload=payload,
            )
        )
        await self.session.flush()

    async def set_webhook_endpoint(self, url: str, secret: str) -> None:
        stmt = (
            pg_insert(WebhookEndpoint)
            .values(tenant_id=self.tenant_id, url=url, secret=secret)
            .on_conflict_do_update(
                index_elements=[WebhookEndpoint.tenant_id],
                set_={"url": url, "secret": secret},
            )
        )
        await self.session.execute(stmt)

    async def webhook_endpoint(self) -> tuple[str, str] | None:
        row = (await self.session.scalars(select(WebhookEndpoint))).first()
        return None if row is None else (row.url, row.secret)

    async def due_outbox(
        self, now: datetime, limit: int
    ) -> list[tuple[Delivery, dict[str, Any], datetime]]:
        """Events due for delivery, locked (others' batches skip them)."""
        rows = await self.session.scalars(
            select(OutboxEvent)
            .where(
                OutboxEvent.status.in_(
                    [DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value]
                ),
                (OutboxEvent.next_attempt_at.is_(None))
                | (OutboxEvent.next_attempt_at <= now),
            )
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            (_delivery(r), {"event": r.event, **r.payload}, r.created_at) for r in rows
        ]

    async def save_delivery(self, d: Delivery, now: datetime) -> None:
        delivered = d.status == DeliveryStatus.DELIVERED
        await self.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == int(d.event_id))
            .values(
                status=d.status.value,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_status_code=d.last_status_code,
                last_error=(d.last_error or "")[:500] or None,
                delivered_at=now if delivered else None,
            )
        )

    async def outbox(
        self, status: str | None, limit: int
    ) -> list[tuple[Delivery, str, str]]:
        """(delivery, event, subject id), newest first."""
        stmt = select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(OutboxEvent.status == status)
        return [
            (_delivery(r), r.event, r.subject_id)
            for r in await self.session.scalars(stmt)
        ]

    # ---- reconciliation ------------------------------------------------------
    async def open_invoices(self) -> list[OpenInvoice]:
        """Payable invoices with what remains, numbers and customer names."""
        remaining = (
            InvoiceRow.total_minor
            - InvoiceRow.amount_credited_minor
            - InvoiceRow.amount_paid_minor
        )
        rows = await self.session.execute(
            select(
                InvoiceRow.id,
                InvoiceRow.number,
                InvoiceRow.customer_id,
                Customer.name,
                InvoiceRow.currency,
                remaining,
                InvoiceRow.due_on,
            )
            .join(Customer, Customer.id == InvoiceRow.customer_id)
            .where(
                InvoiceRow.status.in_(
                    [InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value]
                ),
                remaining > 0,
            )
            .order_by(InvoiceRow.id)
        )
        return [
            OpenInvoice(str(i), num or "", str(c), name or "", cur, int(rem), due)
            for i, num, c, name, cur, rem, due in rows
        ]

    async def insert_statement_line(
        self,
        import_id: str,
        line: StatementLine,
        status: str,
        confidence: float | None = None,
        suggestion: dict[str, Any] | None = None,
        payment_id: str | None = None,
    ) -> int:
        row = StatementLineRow(
            tenant_id=self.tenant_id,
            import_id=uuid.UUID(import_id),
            line_no=line.line_no,
            booked_on=line.booked_on,
            amount_minor=line.amount_minor,
            currency=line.currency,
            text=line.text,
            counterparty=line.counterparty,
            bank_ref=line.bank_ref,
            status=status,
            confidence=confidence,
            suggestion=suggestion,
            payment_id=uuid.UUID(payment_id) if payment_id else None,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def statement_lines(
        self,
        statuses: Sequence[str],
        line_id: int | None = None,
        *,
        for_update: bool = False,
    ) -> list[QueuedLine]:
        stmt = (
            select(StatementLineRow)
            .where(StatementLineRow.status.in_(list(statuses)))
            .order_by(StatementLineRow.id)
        )
        if line_id is not None:
            stmt = stmt.where(StatementLineRow.id == line_id)
        if for_update:
            stmt = stmt.with_for_update()
        return [
            QueuedLine(
                r.id,
                StatementLine(
                    r.line_no,
                    r.booked_on,
                    r.amount_minor,
                    r.currency,
                    r.text,
                    r.counterparty,
                    r.bank_ref,
                ),
                r.status,
                r.confidence,
                r.suggestion,
            )
            for r in await self.session.scalars(stmt)
        ]

    async def resolve_statement_line(self, line_id: int, payment_id: str) -> None:
        await self.session.execute(
            update(StatementLineRow)
            .where(StatementLineRow.id == line_id)
            .values(status="resolved", payment_id=uuid.UUID(payment_id))
        )

    # ---- idempotency keys ----------------------------------------------------
    async def claim_idempotency_key(
        self, key: str, fingerprint: str
    ) -> StoredRequest | None:
        """Claim ``key`` (None) or return what is stored under it.

        A concurrent claim of the same key waits here for the first one's
        transaction to end, then sees its stored response.
        """
        stmt = (
            pg_insert(IdempotencyKey)
            .values(tenant_id=self.tenant_id, key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if (await self.session.execute(stmt)).first() is not None:
            return None
        row = (
            await self.session.scalars(
                select(IdempotencyKey).where(IdempotencyKey.key == key)
            )
        ).one()
        return StoredRequest(
            row.fingerprint,
            row.response_status,
            row.response_body,
            row.response_content_type,
        )

    async def store_response(
        self, key: str, status: int, body: bytes, content_type: str
    ) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(
                response_status=status,
                response_body=body,
                response_content_type=content_type,
            )
        )
