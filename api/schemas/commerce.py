"""Schemas of customers, products, orders, invoices, payments and the books.

Amounts are strict integers of minor units (``1.5`` or ``"150"`` is a 422).
Request models forbid unknown fields, so ``status`` or ``total_minor`` sent by a
client (mass assignment) is refused, never applied.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, StrictInt, model_validator

from api.schemas.common import RequestModel
from commerce.audit import ChainVerification
from commerce.credit_notes import CreditApplication, CreditNote
from commerce.invoices import Invoice
from commerce.orders import OrderTotals, TaxLine
from commerce.repository import (
    CustomerRecord,
    GeoPoint,
    OrderSummary,
    ProductRecord,
    QueuedLine,
    StoredOrder,
)
from commerce.service import (
    Balance,
    CellStats,
    DunningRun,
    Kpis,
    PaymentResult,
    StatementImport,
)
from commerce.webhooks import Delivery

Minor = Annotated[StrictInt, Field(ge=0, le=10**15)]
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")]
Category = Literal["general", "clothing", "food", "digital_goods", "shipping"]


class PointIn(RequestModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float = Field(default=0.0, ge=0, le=1_000_000)


class CustomerIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=1000)
    address_point: PointIn | None = None
    payment_terms_days: StrictInt = Field(default=30, ge=0, le=365)
    segment: str = Field(default="default", min_length=1, max_length=50)
    external_ref: str | None = Field(default=None, max_length=100)


class CustomerPatch(RequestModel):
    """Only these fields can change; anything else (``on_hold``, ``erased``) is 422."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=1000)
    payment_terms_days: StrictInt | None = Field(default=None, ge=0, le=365)
    segment: str | None = Field(default=None, min_length=1, max_length=50)


class ProductIn(RequestModel):
    sku: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(default="", max_length=200)
    price_minor: Minor
    currency: Currency
    tax_category: Category = "general"


class OrderLineIn(RequestModel):
    line_id: str = Field(min_length=1, max_length=100)
    sku: str = Field(min_length=1, max_length=100)
    quantity: StrictInt = Field(ge=1, le=1_000_000)


class DiscountIn(RequestModel):
    discount_id: str = Field(min_length=1, max_length=100)
    kind: Literal["percent", "fixed"]
    percent: Decimal = Field(default=Decimal(0), ge=0, le=100, allow_inf_nan=False)
    amount_minor: Minor = 0
    line_id: str | None = Field(default=None, max_length=100)
    code: str | None = Field(default=None, max_length=100)
    label: str = Field(default="", max_length=200)


class ShipFromIn(PointIn):
    label: str | None = Field(default=None, max_length=200)


class OrderIn(RequestModel):
    customer_id: uuid.UUID
    currency: Currency
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)
    discounts: list[DiscountIn] = Field(default_factory=list, max_length=50)
    shipping_minor: Minor = 0
    ship_to: PointIn
    ship_from: ShipFromIn | None = None
    offer_code: str | None = Field(default=None, min_length=1, max_length=400)

    @model_validator(mode="after")
    def _unique_lines(self) -> OrderIn:
        ids = [ln.line_id for ln in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("lines: line_id values must be unique")
        return self


class PaymentIn(RequestModel):
    customer_id: uuid.UUID
    currency: Currency
    amount_minor: Annotated[StrictInt, Field(ge=1, le=10**15)]
    method: Literal["card", "bank_transfer", "cash", "wallet"] = "card"
    token: str | None = Field(default=None, max_length=200)
    last4: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    reference: str | None = Field(default=None, max_length=200)
    allocations: dict[uuid.UUID, Annotated[StrictInt, Field(ge=1)]] | None = Field(
        default=None, description="invoice id -> amount; default: oldest due first"
    )
    status: Literal["succeeded", "failed"] = Field(
        default="succeeded", description="failed: recorded for the KPIs only"
    )


class OrdersWithinIn(RequestModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=1_000_000)
    limit: StrictInt = Field(default=500, ge=1, le=5000)


class GeoJsonPolygon(RequestModel):
    type: Literal["Polygon"]
    coordinates: list[list[tuple[float, float]]] = Field(min_length=1, max_length=50)


class OrdersInPolygonIn(RequestModel):
    polygon: GeoJsonPolygon
    limit: StrictInt = Field(default=500, ge=1, le=5000)


class CreditNoteIn(RequestModel):
    amounts: dict[str, Minor] | None = Field(
        default=None,
        description="line id (or 'shipping') -> net to credit; null: all that is left",
    )
    reason: str = Field(default="", max_length=500)


class WebhookEndpointIn(RequestModel):
    url: str = Field(min_length=8, max_length=2000)
    secret: str = Field(min_length=16, max_length=200)


class DeliverIn(RequestModel):
    limit: StrictInt = Field(default=100, ge=1, le=1000)


class ResolveLineIn(RequestModel):
    customer_id: uuid.UUID
    allocations: dict[uuid.UUID, Annotated[StrictInt, Field(ge=1)]] | None = None


class DunningIn(RequestModel):
    as_of: dt.date | None = None
    schedules: dict[str, list[Annotated[StrictInt, Field(ge=0, le=3650)]]] | None = (
        Field(default=None, description="segment -> reminder offsets in days")
    )
    hold_after_days: StrictInt = Field(default=30, ge=0, le=3650)


Document = dict[str, Any]


# ---- response documents --------------------------------------------------------
def _point(p: GeoPoint | None) -> Document | None:
    return (
        None if p is None else {"lat": p.lat, "lon": p.lng, "accuracy_m": p.accuracy_m}
    )


def customer_document(c: CustomerRecord) -> Document:
    return {
        "id": c.customer_id,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "address": c.address,
        "address_point": _point(c.address_point),
        "payment_terms_days": c.payment_terms_days,
        "segment": c.segment,
        "external_ref": c.external_ref,
        "on_hold": c.on_hold,
        "erased": c.erased,
    }


def product_document(p: ProductRecord) -> Document:
    return {
        "id": p.product_id,
        "sku": p.sku,
        "name": p.name,
        "price_minor": p.price_minor,
        "currency": p.currency,
        "tax_category": p.tax_category,
        "active": p.active,
    }


def _tax_line(t: TaxLine) -> Document:
    return {
        "line_id": t.line_id,
        "level": t.level,
        "code": t.code,
        "name": t.name,
        "rate": format(t.rate.normalize(), "f"),
        "taxable_minor": t.taxable_minor,
        "tax_minor": t.tax_minor,
        "sample": t.sample,
    }


def order_document(stored: StoredOrder, totals: OrderTotals) -> Document:
    o = stored.order
    return {
        "id": o.order_id,
        "customer_id": o.customer_id,
        "status": o.status.value,
        "currency": o.currency,
        "lines": [
            {
                "line_id": ln.line_id,
                "sku": ln.sku,
                "quantity": ln.quantity,
                "unit_price_minor": ln.unit_price_minor,
                "tax_code": str(ln.tax_code),
                "discount_minor": lp.discount_minor,
                "net_minor": lp.net_minor,
            }
            for ln, lp in zip(o.lines, totals.lines, strict=True)
        ],
        "discounts": [
            {
                "discount_id": d.discount_id,
                "code": d.code,
                "amount_minor": d.amount_minor,
            }
            for d in totals.discounts
        ],
        "gross_minor": totals.gross_minor,
        "discount_minor": totals.discount_minor,
        "shipping_minor": totals.shipping_minor,
        "tax_minor": totals.tax_minor,
        "total_minor": totals.total_minor,
        "ship_to": _point(stored.ship_to),
        "ship_from": _point(stored.ship_from),
        "tax_lines": [_tax_line(t) for t in o.tax_lines],
        "tax_quote_id": stored.tax_quote_id,
        "evidence": stored.evidence,
    }


def invoice_document(inv: Invoice) -> Document:
    return {
        "id": inv.invoice_id,
        "number": inv.number,
        "status": inv.status.value,
        "order_id": inv.order_id,
        "customer_id": inv.customer_id,
        "customer_name": inv.customer_name,
        "currency": inv.currency,
        "issued_on": inv.issued_on.isoformat() if inv.issued_on else None,
        "due_on": inv.due_on.isoformat() if inv.due_on else None,
        "lines": [
            {
                "line_id": ln.line_id,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit_price_minor": ln.unit_price_minor,
                "discount_minor": ln.discount_minor,
                "net_minor": ln.net_minor,
            }
            for ln in inv.lines
        ],
        "tax_lines": [_tax_line(t) for t in inv.tax_lines],
        "gross_minor": inv.gross_minor,
        "discount_minor": inv.discount_minor,
        "subtotal_minor": inv.subtotal_minor,
        "shipping_minor": inv.shipping_minor,
        "tax_minor": inv.tax_minor,
        "total_minor": inv.total_minor,
        "amount_paid_minor": inv.amount_paid_minor,
        "amount_credited_minor": inv.amount_credited_minor,
        "amount_remaining_minor": inv.amount_remaining_minor,
        "sample_data": inv.sample_data,
    }


def payment_bytes(r: PaymentResult) -> bytes:
    """The payment response as stored for idempotent replay (exact bytes)."""
    p = r.payment
    return orjson.dumps(
        {
            "id": p.payment_id,
            "customer_id": p.customer_id,
            "currency": p.currency,
            "amount_minor": p.amount_minor,
            "method": p.method,
            "token": p.token,
            "last4": p.last4,
            "received_on": p.received_on.isoformat(),
            "applications": [
                {"invoice_id": a.invoice_id, "amount_minor": a.amount_minor}
                for a in r.allocation.applications
            ],
            "credit_minor": r.allocation.credit_minor,
            "credit_balance_minor": r.credit_balance_minor,
            "invoices": [
                {
                    "id": i.invoice_id,
                    "status": i.status.value,
                    "amount_remaining_minor": i.amount_remaining_minor,
                }
                for i in r.invoices
            ],
        }
    )


def balance_document(b: Balance) -> Document:
    accounts: dict[str, dict[str, int]] = {}
    for (cur, account), value in b.report.balances.items():
        accounts.setdefault(cur, {})[account] = value
    tax: dict[str, dict[str, int]] = {}
    for (cur, jur), value in b.tax_payable.items():
        if value:  # fully credited jurisdictions net to zero
            tax.setdefault(cur, {})[jur] = value
    lines: dict[str, dict[str, int]] = {}
    for (cur, jur), value in sorted(b.committed_tax.items()):
        if value:  # a zero-tax jurisdiction posts nothing
            lines.setdefault(cur, {})[jur] = value
    return {
        "balanced": b.report.balanced,
        "currencies": {
            cur: {"debit_minor": d, "credit_minor": c, "balanced": d == c}
            for cur, (d, c) in b.report.totals.items()
        },
        "unbalanced_entries": list(b.report.unbalanced_entries),
        "accounts": accounts,
        "tax_payable": tax,
        "committed_tax_lines": lines,
        "tax_matches_lines": tax == lines,
    }


def verification_document(v: ChainVerification) -> Document:
    return {
        "ok": v.ok,
        "checked": v.checked,
        "first_broken_seq": v.first_broken_seq,
        "field": v.field,
        "reason": v.reason,
    }


def kpis_document(k: Kpis) -> Document:
    return {
        "as_of": k.ageing.as_of.isoformat(),
        "period_days": k.period_days,
        "ageing": {
            cur: {"amount_minor": k.ageing.amounts[cur], "count": k.ageing.counts[cur]}
            for cur in sorted(k.ageing.amounts)
        },
        "dso_days": {c: None if v is None else str(v) for c, v in k.dso_days.items()},
        "payment_success_rate": (
            None if k.payment_success_rate is None else str(k.payment_success_rate)
        ),
    }


def dunning_document(run: DunningRun) -> Document:
    return {
        "reminders": [
            {
                "invoice_id": e.invoice_id,
                "customer_id": e.customer_id,
                "segment": e.segment,
                "stage": e.stage,
                "days_overdue": e.days_overdue,
                "remaining_minor": e.remaining_minor,
                "currency": e.currency,
            }
            for e in run.reminders
        ],
        "held": list(run.held),
        "lifted": list(run.lifted),
    }


def summaries_document(found: list[OrderSummary]) -> Document:
    return {
        "orders": [
            {
                "id": o.order_id,
                "customer_id": o.customer_id,
                "status": o.status,
                "currency": o.currency,
                "total_minor": o.total_minor,
                "ship_to": {"lat": o.lat, "lon": o.lng},
                "distance_m": o.distance_m,
            }
            for o in found
        ]
    }


def cells_document(resolution: int, cells: list[CellStats]) -> Document:
    return {
        "resolution": resolution,
        "cells": [
            {"cell": c.cell, "orders": c.orders, "total_minor": c.total_minor}
            for c in cells
        ],
    }


def jurisdictions_document(
    rows: list[tuple[str, str, str, str, int, int, int]],
) -> Document:
    return {
        "jurisdictions": [
            {
                "currency": cur,
                "level": level,
                "code": code,
                "name": name,
                "orders": orders,
                "taxable_minor": taxable,
                "tax_minor": tax,
            }
            for cur, level, code, name, orders, taxable, tax in rows
        ]
    }


def credit_note_document(note: CreditNote, app: CreditApplication) -> Document:
    return {
        "id": note.credit_note_id,
        "invoice_id": note.invoice_id,
        "currency": note.currency,
        "reason": note.reason,
        "lines": [
            {
                "line_id": ln.line_id,
                "amount_minor": ln.amount_minor,
                "tax_minor": ln.tax_minor,
            }
            for ln in note.lines
        ],
        "tax_lines": [_tax_line(t) for t in note.tax_lines],
        "amount_minor": note.amount_minor,
        "tax_minor": note.tax_minor,
        "total_minor": note.total_minor,
        "to_receivable_minor": app.to_receivable_minor,
        "to_customer_credit_minor": app.to_customer_credit_minor,
        "invoice": invoice_document(app.invoice),
    }


def delivery_document(
    d: Delivery, event: str | None = None, subject: str | None = None
) -> Document:
    doc: Document = {
        "id": d.event_id,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
    }
    if event is not None:
        doc.update(event=event, subject_id=subject)
    return doc


def _payment_doc(r: PaymentResult) -> Document:
    return orjson.loads(payment_bytes(r))


def queued_document(q: QueuedLine) -> Document:
    return {
        "id": q.line_id,
        "status": q.status,
        "line_no": q.line.line_no,
        "booked_on": q.line.booked_on.isoformat(),
        "amount_minor": q.line.amount_minor,
        "currency": q.line.currency,
        "text": q.line.text,
        "counterparty": q.line.counterparty,
        "bank_ref": q.line.bank_ref,
        "confidence": q.confidence,
        "suggestion": q.suggestion,
    }


def import_document(imp: StatementImport) -> Document:
    return {
        "import_id": imp.import_id,
        "applied": [
            {
                "line_no": ln.line_no,
                "confidence": conf,
                "payment": _payment_doc(paid),
            }
            for ln, paid, conf in imp.applied
        ],
        "queued": [queued_document(q) for q in imp.queued],
        "debits_ignored": imp.debits,
    }


def payment_document(r: PaymentResult) -> Document:
    return _payment_doc(r)
