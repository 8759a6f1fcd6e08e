"""Orders and billing: customers, catalog, orders, invoices, payments, books.

Every table belongs to a tenant (forced RLS). Amounts are BIGINT minor units;
the ledger, the audit chain and the outbox are written in the same transaction
as the business change they describe.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, TenantOwned, Timestamped


def _tenant_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    )


class Customer(TenantOwned, Timestamped, Base):
    """A buyer; contact data is personal and is blanked on erasure."""

    __tablename__ = "commerce_customers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    external_ref: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(Text)
    address_point: Mapped[Any] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=True), nullable=True
    )
    payment_terms_days: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="30"
    )
    segment: Mapped[str] = mapped_column(
        String(50), nullable=False, server_default="default"
    )
    on_hold: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    erased: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Product(TenantOwned, Timestamped, Base):
    """A SKU with its price (minor units of ``currency``) and tax category."""

    __tablename__ = "commerce_products"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sku", name="uq_commerce_products_tenant_sku"),
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    sku: Mapped[str] = mapped_column(String(100), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    tax_category: Mapped[str] = mapped_column(String(30), nullable=False)
    active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true")
    )


class Order(TenantOwned, Timestamped, Base):
    """An order with its totals, where it ships and the tax resolution evidence."""

    __tablename__ = "commerce_orders"
    __table_args__ = (Index("ix_commerce_orders_tenant_status", "tenant_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_customers.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    gross_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discounts: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    ship_to: Mapped[Any] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=True), nullable=False
    )
    ship_to_accuracy_m: Mapped[float] = mapped_column(Double, nullable=False)
    ship_from: Mapped[Any] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False), nullable=True
    )
    ship_from_label: Mapped[str | None] = mapped_column(String(200))
    tax_quote_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OrderLine(TenantOwned, Base):
    """One SKU line of an order, priced after discounts."""

    __tablename__ = "commerce_order_lines"
    __table_args__ = (
        UniqueConstraint(
            "order_id", "line_id", name="uq_commerce_order_lines_order_line"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_orders.id", ondelete="CASCADE"),
        nullable=False,
    )
    line_id: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    sku: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_code: Mapped[str] = mapped_column(String(30), nullable=False)


class TaxLine(TenantOwned, Base):
    """Committed tax of one order line (or shipping) in one jurisdiction."""

    __tablename__ = "commerce_tax_lines"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_orders.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    line_id: Mapped[str] = mapped_column(String(100), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(12, 8), nullable=False)
    taxable_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sample: Mapped[bool] = mapped_column(Boolean, nullable=False)


class InvoiceCounter(Base):
    """The last invoice sequence number per tenant (row locked FOR UPDATE)."""

    __tablename__ = "commerce_invoice_counters"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Invoice(TenantOwned, Timestamped, Base):
    """An invoice; the database refuses paying or crediting more than its total
    (the application keeps paid <= total - credited at payment time)."""

    __tablename__ = "commerce_invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", name="uq_commerce_invoices_number"),
        UniqueConstraint("order_id", name="uq_commerce_invoices_order_id"),
        CheckConstraint(
            "amount_paid_minor >= 0 AND amount_credited_minor >= 0 "
            "AND amount_paid_minor <= total_minor "
            "AND amount_credited_minor <= total_minor",
            name="not_overpaid",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_orders.id", ondelete="RESTRICT"),
        nullable=False,
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_customers.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    customer_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    number: Mapped[str | None] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    gross_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_paid_minor: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default="0"
    )
    amount_credited_minor: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default="0"
    )
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)


class InvoiceLine(TenantOwned, Base):
    """A billed line (net after discounts)."""

    __tablename__ = "commerce_invoice_lines"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_invoices.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    line_id: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    net_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CreditNote(TenantOwned, Timestamped, Base):
    """A full or partial credit against an invoice, tax credited per jurisdiction."""

    __tablename__ = "commerce_credit_notes"
    __table_args__ = (
        CheckConstraint(
            "amount_minor >= 0 AND tax_minor >= 0 AND to_receivable_minor >= 0 "
            "AND to_customer_credit_minor >= 0",
            name="non_negative",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_invoices.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    to_receivable_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    to_customer_credit_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    lines: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    tax_lines: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    reversed_quote_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Payment(TenantOwned, Timestamped, Base):
    """Money received: a token and the last four digits, never card data."""

    __tablename__ = "commerce_payments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_customers.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    method: Mapped[str] = mapped_column(String(30), nullable=False)
    token: Mapped[str | None] = mapped_column(String(200))
    last4: Mapped[str | None] = mapped_column(String(4))
    reference: Mapped[str | None] = mapped_column(String(200))
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    credit_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default="succeeded"
    )


class PaymentAllocation(TenantOwned, Base):
    """Part of a payment applied to one invoice."""

    __tablename__ = "commerce_payment_allocations"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_payments.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_invoices.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CustomerCredit(Base):
    """A customer's credit balance per currency (overpayments, credit notes)."""

    __tablename__ = "commerce_customer_credit"
    __table_args__ = (CheckConstraint("balance_minor >= 0", name="non_negative"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_customers.id", ondelete="RESTRICT"),
        primary_key=True,
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)


class LedgerEntry(TenantOwned, Timestamped, Base):
    """One balanced journal entry (one business event, one currency)."""

    __tablename__ = "commerce_ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    event: Mapped[str] = mapped_column(String(50), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str] = mapped_column(String(100), nullable=False)


class LedgerPosting(TenantOwned, Base):
    """One side of an entry: exactly one of debit and credit is positive."""

    __tablename__ = "commerce_ledger_postings"
    __table_args__ = (
        CheckConstraint(
            "debit_minor >= 0 AND credit_minor >= 0 "
            "AND (debit_minor = 0) <> (credit_minor = 0)",
            name="one_side",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("commerce_ledger_entries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    account: Mapped[str] = mapped_column(String(100), nullable=False)
    debit_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reference: Mapped[str | None] = mapped_column(String(100))


class AuditChainRecord(TenantOwned, Base):
    """One link of a tenant's hash chain (ids only in ``data``, no personal data)."""

    __tablename__ = "commerce_audit_chain"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq", name="uq_commerce_audit_chain_seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    event: Mapped[str] = mapped_column(String(100), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    field_digests: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class OutboxEvent(TenantOwned, Timestamped, Base):
    """An event to deliver, written with the change it announces."""

    __tablename__ = "commerce_outbox"
    __table_args__ = (
        Index(
            "ix_commerce_outbox_pending",
            "id",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event: Mapped[str] = mapped_column(String(100), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default="pending"
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))


class StatementLine(TenantOwned, Timestamped, Base):
    """An imported bank-statement credit: matched automatically, or queued for a
    person (``unmatched`` / ``suggested``) until ``resolved``."""

    __tablename__ = "commerce_statement_lines"
    __table_args__ = (
        Index("ix_commerce_statement_lines_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    booked_on: Mapped[date] = mapped_column(Date, nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    counterparty: Mapped[str] = mapped_column(String(300), nullable=False)
    bank_ref: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    confidence: Mapped[float | None] = mapped_column(Double)
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class WebhookEndpoint(Base):
    """Where a tenant's events are delivered, and the HMAC-SHA256 signing secret."""

    __tablename__ = "commerce_webhook_endpoints"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)


class IdempotencyKey(Timestamped, Base):
    """A request's key, fingerprint and (once done) its exact response."""

    __tablename__ = "commerce_idempotency_keys"

    tenant_id: Mapped[uuid.UUID] = _tenant_pk()
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_content_type: Mapped[str | None] = mapped_column(String(100))
