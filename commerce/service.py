"""Order to cash for one tenant: the repository and the tax service in, pure
``commerce`` functions in the middle, domain values out.

Every public method runs inside the request's one transaction: the business
change, its ledger entry, its audit-chain link and its outbox row commit or
roll back together.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import h3
from shapely.errors import ShapelyError
from shapely.geometry import Polygon

from commerce import ledger
from commerce.audit import ChainVerification, append_record, verify_chain
from commerce.credit_notes import (
    CreditApplication,
    CreditNote,
    apply_credit_note,
    create_credit_note,
)
from commerce.dunning import (
    AgeingReport,
    CreditHoldParams,
    ReminderEvent,
    ReminderSchedule,
    ageing,
    credit_hold,
    days_sales_outstanding,
    due_reminders,
    payment_success_rate,
)
from commerce.errors import (
    CommerceError,
    CommerceInputError,
    CurrencyMismatchError,
    InvalidDocumentError,
    MoneyRuleError,
)
from commerce.idempotency import Outcome, StoredRequest, decide, validate_key
from commerce.invoices import (
    Invoice,
    InvoiceStatus,
    PaymentTerms,
    apply_payment,
    finalise_invoice,
    invoice_from_order,
    invoice_number,
    transition_invoice,
)
from commerce.money import currency_exponent, parse_minor
from commerce.offer_port import OfferRedeemer
from commerce.orders import (
    Discount,
    DiscountKind,
    Order,
    OrderLine,
    OrderStatus,
    OrderTotals,
    place_order,
    price_order,
    tax_basis,
    tax_lines_from_quote,
    transition_order,
)
from commerce.payments import Allocation, Payment, allocate_payment, receivable
from commerce.reconciliation import ReconciliationParams, match_statement
from commerce.render import render_invoice_html
from commerce.repository import (
    CommerceRepository,
    CustomerRecord,
    GeoPoint,
    OrderSummary,
    ProductRecord,
    QueuedLine,
    StoredOrder,
)
from commerce.statements import StatementLine, parse_statement
from commerce.webhooks import (
    Delivery,
    RetryParams,
    event_body,
    record_attempt,
    sign,
)
from tax_zones.codec import to_jsonable
from tax_zones.rates import TaxCategory
from tax_zones.service import Location, TaxService


class CommerceNotFoundError(CommerceError, LookupError):
    """No such customer, order or invoice for this tenant."""


class IdempotencyMismatchError(CommerceInputError):
    """The idempotency key was already used with another request body."""


class IdempotencyInProgressError(CommerceError):
    """A request with this idempotency key is still being processed."""


class CreditHoldError(MoneyRuleError):
    """The customer is on credit hold (overdue invoices): no new credit orders."""


@dataclass(frozen=True)
class CommerceParams:
    """Invoice numbering prefix and the seller name printed on invoices."""

    invoice_prefix: str = "INV"
    seller: str = ""


@dataclass(frozen=True)
class NewLine:
    """An order line as the caller gives it: a catalog SKU and a quantity."""

    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class PlacedOrder:
    """A placed order, its totals and its finalised invoice."""

    stored: StoredOrder
    totals: OrderTotals
    invoice: Invoice


@dataclass(frozen=True)
class PaymentRequest:
    """A payment to record (``allocations``: invoice id -> amount, optional)."""

    customer_id: uuid.UUID
    currency: str
    amount_minor: int
    method: str = "card"
    token: str | None = None
    last4: str | None = None
    reference: str | None = None
    allocations: Mapping[str, int] | None = None
    status: str = "succeeded"  # or "failed": recorded for the KPIs, nothing applied


@dataclass(frozen=True)
class PaymentResult:
    """A recorded payment, how it was allocated and the customer's credit after."""

    payment: Payment
    allocation: Allocation
    invoices: tuple[Invoice, ...]
    credit_balance_minor: int


@dataclass(frozen=True)
class Balance:
    """The ledger checked per currency, with tax payable against the tax lines."""

    report: ledger.LedgerReport
    tax_payable: dict[tuple[str, str], int]
    committed_tax: dict[tuple[str, str], int]


# (url, headers, body) -> (HTTP status or None, error text or None); never raises.
Sender = Callable[
    [str, dict[str, str], bytes], Awaitable[tuple[int | None, str | None]]
]

MAX_RADIUS_M = 1_000_000.0
MAX_POLYGON_VERTICES = 10_000


@dataclass(frozen=True)
class CellStats:
    """Orders in one H3 cell."""

    cell: str
    orders: int
    total_minor: dict[str, int]


@dataclass(frozen=True)
class StatementImport:
    """An imported statement: credits applied as payments, lines queued."""

    import_id: str
    applied: tuple[tuple[StatementLine, PaymentResult, float], ...]
    queued: tuple[QueuedLine, ...]
    debits: int


@dataclass(frozen=True)
class Kpis:
    """Receivables KPIs as of a day."""

    ageing: AgeingReport
    dso_days: dict[str, Decimal | None]
    payment_success_rate: Decimal | None
    period_days: int


@dataclass(frozen=True)
class DunningRun:
    """What one dunning run emitted and changed."""

    reminders: tuple[ReminderEvent, ...]
    held: tuple[str, ...]
    lifted: tuple[str, ...]


def _mask(value: str | None, keep: int = 1) -> str | None:
    if not value:
        return value
    return value[:keep] + "***"


def mask_customer(c: CustomerRecord) -> CustomerRecord:
    """The customer as list endpoints show it: contact data masked."""
    email = c.email
    if email and "@" in email:
        local, _, domain = email.partition("@")
        email = f"{local[:1]}***@{domain}"
    phone = f"***{c.phone[-2:]}" if c.phone else c.phone
    return replace(
        c,
        name=_mask(c.name),
        email=email,
        phone=phone,
        address=_mask(c.address, 0),
        address_point=None,
    )


class CommerceService:
    """Customers, catalog, orders, invoices, payments, ledger and audit."""

    def __init__(
        self,
        repo: CommerceRepository,
        tax: TaxService,
        actor: str,
        params: CommerceParams | None = None,
        offers: OfferRedeemer | None = None,
    ) -> None:
        self.repo = repo
        self.tax = tax
        self.actor = actor
        self.params = params or CommerceParams()
        self.offers = offers

    # ---- plumbing ------------------------------------------------------------
    async def _record(self, event: str, subject_id: str, data: dict[str, Any]) -> None:
        """Append the audit link and the outbox row of one business change."""
        previous = await self.repo.lock_audit_chain()
        rec = append_record(
            previous,
            str(self.repo.tenant_id),
            event,
            data,
            datetime.now(UTC),
            self.actor,
        )
        await self.repo.insert_audit(rec)
        await self.repo.add_outbox(event, subject_id, {"event": event, **data})

    async def _customer(
        self, customer_id: uuid.UUID, *, for_update: bool = False
    ) -> CustomerRecord:
        found = await self.repo.get_customer(customer_id, for_update=for_update)
        if found is None:
            raise CommerceNotFoundError(f"customer_id: no customer {customer_id}")
        return found

    # ---- customers -----------------------------------------------------------
    async def create_customer(self, c: CustomerRecord) -> CustomerRecord:
        c = replace(c, customer_id=str(uuid.uuid4()))
        PaymentTerms(c.payment_terms_days)
        await self.repo.insert_customer(c)
        await self._record("customer.created", c.customer_id, {"id": c.customer_id})
        return c

    async def list_customers(self, limit: int, offset: int) -> list[CustomerRecord]:
        return [mask_customer(c) for c in await self.repo.list_customers(limit, offset)]

    async def get_customer(self, customer_id: uuid.UUID) -> CustomerRecord:
        return await self._customer(customer_id)

    async def update_customer(
        self, customer_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> CustomerRecord:
        current = await self._customer(customer_id, for_update=True)
        if current.erased:
            raise InvalidDocumentError("customer_id", "the customer was erased")
        updated = replace(current, **changes)
        PaymentTerms(updated.payment_terms_days)
        await self.repo.update_customer(updated)
        await self._record(
            "customer.updated",
            current.customer_id,
            {"id": current.customer_id, "fields": sorted(changes)},
        )
        return updated

    async def erase_customer(self, customer_id: uuid.UUID) -> CustomerRecord:
        """Anonymise: contact data gone; invoices keep amounts and jurisdictions."""
        current = await self._customer(customer_id, for_update=True)
        await self.repo.erase_customer(customer_id)
        await self._record(
            "customer.erased", current.customer_id, {"id": current.customer_id}
        )
        return await self._customer(customer_id)

    # ---- catalog -------------------------------------------------------------
    async def create_product(self, p: ProductRecord) -> ProductRecord:
        currency_exponent(p.currency)
        parse_minor(p.price_minor, "price_minor")
        TaxCategory(p.tax_category)
        p = replace(p, product_id=str(uuid.uuid4()))
        await self.repo.insert_product(p)
        return p

    async def list_products(self) -> list[ProductRecord]:
        return await self.repo.products()

    # ---- orders --------------------------------------------------------------
    async def create_order(
        self,
        customer_id: uuid.UUID,
        currency: str,
        lines: Sequence[NewLine],
        discounts: Sequence[Discount],
        shipping_minor: int,
        ship_to: GeoPoint,
        ship_from: GeoPoint | None = None,
        ship_from_label: str | None = None,
        offer_code: str | None = None,
    ) -> tuple[StoredOrder, OrderTotals]:
        """A draft order priced from the catalog.

        ``offer_code``: a proximity offer's code; its discount is added as
        fixed line discounts and the code is marked redeemed in this transaction.
        """
        customer = await self._customer(customer_id)
        if customer.erased:
            raise InvalidDocumentError("customer_id", "the customer was erased")
        currency_exponent(currency)
        products = {
            p.sku: p for p in await self.repo.products([ln.sku for ln in lines])
        }
        order_lines = []
        for i, ln in enumerate(lines):
            p = products.get(ln.sku)
            if p is None or not p.active:
                raise InvalidDocumentError(f"lines[{i}].sku", "no such active product")
            if p.currency != currency:
                raise CurrencyMismatchError(
                    f"lines[{i}].sku", f"priced in {p.currency}, order in {currency}"
                )
            order_lines.append(
                OrderLine(
                    ln.line_id,
                    p.sku,
                    ln.quantity,
                    p.price_minor,
                    p.tax_category,
                    p.name,
                )
            )
        order_id = str(uuid.uuid4())
        offer_discounts: list[Discount] = []
        if offer_code is not None:
            if self.offers is None:
                raise InvalidDocumentError("offer_code", "offers are not enabled")
            label, parts = await self.offers.redeem(
                offer_code,
                customer_id=customer.customer_id,
                order_id=order_id,
                currency=currency,
                lines=[(ln.line_id, ln.sku, ln.gross_minor) for ln in order_lines],
            )
            offer_discounts = [
                Discount(
                    f"offer-{line_id}",
                    DiscountKind.FIXED,
                    amount_minor=amount,
                    line_id=line_id,
                    code=offer_code,
                    label=label,
                )
                for line_id, amount in parts
            ]
        order = Order(
            order_id,
            customer.customer_id,
            currency,
            tuple(order_lines),
            tuple(discounts) + tuple(offer_discounts),
            shipping_minor,
        )
        totals = price_order(order)
        await self.repo.save_order(order, totals, ship_to, ship_from, ship_from_label)
        stored = StoredOrder(order, ship_to, ship_from, ship_from_label, None, None)
        return stored, totals

    async def get_order(self, order_id: uuid.UUID) -> tuple[StoredOrder, OrderTotals]:
        stored = await self.repo.get_order(order_id)
        if stored is None:
            raise CommerceNotFoundError(f"order_id: no order {order_id}")
        return stored, price_order(stored.order)

    async def place_order(self, order_id: uuid.UUID) -> PlacedOrder:
        """Quote and commit tax, place, invoice (numbered), post, audit, announce."""
        stored = await self.repo.get_order(order_id, for_update=True)
        if stored is None:
            raise CommerceNotFoundError(f"order_id: no order {order_id}")
        order = stored.order
        if order.status != OrderStatus.DRAFT:
            place_order(order, (), order.currency)  # raises IllegalTransitionError
        customer = await self._customer(uuid.UUID(order.customer_id))
        if customer.on_hold:
            raise CreditHoldError(
                f"customer_id: customer {customer.customer_id} is on credit hold "
                "(overdue invoices); a payment lifts it"
            )
        to, frm = stored.ship_to, stored.ship_from
        quote, _ = await self.tax.quote(
            currency=order.currency,
            lines=tax_basis(order),
            ship_to=Location(to.lat, to.lng, to.accuracy_m),
            ship_from=Location(frm.lat, frm.lng, frm.accuracy_m) if frm else None,
            shipping_minor=order.shipping_minor,
        )
        quote = await self.tax.commit(uuid.UUID(quote.quote_id), order.order_id)
        placed = place_order(order, tax_lines_from_quote(quote), quote.currency)
        totals = price_order(placed)
        evidence = {
            "quote_id": quote.quote_id,
            "point": {"lat": to.lat, "lon": to.lng},
            "accuracy_m": to.accuracy_m,
            "resolution": to_jsonable(quote.location),
            "complete": quote.complete,
            "sample_data": quote.sample_data,
        }
        await self.repo.save_placed(placed, totals, quote.quote_id, evidence)
        today = datetime.now(UTC).date()
        invoice = invoice_from_order(placed, str(uuid.uuid4()), customer.name)
        seq = await self.repo.next_invoice_seq()
        invoice = finalise_invoice(
            invoice,
            invoice_number(self.params.invoice_prefix, today.year, seq),
            today,
            PaymentTerms(customer.payment_terms_days),
        )
        await self.repo.insert_invoice(invoice, seq)
        await self.repo.insert_entry(
            ledger.invoice_finalised(invoice, str(uuid.uuid4()))
        )
        await self._record(
            "order.placed",
            order.order_id,
            {
                "order_id": order.order_id,
                "invoice_id": invoice.invoice_id,
                "invoice_number": invoice.number,
                "currency": invoice.currency,
                "total_minor": invoice.total_minor,
                "tax_minor": invoice.tax_minor,
                "quote_id": quote.quote_id,
            },
        )
        return PlacedOrder(replace(stored, order=placed), totals, invoice)

    # ---- spatial queries -----------------------------------------------------
    async def orders_within(
        self, at: GeoPoint, radius_m: float, limit: int = 500
    ) -> list[OrderSummary]:
        if not 0 < radius_m <= MAX_RADIUS_M:
            raise InvalidDocumentError("radius_m", f"must be in (0, {MAX_RADIUS_M}]")
        return await self.repo.orders_within(at, radius_m, limit)

    async def orders_in(
        self, rings: Sequence[Sequence[tuple[float, float]]], limit: int = 500
    ) -> list[OrderSummary]:
        """Orders shipping inside the polygon (GeoJSON rings of lon, lat)."""
        try:
            area = Polygon(rings[0], rings[1:])
        except (ValueError, TypeError, IndexError, ShapelyError) as exc:
            raise InvalidDocumentError("polygon", f"not a polygon: {exc}") from exc
        if area.is_empty or not area.is_valid:
            raise InvalidDocumentError("polygon", "must be valid and non-empty")
        if len(area.exterior.coords) > MAX_POLYGON_VERTICES:
            raise InvalidDocumentError(
                "polygon", f"at most {MAX_POLYGON_VERTICES} vertices"
            )
        return await self.repo.orders_covered_by(area.wkt, limit)

    async def h3_stats(self, resolution: int) -> list[CellStats]:
        """Placed orders per H3 cell at ``resolution``: count and totals per currency."""
        if not 0 <= resolution <= 15:
            raise InvalidDocumentError("resolution", "must be 0..15")
        counts: dict[str, int] = defaultdict(int)
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for o in await self.repo.order_points():
            cell = h3.latlng_to_cell(o.lat, o.lng, resolution)
            counts[cell] += 1
            totals[cell][o.currency] += o.total_minor
        return [
            CellStats(cell, counts[cell], dict(totals[cell]))
            for cell in sorted(counts, key=lambda c: (-counts[c], c))
        ]

    async def jurisdiction_stats(
        self,
    ) -> list[tuple[str, str, str, str, int, int, int]]:
        """Orders, taxable and tax per jurisdiction (from committed tax lines)."""
        return await self.repo.tax_by_jurisdiction()

    async def cancel_order(
        self, order_id: uuid.UUID
    ) -> tuple[StoredOrder, OrderTotals]:
        """Cancel a draft, or a placed order whose invoice is untouched (the
        invoice is voided, its entry mirrored and its tax reversed); anything
        paid or credited must be credited first (409)."""
        stored = await self.repo.get_order(order_id, for_update=True)
        if stored is None:
            raise CommerceNotFoundError(f"order_id: no order {order_id}")
        cancelled = transition_order(stored.order, OrderStatus.CANCELLED)
        inv = await self.repo.invoice_for_order(order_id)
        if inv is not None:
            if inv.amount_paid_minor or inv.amount_credited_minor:
                raise MoneyRuleError(
                    "order: its invoice has payments or credit notes; "
                    "issue a credit note instead of cancelling"
                )
            void = transition_invoice(inv, InvoiceStatus.VOID)
            await self.repo.insert_entry(ledger.invoice_voided(inv, str(uuid.uuid4())))
            await self.repo.set_invoice_status(void)
        if stored.tax_quote_id:
            await self.tax.reverse(uuid.UUID(stored.tax_quote_id))
        await self.repo.set_order_status(
            cancelled.order_id, OrderStatus.CANCELLED, only_from=stored.order.status
        )
        await self._record(
            "order.cancelled",
            cancelled.order_id,
            {
                "order_id": cancelled.order_id,
                "invoice_id": inv.invoice_id if inv else None,
            },
        )
        return replace(stored, order=cancelled), price_order(cancelled)

    # ---- invoices ------------------------------------------------------------
    async def get_invoice(self, invoice_id: uuid.UUID) -> Invoice:
        found = await self.repo.get_invoice(invoice_id)
        if found is None:
            raise CommerceNotFoundError(f"invoice_id: no invoice {invoice_id}")
        return found

    async def invoice_html(self, invoice_id: uuid.UUID) -> str:
        return render_invoice_html(
            await self.get_invoice(invoice_id),
            await self.repo.credit_notes(invoice_id),
            seller=self.params.seller,
        )

    async def issue_credit_note(
        self,
        invoice_id: uuid.UUID,
        amounts: Mapping[str, int] | None,
        reason: str = "",
    ) -> tuple[CreditNote, CreditApplication]:
        """Credit (part of) an invoice: tax back per jurisdiction, in the tax
        engine too; what was already paid becomes customer credit."""
        inv = await self.repo.get_invoice(invoice_id, for_update=True)
        if inv is None:
            raise CommerceNotFoundError(f"invoice_id: no invoice {invoice_id}")
        previous = await self.repo.credit_notes(invoice_id)
        note = create_credit_note(inv, str(uuid.uuid4()), amounts, previous, reason)
        app = apply_credit_note(inv, note)
        stored = await self.repo.get_order(uuid.UUID(inv.order_id or ""))
        reversed_quote = None
        taxed = {t.line_id for t in inv.tax_lines}
        refunds = {
            ln.line_id: ln.amount_minor for ln in note.lines if ln.line_id in taxed
        }
        if stored is not None and stored.tax_quote_id and refunds:
            await self.tax.reverse(uuid.UUID(stored.tax_quote_id), refunds)
            reversed_quote = stored.tax_quote_id
        await self.repo.update_invoice_credit(app.invoice)
        if app.to_customer_credit_minor:
            await self.repo.add_credit(
                inv.customer_id, inv.currency, app.to_customer_credit_minor
            )
        if app.invoice.status == InvoiceStatus.PAID and inv.order_id:
            await self.repo.set_order_status(
                inv.order_id, OrderStatus.PAID, only_from=OrderStatus.PLACED
            )
        await self.repo.insert_credit_note(note, app, reversed_quote)
        await self.repo.insert_entry(
            ledger.credit_note_issued(note, app, str(uuid.uuid4()))
        )
        await self._record(
            "credit_note.issued",
            note.credit_note_id,
            {
                "credit_note_id": note.credit_note_id,
                "invoice_id": inv.invoice_id,
                "currency": note.currency,
                "amount_minor": note.amount_minor,
                "tax_minor": note.tax_minor,
                "to_customer_credit_minor": app.to_customer_credit_minor,
            },
        )
        return note, app

    # ---- payments ------------------------------------------------------------
    async def record_payment(
        self,
        key: str | None,
        fingerprint: str,
        req: PaymentRequest,
        render: Callable[[PaymentResult], bytes],
    ) -> StoredRequest:
        """Record a payment once per idempotency key (Stripe semantics).

        The key is claimed in this transaction before any work; the response
        bytes are stored with the payment, so a replay returns them verbatim.
        """
        key = validate_key(key)
        stored = await self.repo.claim_idempotency_key(key, fingerprint)
        outcome = decide(stored, fingerprint)
        if outcome is Outcome.MISMATCH:
            raise IdempotencyMismatchError(
                "Idempotency-Key", "already used with a different request"
            )
        if outcome is Outcome.IN_PROGRESS:
            raise IdempotencyInProgressError(
                "Idempotency-Key: a request with this key is in progress; retry"
            )
        if outcome is Outcome.REPLAY and stored is not None:
            return stored
        body = render(await self._pay(req))
        await self.repo.store_response(key, 201, body, "application/json")
        return StoredRequest(fingerprint, 201, body, "application/json")

    async def apply_received_payment(self, req: PaymentRequest) -> PaymentResult:
        """Record money already received elsewhere (a payment provider's webhook,
        deduplicated by the caller in this same transaction)."""
        return await self._pay(req)

    async def _pay(self, req: PaymentRequest) -> PaymentResult:
        customer = await self._customer(req.customer_id, for_update=True)
        payment = Payment(
            str(uuid.uuid4()),
            customer.customer_id,
            req.currency,
            req.amount_minor,
            datetime.now(UTC).date(),
            req.method,
            req.token,
            req.last4,
        )
        if req.status == "failed":
            return await self._failed_payment(payment, req.reference)
        invoices = {
            i.invoice_id: i
            for i in await self.repo.lock_open_invoices(req.customer_id, req.currency)
        }
        for inv_id in req.allocations or {}:
            if inv_id not in invoices and await self._no_invoice(inv_id):
                raise CommerceNotFoundError(
                    f"allocations[{inv_id!r}]: no invoice {inv_id}"
                )
        allocation = allocate_payment(
            payment.amount_minor,
            payment.currency,
            customer.customer_id,
            [receivable(i) for i in invoices.values()],
            dict(req.allocations) if req.allocations is not None else None,
        )
        touched = []
        for app in allocation.applications:
            inv = apply_payment(invoices[app.invoice_id], app.amount_minor)
            await self.repo.update_invoice_payment(inv)
            if inv.status == InvoiceStatus.PAID and inv.order_id:
                await self.repo.set_order_status(
                    inv.order_id, OrderStatus.PAID, only_from=OrderStatus.PLACED
                )
            touched.append(inv)
        await self.repo.insert_payment(payment, allocation, req.reference)
        balance = await self.repo.add_credit(
            customer.customer_id, payment.currency, allocation.credit_minor
        )
        await self.repo.insert_entry(
            ledger.payment_received(payment, allocation, str(uuid.uuid4()))
        )
        await self._record(
            "payment.received",
            payment.payment_id,
            {
                "payment_id": payment.payment_id,
                "customer_id": customer.customer_id,
                "currency": payment.currency,
                "amount_minor": payment.amount_minor,
                "applied": {
                    a.invoice_id: a.amount_minor for a in allocation.applications
                },
                "credit_minor": allocation.credit_minor,
            },
        )
        if customer.on_hold:
            await self.repo.set_on_hold(customer.customer_id, False)
            await self._record(
                "customer.hold_lifted",
                customer.customer_id,
                {"id": customer.customer_id, "payment_id": payment.payment_id},
            )
        return PaymentResult(payment, allocation, tuple(touched), balance)

    async def _no_invoice(self, invoice_id: str) -> bool:
        """Whether this tenant has no invoice ``invoice_id`` at all (404, where
        an existing invoice that is not open is a 422)."""
        try:
            key = uuid.UUID(invoice_id)
        except ValueError:
            return True
        return await self.repo.get_invoice(key) is None

    async def _failed_payment(
        self, payment: Payment, reference: str | None
    ) -> PaymentResult:
        nothing = Allocation(payment.currency, payment.amount_minor, (), 0)
        await self.repo.insert_payment(payment, nothing, reference, status="failed")
        await self._record(
            "payment.failed",
            payment.payment_id,
            {"payment_id": payment.payment_id, "customer_id": payment.customer_id},
        )
        balances = await self.repo.credit_balances(uuid.UUID(payment.customer_id))
        return PaymentResult(payment, nothing, (), balances.get(payment.currency, 0))

    # ---- receivables ---------------------------------------------------------
    async def kpis(self, as_of: date, period_days: int = 90) -> Kpis:
        """Ageing buckets, DSO per currency and payment success rate."""
        if period_days <= 0:
            raise InvalidDocumentError("period_days", "must be > 0")
        items = await self.repo.dunning_items()
        report = ageing(items, as_of)
        since = as_of - timedelta(days=period_days)
        sales = await self.repo.invoiced_since(since)
        open_by_ccy: dict[str, int] = {}
        for it in items:
            open_by_ccy[it.currency] = (
                open_by_ccy.get(it.currency, 0) + it.remaining_minor
            )
        dso = {
            c: days_sales_outstanding(
                open_by_ccy.get(c, 0), sales.get(c, 0), period_days
            )
            for c in sorted(set(sales) | set(open_by_ccy))
        }
        rate = payment_success_rate(await self.repo.payment_statuses(since))
        return Kpis(report, dso, rate, period_days)

    async def run_dunning(
        self,
        as_of: date,
        schedules: Mapping[str, Sequence[int]] | None = None,
        hold: CreditHoldParams | None = None,
    ) -> DunningRun:
        """Emit the reminders due (outbox) and put late customers on credit hold."""
        plans = {
            seg: ReminderSchedule(seg, tuple(days))
            for seg, days in (schedules or {"default": (3, 7, 14)}).items()
        }
        if "default" not in plans:
            plans["default"] = ReminderSchedule("default")
        items = await self.repo.dunning_items()
        events = due_reminders(items, plans, as_of, await self.repo.reminders_sent())
        for e in events:
            await self.repo.add_outbox(
                "invoice.reminder",
                e.invoice_id,
                {
                    "event": "invoice.reminder",
                    "invoice_id": e.invoice_id,
                    "customer_id": e.customer_id,
                    "segment": e.segment,
                    "stage": e.stage,
                    "days_overdue": e.days_overdue,
                    "remaining_minor": e.remaining_minor,
                    "currency": e.currency,
                },
            )
        by_customer: dict[str, list[Any]] = {}
        for it in items:
            by_customer.setdefault(it.customer_id, []).append(it)
        paid_on = await self.repo.last_payments()
        held, lifted = [], []
        for cust, was in (await self.repo.holds()).items():
            now = credit_hold(
                by_customer.get(cust, []), as_of, paid_on.get(cust), hold
            ).on_hold
            if now != was:
                await self.repo.set_on_hold(cust, now)
                (held if now else lifted).append(cust)
        if events or held or lifted:
            await self._record(
                "dunning.run",
                as_of.isoformat(),
                {
                    "as_of": as_of.isoformat(),
                    "reminders": len(events),
                    "held": sorted(held),
                    "lifted": sorted(lifted),
                },
            )
        return DunningRun(tuple(events), tuple(held), tuple(lifted))

    # ---- reconciliation ------------------------------------------------------
    async def import_statement(
        self,
        data: bytes,
        params: ReconciliationParams | None = None,
        content_type: str | None = None,
    ) -> StatementImport:
        """Match a statement's credits (CSV or camt.053 XML) to open invoices;
        confident matches become payments now, the rest waits in the queue."""
        lines = parse_statement(data, content_type)
        import_id = str(uuid.uuid4())
        result = match_statement(lines, await self.repo.open_invoices(), params)
        applied = []
        queued: list[QueuedLine] = []
        for m in result.matches:
            suggestion = {
                "customer_id": m.customer_id,
                "applications": {a.invoice_id: a.amount_minor for a in m.applications},
                "reasons": list(m.reasons),
            }
            if not m.auto:
                lid = await self.repo.insert_statement_line(
                    import_id, m.line, "suggested", m.confidence, suggestion
                )
                queued.append(
                    QueuedLine(lid, m.line, "suggested", m.confidence, suggestion)
                )
                continue
            paid = await self._pay(
                PaymentRequest(
                    uuid.UUID(m.customer_id),
                    m.line.currency,
                    m.line.amount_minor,
                    "bank_transfer",
                    reference=m.line.bank_ref or None,
                    allocations=suggestion["applications"] or None,
                )
            )
            await self.repo.insert_statement_line(
                import_id,
                m.line,
                "matched",
                m.confidence,
                suggestion,
                paid.payment.payment_id,
            )
            applied.append((m.line, paid, m.confidence))
        for ln in result.unmatched:
            lid = await self.repo.insert_statement_line(import_id, ln, "unmatched")
            queued.append(QueuedLine(lid, ln, "unmatched", None, None))
        return StatementImport(
            import_id, tuple(applied), tuple(queued), len(result.debits)
        )

    async def reconciliation_queue(self) -> list[QueuedLine]:
        return await self.repo.statement_lines(["unmatched", "suggested"])

    async def resolve_statement_line(
        self,
        line_id: int,
        customer_id: uuid.UUID,
        allocations: Mapping[str, int] | None = None,
    ) -> PaymentResult:
        """A person says whose money a queued line is (and, optionally, for what)."""
        found = await self.repo.statement_lines(
            ["unmatched", "suggested"], line_id, for_update=True
        )
        if not found:
            raise CommerceNotFoundError(f"line_id: no queued statement line {line_id}")
        ln = found[0].line
        paid = await self._pay(
            PaymentRequest(
                customer_id,
                ln.currency,
                ln.amount_minor,
                "bank_transfer",
                reference=ln.bank_ref or None,
                allocations=allocations,
            )
        )
        await self.repo.resolve_statement_line(line_id, paid.payment.payment_id)
        return paid

    # ---- outbox delivery -----------------------------------------------------
    async def set_webhook_endpoint(self, url: str, secret: str) -> None:
        if not url.startswith(("https://", "http://")):
            raise InvalidDocumentError("url", "must be an http(s) URL")
        if len(secret) < 16:
            raise InvalidDocumentError("secret", "must be at least 16 characters")
        await self.repo.set_webhook_endpoint(url, secret)

    async def deliver_outbox(
        self,
        sender: Sender,
        now: datetime,
        limit: int = 100,
        retry: RetryParams | None = None,
        rng: random.Random | None = None,
    ) -> list[Delivery]:
        """Deliver due events to the tenant's endpoint, signed (``t=..,v1=..``).

        Each body carries the outbox id, so a receiver drops replays; failures
        are retried with exponential backoff until ``max_attempts``.
        """
        endpoint = await self.repo.webhook_endpoint()
        if endpoint is None:
            raise InvalidDocumentError("webhook", "no webhook endpoint configured")
        url, secret = endpoint
        retry = retry or RetryParams()
        rng = rng or random.Random()
        out = []
        for delivery, data, created_at in await self.repo.due_outbox(now, limit):
            body = event_body(delivery.event_id, created_at, data)
            headers = {
                "Content-Type": "application/json",
                "Webhook-Id": delivery.event_id,
                "Webhook-Signature": sign(secret.encode(), body, int(now.timestamp())),
            }
            status, error = await sender(url, headers, body)
            done = record_attempt(
                replace(delivery, endpoint_url=url), now, retry, rng, status, error
            )
            await self.repo.save_delivery(done, now)
            out.append(done)
        return out

    async def outbox(
        self, status: str | None, limit: int
    ) -> list[tuple[Delivery, str, str]]:
        return await self.repo.outbox(status, limit)

    # ---- books ---------------------------------------------------------------
    async def balance(self) -> Balance:
        entries = await self.repo.entries()
        return Balance(
            ledger.check_ledger(entries),
            ledger.tax_payable_by_jurisdiction(entries),
            await self._net_tax_lines(),
        )

    async def _net_tax_lines(self) -> dict[tuple[str, str], int]:
        """Committed tax lines less the tax credited back by credit notes."""
        out = dict(await self.repo.committed_tax_by_jurisdiction())
        for note in await self.repo.credit_notes():
            for t in note.tax_lines:
                key = (note.currency, f"{t.level}:{t.code}")
                out[key] = out.get(key, 0) - t.tax_minor
        return out

    async def verify_audit(self) -> ChainVerification:
        return verify_chain(await self.repo.audit_records(), str(self.repo.tenant_id))


__all__ = [
    "Balance",
    "CellStats",
    "CommerceNotFoundError",
    "CommerceParams",
    "CommerceService",
    "CreditHoldError",
    "DunningRun",
    "IdempotencyInProgressError",
    "IdempotencyMismatchError",
    "Kpis",
    "NewLine",
    "PaymentRequest",
    "PaymentResult",
    "PlacedOrder",
    "StatementImport",
    "mask_customer",
]
