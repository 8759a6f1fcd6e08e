"""Credit notes: full or partial, several per invoice, tax credited proportionally.

Credit notes credit line nets (and ``shipping``), several per invoice, never
more than the line's net in total. Tax is credited per jurisdiction in
proportion, cumulatively: after notes crediting ``c`` of a line whose net is
``B``, the tax credited for a jurisdiction is ``round_half_up(tax x c / B)``.
Each note takes the difference, so partial notes never drift and crediting
everything returns every jurisdiction's tax exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from commerce.errors import (
    InvalidDocumentError,
    MoneyRuleError,
    OvercreditError,
)
from commerce.invoices import PAYABLE, Invoice, InvoiceStatus
from commerce.money import parse_minor, round_half_up
from commerce.orders import SHIPPING_LINE, TaxLine


@dataclass(frozen=True)
class CreditNoteLine:
    """Credited net of one line (or ``shipping``) and the tax credited with it."""

    line_id: str
    amount_minor: int
    tax_minor: int


@dataclass(frozen=True)
class CreditNote:
    """A credit note against one invoice; amounts positive, in its currency."""

    credit_note_id: str
    invoice_id: str
    currency: str
    lines: tuple[CreditNoteLine, ...]
    tax_lines: tuple[TaxLine, ...]
    reason: str = ""

    @property
    def amount_minor(self) -> int:
        """Credited net, before tax."""
        return sum(ln.amount_minor for ln in self.lines)

    @property
    def tax_minor(self) -> int:
        """Credited tax."""
        return sum(t.tax_minor for t in self.tax_lines)

    @property
    def total_minor(self) -> int:
        """Net plus tax."""
        return self.amount_minor + self.tax_minor


def _credited(notes: Sequence[CreditNote]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in notes:
        for ln in n.lines:
            out[ln.line_id] = out.get(ln.line_id, 0) + ln.amount_minor
    return out


def _share(value: int, part: int, base: int) -> int:
    return value if part == base else round_half_up(Decimal(value * part) / base)


def create_credit_note(
    invoice: Invoice,
    credit_note_id: str,
    amounts: Mapping[str, int] | None = None,
    previous: Sequence[CreditNote] = (),
    reason: str = "",
) -> CreditNote:
    """A full or partial credit note, tax credited proportionally per jurisdiction.

    Parameters
    ----------
    amounts : mapping of line id (or ``"shipping"``) -> net to credit, optional
        None credits everything not credited yet.
    previous : credit notes already issued against this invoice.

    Raises
    ------
    OvercreditError
        When a line would be credited more than its net.
    """
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        raise MoneyRuleError(
            f"invoice: cannot credit an invoice in state {invoice.status!r}"
        )
    done = _credited([n for n in previous if n.invoice_id == invoice.invoice_id])
    if amounts is None:
        ids = [ln.line_id for ln in invoice.lines] + [SHIPPING_LINE]
        amounts = {i: invoice.creditable_base(i) - done.get(i, 0) for i in ids}
        amounts = {i: a for i, a in amounts.items() if a}
    lines: list[CreditNoteLine] = []
    taxes: list[TaxLine] = []
    for line_id, raw in amounts.items():
        amount = parse_minor(raw, f"amounts[{line_id!r}]")
        base = invoice.creditable_base(line_id)
        before = done.get(line_id, 0)
        after = before + amount
        if after > base:
            raise OvercreditError(
                f"amounts[{line_id!r}]: {amount} exceeds creditable {base - before}"
            )
        line_tax = 0
        for t in invoice.tax_lines:
            if t.line_id != line_id or base == 0:
                continue
            tax = _share(t.tax_minor, after, base) - _share(t.tax_minor, before, base)
            taxable = _share(t.taxable_minor, after, base) - _share(
                t.taxable_minor, before, base
            )
            line_tax += tax
            taxes.append(replace(t, taxable_minor=taxable, tax_minor=tax))
        lines.append(CreditNoteLine(line_id, amount, line_tax))
    if not any(ln.amount_minor for ln in lines):
        raise InvalidDocumentError("amounts", "a credit note must credit something")
    return CreditNote(
        credit_note_id,
        invoice.invoice_id,
        invoice.currency,
        tuple(lines),
        tuple(taxes),
        reason,
    )


@dataclass(frozen=True)
class CreditApplication:
    """Effect of a credit note: what reduced the receivable, what became credit."""

    invoice: Invoice
    to_receivable_minor: int
    to_customer_credit_minor: int


def apply_credit_note(invoice: Invoice, note: CreditNote) -> CreditApplication:
    """Apply a credit note: it first reduces what remains, the rest is credit.

    An open invoice whose remaining reaches zero becomes ``paid`` (Stripe).
    """
    if note.invoice_id != invoice.invoice_id:
        raise InvalidDocumentError(
            "credit_note.invoice_id", "belongs to another invoice"
        )
    if invoice.amount_credited_minor + note.total_minor > invoice.total_minor:
        raise OvercreditError(
            f"invoice {invoice.invoice_id}: credits would exceed total"
        )
    remaining = invoice.amount_remaining_minor
    if invoice.status not in (*PAYABLE, InvoiceStatus.PAID):
        raise MoneyRuleError(
            f"invoice: cannot credit an invoice in state {invoice.status!r}"
        )
    to_receivable = min(note.total_minor, remaining) if invoice.status in PAYABLE else 0
    out = replace(
        invoice, amount_credited_minor=invoice.amount_credited_minor + note.total_minor
    )
    if out.status in PAYABLE and out.amount_remaining_minor == 0:
        out = replace(out, status=InvoiceStatus.PAID)
    return CreditApplication(out, to_receivable, note.total_minor - to_receivable)
