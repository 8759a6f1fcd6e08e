"""Payments: allocation across invoices, customer credit, refunds.

A payment is split over open invoices of the same customer and currency,
oldest due date first, or as the caller says explicitly. No invoice ever gets
more than what remains on it; whatever is left becomes customer credit, which
later pays invoices (:func:`allocate_credit`) or goes back as a refund.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from commerce.errors import (
    CurrencyMismatchError,
    InsufficientCreditError,
    InvalidDocumentError,
    OvercreditError,
    OverpaymentError,
)
from commerce.invoices import PAYABLE, Invoice
from commerce.money import currency_exponent, parse_minor


@dataclass(frozen=True)
class Receivable:
    """What allocation needs to know of an open invoice."""

    invoice_id: str
    customer_id: str
    currency: str
    remaining_minor: int
    due_on: date | None = None
    issued_on: date | None = None
    number: str | None = None


def receivable(invoice: Invoice) -> Receivable:
    """The allocation view of an invoice."""
    return Receivable(
        invoice.invoice_id,
        invoice.customer_id,
        invoice.currency,
        invoice.amount_remaining_minor if invoice.status in PAYABLE else 0,
        invoice.due_on,
        invoice.issued_on,
        invoice.number,
    )


@dataclass(frozen=True)
class Payment:
    """Money received from a customer; card data is never here, only a token."""

    payment_id: str
    customer_id: str
    currency: str
    amount_minor: int
    received_on: date
    method: str = "bank_transfer"
    token: str | None = None
    last4: str | None = None

    def __post_init__(self) -> None:
        currency_exponent(self.currency)
        parse_minor(self.amount_minor, "amount_minor", allow_zero=False)
        if self.last4 is not None and not (
            len(self.last4) == 4 and self.last4.isdigit()
        ):
            raise InvalidDocumentError("last4", "must be exactly four digits")


@dataclass(frozen=True)
class Application:
    """Part of a payment (or credit) applied to one invoice."""

    invoice_id: str
    amount_minor: int


@dataclass(frozen=True)
class Allocation:
    """How an amount was split: invoices first, the rest to customer credit."""

    currency: str
    amount_minor: int
    applications: tuple[Application, ...]
    credit_minor: int

    @property
    def applied_minor(self) -> int:
        """Total applied to invoices."""
        return sum(a.amount_minor for a in self.applications)


def _oldest_first(r: Receivable) -> tuple[date, date, str]:
    far = date.max
    return (r.due_on or far, r.issued_on or far, r.number or r.invoice_id)


def allocate_payment(
    amount_minor: int,
    currency: str,
    customer_id: str,
    receivables: Sequence[Receivable],
    explicit: Mapping[str, int] | None = None,
) -> Allocation:
    """Split ``amount_minor`` over a customer's open invoices.

    Parameters
    ----------
    amount_minor : int
        The payment (or credit) in minor units, > 0.
    currency, customer_id : str
        Only invoices of this customer and currency are paid.
    receivables : sequence of Receivable
        Open invoices with what remains on each.
    explicit : mapping invoice id -> amount, optional
        Pay exactly these amounts (validated); otherwise oldest due date first.

    Returns
    -------
    Allocation
        ``applied + credit == amount_minor``; no invoice above its remaining.

    Raises
    ------
    OverpaymentError
        An explicit amount exceeds an invoice's remaining or the payment.
    CurrencyMismatchError, InvalidDocumentError
        An explicit invoice is in another currency, of another customer or unknown.

    Examples
    --------
    >>> rs = [Receivable("a", "c", "USD", 300, date(2026, 2, 1)),
    ...       Receivable("b", "c", "USD", 500, date(2026, 1, 1))]
    >>> al = allocate_payment(1000, "USD", "c", rs)
    >>> [(a.invoice_id, a.amount_minor) for a in al.applications], al.credit_minor
    ([('b', 500), ('a', 300)], 200)
    """
    amount = parse_minor(amount_minor, "amount_minor", allow_zero=False)
    currency_exponent(currency)
    by_id = {r.invoice_id: r for r in receivables}
    apps: list[Application] = []
    left = amount
    if explicit is not None:
        for inv_id, raw in explicit.items():
            field = f"allocations[{inv_id!r}]"
            part = parse_minor(raw, field, allow_zero=False)
            r = by_id.get(inv_id)
            if r is None or r.customer_id != customer_id:
                raise InvalidDocumentError(
                    field, "no such open invoice for this customer"
                )
            if r.currency != currency:
                raise CurrencyMismatchError(
                    field, f"invoice is in {r.currency}, payment in {currency}"
                )
            if part > r.remaining_minor:
                raise OverpaymentError(
                    f"{field}: {part} exceeds remaining {r.remaining_minor}"
                )
            if part > left:
                raise OverpaymentError(
                    f"{field}: allocations exceed the payment of {amount}"
                )
            apps.append(Application(inv_id, part))
            left -= part
    else:
        eligible = sorted(
            (
                r
                for r in receivables
                if r.customer_id == customer_id
                and r.currency == currency
                and r.remaining_minor > 0
            ),
            key=_oldest_first,
        )
        for r in eligible:
            if left == 0:
                break
            part = min(left, r.remaining_minor)
            apps.append(Application(r.invoice_id, part))
            left -= part
    return Allocation(currency, amount, tuple(apps), left)


def allocate_credit(
    balance_minor: int,
    currency: str,
    customer_id: str,
    receivables: Sequence[Receivable],
    amount_minor: int | None = None,
) -> Allocation:
    """Use a customer's credit balance on open invoices, oldest first.

    ``amount_minor`` (default: the whole balance) must not exceed the balance;
    the returned ``credit_minor`` is what stays unused.
    """
    want = balance_minor if amount_minor is None else amount_minor
    if want > balance_minor:
        raise InsufficientCreditError(
            f"customer {customer_id}: credit {balance_minor} < {want}"
        )
    if want <= 0:
        return Allocation(currency, 0, (), 0)
    return allocate_payment(want, currency, customer_id, receivables)


@dataclass(frozen=True)
class Refund:
    """Money sent back to a customer, out of their credit balance."""

    refund_id: str
    customer_id: str
    currency: str
    amount_minor: int
    payment_id: str | None = None
    reason: str = ""


def refund(
    refund_id: str,
    payment: Payment,
    amount_minor: int,
    refunded_minor: int,
    credit_balance_minor: int,
    reason: str = "",
) -> Refund:
    """Refund (part of) a payment; several partial refunds are allowed.

    Parameters
    ----------
    amount_minor : int
        This refund, > 0.
    refunded_minor : int
        What earlier refunds of the same payment returned.
    credit_balance_minor : int
        The customer's credit in the payment's currency: a refund is paid out
        of credit (overpayments and credit notes put money there), so an
        amount still applied to an invoice must first be credited.

    Raises
    ------
    OvercreditError
        Refunds would exceed the payment.
    InsufficientCreditError
        The customer has less credit than the refund.
    """
    amount = parse_minor(amount_minor, "amount_minor", allow_zero=False)
    if refunded_minor + amount > payment.amount_minor:
        raise OvercreditError(
            f"payment {payment.payment_id}: refunds would exceed {payment.amount_minor}"
        )
    if amount > credit_balance_minor:
        raise InsufficientCreditError(
            f"customer {payment.customer_id}: credit {credit_balance_minor} < refund {amount}"
        )
    return Refund(
        refund_id,
        payment.customer_id,
        payment.currency,
        amount,
        payment.payment_id,
        reason,
    )
