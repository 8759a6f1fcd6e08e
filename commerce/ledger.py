"""Double-entry bookkeeping for billing events; every entry balances.

Accounts (``tax_payable:<level>:<code>`` is one account per jurisdiction)::

    receivables        asset      what customers owe (sub-ledger: invoice id)
    cash               asset      money received or paid out
    revenue            income     line amounts before discounts
    revenue:shipping   income     shipping charged
    discounts          contra     discounts given (debit)
    sales_returns      contra     net credited by credit notes (debit)
    bad_debt           expense    invoices written off
    customer_credit    liability  overpayments and credits owed to customers
    tax_payable:...    liability  tax collected per jurisdiction

One entry per business event, in one currency. Builders raise
:class:`UnbalancedEntryError` rather than return an entry that does not
balance; :func:`check_ledger` re-checks stored entries and reports by account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from commerce.credit_notes import CreditApplication, CreditNote
from commerce.errors import MoneyRuleError, UnbalancedEntryError
from commerce.invoices import Invoice
from commerce.orders import TaxLine
from commerce.payments import Allocation, Payment, Refund

RECEIVABLES = "receivables"
CASH = "cash"
REVENUE = "revenue"
SHIPPING_REVENUE = "revenue:shipping"
DISCOUNTS = "discounts"
SALES_RETURNS = "sales_returns"
BAD_DEBT = "bad_debt"
CUSTOMER_CREDIT = "customer_credit"
TAX_PAYABLE = "tax_payable"


def tax_payable_account(level: str, code: str) -> str:
    """The liability account of one jurisdiction (``tax_payable:state:06``)."""
    return f"{TAX_PAYABLE}:{level}:{code}"


@dataclass(frozen=True)
class Posting:
    """One side of an entry; exactly one of debit and credit is non-zero."""

    account: str
    debit_minor: int = 0
    credit_minor: int = 0
    reference: str | None = None  # sub-ledger key, e.g. the invoice id


@dataclass(frozen=True)
class JournalEntry:
    """A balanced set of postings for one event, in one currency."""

    entry_id: str
    event: str
    currency: str
    postings: tuple[Posting, ...]
    reference: str = ""

    @property
    def debit_minor(self) -> int:
        """Sum of debits."""
        return sum(p.debit_minor for p in self.postings)

    @property
    def credit_minor(self) -> int:
        """Sum of credits."""
        return sum(p.credit_minor for p in self.postings)


class _Builder:
    def __init__(self) -> None:
        self.postings: list[Posting] = []

    def debit(self, account: str, amount: int, ref: str | None = None) -> None:
        if amount > 0:
            self.postings.append(Posting(account, amount, 0, ref))
        elif amount < 0:
            self.postings.append(Posting(account, 0, -amount, ref))

    def credit(self, account: str, amount: int, ref: str | None = None) -> None:
        self.debit(account, -amount, ref)

    def entry(
        self, entry_id: str, event: str, currency: str, reference: str
    ) -> JournalEntry:
        e = JournalEntry(entry_id, event, currency, tuple(self.postings), reference)
        if e.debit_minor != e.credit_minor:
            raise UnbalancedEntryError(
                f"{event} {reference}: debits {e.debit_minor} != credits {e.credit_minor}"
            )
        return e


def _tax_by_account(tax_lines: Iterable[TaxLine]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for t in tax_lines:
        out[tax_payable_account(t.level, t.code)] += t.tax_minor
    return dict(sorted(out.items()))


def invoice_finalised(invoice: Invoice, entry_id: str) -> JournalEntry:
    """Dr receivables, Dr discounts; Cr revenue, shipping, tax per jurisdiction."""
    b = _Builder()
    b.debit(RECEIVABLES, invoice.total_minor, invoice.invoice_id)
    b.debit(DISCOUNTS, invoice.discount_minor)
    b.credit(REVENUE, invoice.gross_minor)
    b.credit(SHIPPING_REVENUE, invoice.shipping_minor)
    for account, tax in _tax_by_account(invoice.tax_lines).items():
        b.credit(account, tax)
    return b.entry(entry_id, "invoice_finalised", invoice.currency, invoice.invoice_id)


def invoice_voided(invoice: Invoice, entry_id: str) -> JournalEntry:
    """The mirror of :func:`invoice_finalised`, for an untouched invoice."""
    if invoice.amount_paid_minor or invoice.amount_credited_minor:
        raise MoneyRuleError(
            f"invoice {invoice.invoice_id}: has payments or credits; credit it instead"
        )
    fin = invoice_finalised(invoice, entry_id)
    flipped = tuple(
        Posting(p.account, p.credit_minor, p.debit_minor, p.reference)
        for p in fin.postings
    )
    return JournalEntry(
        entry_id, "invoice_voided", fin.currency, flipped, fin.reference
    )


def payment_received(
    payment: Payment, allocation: Allocation, entry_id: str
) -> JournalEntry:
    """Dr cash; Cr receivables per invoice; Cr customer credit for an overpayment."""
    if (
        allocation.amount_minor != payment.amount_minor
        or allocation.currency != payment.currency
    ):
        raise UnbalancedEntryError(
            f"payment {payment.payment_id}: allocation does not match the payment"
        )
    b = _Builder()
    b.debit(CASH, payment.amount_minor)
    for a in allocation.applications:
        b.credit(RECEIVABLES, a.amount_minor, a.invoice_id)
    b.credit(CUSTOMER_CREDIT, allocation.credit_minor, payment.customer_id)
    return b.entry(entry_id, "payment_received", payment.currency, payment.payment_id)


def credit_applied(
    customer_id: str, allocation: Allocation, entry_id: str
) -> JournalEntry:
    """Dr customer credit; Cr receivables per invoice (credit used to pay)."""
    b = _Builder()
    b.debit(CUSTOMER_CREDIT, allocation.applied_minor, customer_id)
    for a in allocation.applications:
        b.credit(RECEIVABLES, a.amount_minor, a.invoice_id)
    return b.entry(entry_id, "credit_applied", allocation.currency, customer_id)


def credit_note_issued(
    note: CreditNote, application: CreditApplication, entry_id: str
) -> JournalEntry:
    """Dr sales returns and tax per jurisdiction; Cr receivables / customer credit."""
    b = _Builder()
    b.debit(SALES_RETURNS, note.amount_minor)
    for account, tax in _tax_by_account(note.tax_lines).items():
        b.debit(account, tax)
    b.credit(RECEIVABLES, application.to_receivable_minor, note.invoice_id)
    b.credit(
        CUSTOMER_CREDIT,
        application.to_customer_credit_minor,
        application.invoice.customer_id,
    )
    return b.entry(entry_id, "credit_note_issued", note.currency, note.credit_note_id)


def refund_paid(refund: Refund, entry_id: str) -> JournalEntry:
    """Dr customer credit; Cr cash."""
    b = _Builder()
    b.debit(CUSTOMER_CREDIT, refund.amount_minor, refund.customer_id)
    b.credit(CASH, refund.amount_minor)
    return b.entry(entry_id, "refund_paid", refund.currency, refund.refund_id)


def invoice_written_off(invoice: Invoice, entry_id: str) -> JournalEntry:
    """Dr bad debt; Cr receivables for what remains (invoice ``uncollectible``)."""
    b = _Builder()
    b.debit(BAD_DEBT, invoice.amount_remaining_minor)
    b.credit(RECEIVABLES, invoice.amount_remaining_minor, invoice.invoice_id)
    return b.entry(
        entry_id, "invoice_written_off", invoice.currency, invoice.invoice_id
    )


def write_off_reversed(
    invoice: Invoice, amount_minor: int, entry_id: str
) -> JournalEntry:
    """Dr receivables; Cr bad debt: undo (part of) a write-off.

    Post it just before a payment or credit note lands on an ``uncollectible``
    invoice, for the amount applied, so the receivable it then credits exists.
    """
    if amount_minor <= 0:
        raise MoneyRuleError("write_off_reversed: amount must be > 0")
    b = _Builder()
    b.debit(RECEIVABLES, amount_minor, invoice.invoice_id)
    b.credit(BAD_DEBT, amount_minor)
    return b.entry(entry_id, "write_off_reversed", invoice.currency, invoice.invoice_id)


@dataclass(frozen=True)
class LedgerReport:
    """Result of :func:`check_ledger`; ``balances`` are debit minus credit."""

    balanced: bool
    unbalanced_entries: tuple[str, ...]
    invalid_postings: tuple[str, ...]
    totals: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # currency -> (Dr, Cr)
    balances: dict[tuple[str, str], int] = field(
        default_factory=dict
    )  # (currency, account)


def check_ledger(entries: Iterable[JournalEntry]) -> LedgerReport:
    """Check that every entry, and so every currency, balances; report by account.

    A posting with a negative side or with both sides set is invalid.

    Examples
    --------
    >>> e = JournalEntry("e1", "x", "USD", (Posting("cash", 5), Posting("revenue", 0, 5)))
    >>> r = check_ledger([e])
    >>> r.balanced, r.balances[("USD", "cash")], r.balances[("USD", "revenue")]
    (True, 5, -5)
    """
    unbalanced: list[str] = []
    invalid: list[str] = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    balances: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        if e.debit_minor != e.credit_minor:
            unbalanced.append(e.entry_id)
        for i, p in enumerate(e.postings):
            if (
                p.debit_minor < 0
                or p.credit_minor < 0
                or (p.debit_minor and p.credit_minor)
            ):
                invalid.append(f"{e.entry_id}.postings[{i}]")
            totals[e.currency][0] += p.debit_minor
            totals[e.currency][1] += p.credit_minor
            balances[e.currency, p.account] += p.debit_minor - p.credit_minor
    ok = not unbalanced and not invalid and all(d == c for d, c in totals.values())
    return LedgerReport(
        ok,
        tuple(unbalanced),
        tuple(invalid),
        {k: (v[0], v[1]) for k, v in sorted(totals.items())},
        dict(sorted(balances.items())),
    )


def subledger(
    entries: Sequence[JournalEntry], account: str
) -> dict[tuple[str, str], int]:
    """Debit-minus-credit of ``account`` per (currency, reference).

    ``subledger(entries, RECEIVABLES)`` gives what each invoice still owes;
    ``subledger(entries, CUSTOMER_CREDIT)`` is minus each customer's credit.
    """
    out: dict[tuple[str, str], int] = defaultdict(int)
    for e in entries:
        for p in e.postings:
            if p.account == account:
                out[e.currency, p.reference or ""] += p.debit_minor - p.credit_minor
    return dict(out)


def tax_payable_by_jurisdiction(
    entries: Iterable[JournalEntry],
) -> dict[tuple[str, str], int]:
    """Tax owed per (currency, ``level:code``): credits minus debits."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    prefix = TAX_PAYABLE + ":"
    for e in entries:
        for p in e.postings:
            if p.account.startswith(prefix):
                out[e.currency, p.account[len(prefix) :]] += (
                    p.credit_minor - p.debit_minor
                )
    return dict(sorted(out.items()))
