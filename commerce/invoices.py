"""Invoices: states, numbering at finalisation, due dates, payments, credit notes.

States follow Stripe Billing: ``draft -> open -> paid``, ``open -> void`` or
``uncollectible``, ``uncollectible -> paid`` or ``void``. The number is given
at finalisation (the lead assigns it inside the transaction, gap-free per
tenant); drafts have none.

Amounts: ``total = gross - discounts + shipping + tax``; ``amount_due = total -
credited``; ``remaining = max(0, amount_due - paid)``.

Credit notes live in :mod:`commerce.credit_notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from commerce.errors import (
    InvalidDocumentError,
    MoneyRuleError,
    OverpaymentError,
    require_transition,
)
from commerce.money import parse_minor
from commerce.orders import (
    SHIPPING_LINE,
    AppliedDiscount,
    Order,
    OrderStatus,
    TaxLine,
    price_order,
)


class InvoiceStatus(StrEnum):
    """Invoice states (Stripe's)."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN, InvoiceStatus.VOID}),
    InvoiceStatus.OPEN: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
    ),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}
PAYABLE = frozenset({InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE})


@dataclass(frozen=True)
class PaymentTerms:
    """Net N days: due ``net_days`` after the issue date (0 = on receipt)."""

    net_days: int = 30

    def __post_init__(self) -> None:
        parse_minor(self.net_days, "payment_terms.net_days")


def invoice_number(prefix: str, year: int, seq: int, width: int = 6) -> str:
    """Format a per-tenant invoice number; ``seq`` comes from a gap-free counter.

    Examples
    --------
    >>> invoice_number("INV", 2026, 42)
    'INV-2026-000042'
    """
    if not prefix or not prefix.replace("-", "").isalnum():
        raise InvalidDocumentError("prefix", "must be letters, digits and dashes")
    if seq < 1:
        raise InvalidDocumentError("seq", "must be >= 1")
    return f"{prefix}-{year:04d}-{seq:0{width}d}"


def erase_customer(invoice: Invoice) -> Invoice:
    """The invoice without the customer's personal data (amounts, tax and
    jurisdictions kept, so the books and the audit chain stay intact)."""
    return replace(invoice, customer_name=None)


def due_date(issued_on: date, terms: PaymentTerms) -> date:
    """Due date under ``terms``.

    Examples
    --------
    >>> due_date(date(2026, 1, 31), PaymentTerms(30))
    datetime.date(2026, 3, 2)
    """
    return issued_on + timedelta(days=terms.net_days)


@dataclass(frozen=True)
class InvoiceLine:
    """A billed line: amounts after discounts in ``net_minor``."""

    line_id: str
    description: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    net_minor: int


@dataclass(frozen=True)
class Invoice:
    """An invoice; ``customer_name`` is ``None`` once the customer is erased."""

    invoice_id: str
    customer_id: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    tax_lines: tuple[TaxLine, ...] = ()
    shipping_minor: int = 0
    discounts: tuple[AppliedDiscount, ...] = ()
    status: InvoiceStatus = InvoiceStatus.DRAFT
    number: str | None = None
    issued_on: date | None = None
    due_on: date | None = None
    amount_paid_minor: int = 0
    amount_credited_minor: int = 0
    order_id: str | None = None
    customer_name: str | None = None

    @property
    def gross_minor(self) -> int:
        """Lines before discounts."""
        return sum(ln.quantity * ln.unit_price_minor for ln in self.lines)

    @property
    def discount_minor(self) -> int:
        """All discounts."""
        return sum(ln.discount_minor for ln in self.lines)

    @property
    def subtotal_minor(self) -> int:
        """Lines after discounts, before shipping and tax."""
        return sum(ln.net_minor for ln in self.lines)

    @property
    def tax_minor(self) -> int:
        """All tax lines."""
        return sum(t.tax_minor for t in self.tax_lines)

    @property
    def total_minor(self) -> int:
        """``gross - discounts + shipping + tax``."""
        return self.subtotal_minor + self.shipping_minor + self.tax_minor

    @property
    def amount_due_minor(self) -> int:
        """Total less credit notes."""
        return self.total_minor - self.amount_credited_minor

    @property
    def amount_remaining_minor(self) -> int:
        """What is still to be paid (never negative)."""
        return max(0, self.amount_due_minor - self.amount_paid_minor)

    @property
    def sample_data(self) -> bool:
        """Whether any tax line used a sample (made-up) rate."""
        return any(t.sample for t in self.tax_lines)

    def creditable_base(self, line_id: str) -> int:
        """Net of a line (or shipping) that credit notes can credit."""
        if line_id == SHIPPING_LINE:
            return self.shipping_minor
        for ln in self.lines:
            if ln.line_id == line_id:
                return ln.net_minor
        raise InvalidDocumentError(f"lines[{line_id!r}]", "no such line on the invoice")


def invoice_from_order(
    order: Order, invoice_id: str, customer_name: str | None = None
) -> Invoice:
    """A draft invoice for a placed order, carrying its discounts and tax lines."""
    if order.status == OrderStatus.DRAFT or order.status == OrderStatus.CANCELLED:
        raise InvalidDocumentError(
            "order.status", f"cannot invoice a {order.status} order"
        )
    totals = price_order(order)
    by_id = {ln.line_id: ln for ln in order.lines}
    lines = tuple(
        InvoiceLine(
            lp.line_id,
            by_id[lp.line_id].description or by_id[lp.line_id].sku,
            by_id[lp.line_id].quantity,
            by_id[lp.line_id].unit_price_minor,
            lp.discount_minor,
            lp.net_minor,
        )
        for lp in totals.lines
    )
    return Invoice(
        invoice_id,
        order.customer_id,
        order.currency,
        lines,
        order.tax_lines,
        order.shipping_minor,
        totals.discounts,
        order_id=order.order_id,
        customer_name=customer_name,
    )


def transition_invoice(invoice: Invoice, target: InvoiceStatus) -> Invoice:
    """Move to ``target`` if legal; voiding a (partly) paid invoice is refused."""
    require_transition("invoice", INVOICE_TRANSITIONS, invoice.status, target)
    if target == InvoiceStatus.VOID and invoice.amount_paid_minor:
        raise MoneyRuleError("invoice: cannot void an invoice with payments; credit it")
    if target == InvoiceStatus.PAID and invoice.amount_remaining_minor:
        raise MoneyRuleError("invoice: cannot mark paid while an amount remains")
    return replace(invoice, status=InvoiceStatus(target))


def finalise_invoice(
    invoice: Invoice, number: str, issued_on: date, terms: PaymentTerms
) -> Invoice:
    """Open a draft: assign its number, issue and due dates.

    A zero-total invoice is paid on finalisation.
    """
    if not number:
        raise InvalidDocumentError("number", "must not be empty")
    require_transition(
        "invoice", INVOICE_TRANSITIONS, invoice.status, InvoiceStatus.OPEN
    )
    out = replace(
        invoice,
        status=InvoiceStatus.OPEN,
        number=number,
        issued_on=issued_on,
        due_on=due_date(issued_on, terms),
    )
    return (
        out if out.amount_remaining_minor else replace(out, status=InvoiceStatus.PAID)
    )


def apply_payment(invoice: Invoice, amount_minor: int) -> Invoice:
    """Record ``amount_minor`` paid; the invoice is ``paid`` when nothing remains.

    Raises
    ------
    OverpaymentError
        When the amount exceeds what remains (the caller keeps the excess as
        customer credit instead, see :func:`commerce.payments.allocate_payment`).
    """
    amount = parse_minor(amount_minor, "amount_minor", allow_zero=False)
    if invoice.status not in PAYABLE:
        raise MoneyRuleError(
            f"invoice: cannot pay an invoice in state {invoice.status!r}"
        )
    if amount > invoice.amount_remaining_minor:
        raise OverpaymentError(
            f"invoice {invoice.invoice_id}: payment {amount} exceeds remaining "
            f"{invoice.amount_remaining_minor}"
        )
    out = replace(invoice, amount_paid_minor=invoice.amount_paid_minor + amount)
    return (
        out if out.amount_remaining_minor else replace(out, status=InvoiceStatus.PAID)
    )
