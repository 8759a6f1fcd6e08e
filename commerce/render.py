"""HTML rendering of an invoice (jinja2, autoescaped; no external assets).

Everything that came from a user (names, descriptions, offer codes, numbers)
is escaped. Tax is shown per jurisdiction; rates marked as sample data are
flagged with a visible label, as the data notes require.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from jinja2 import Environment, StrictUndefined

from commerce.credit_notes import CreditNote
from commerce.invoices import Invoice
from commerce.money import format_minor
from commerce.orders import TaxLine


@dataclass(frozen=True)
class JurisdictionTaxTotal:
    """Tax of one jurisdiction at one rate over an invoice or a credit note."""

    level: str
    code: str
    name: str
    rate: Decimal
    taxable_minor: int
    tax_minor: int
    sample: bool


def tax_by_jurisdiction(tax_lines: Sequence[TaxLine]) -> list[JurisdictionTaxTotal]:
    """Sum tax lines per (level, code, name, rate), in first-seen order."""
    acc: dict[tuple[str, str, str, Decimal], list[int | bool]] = {}
    for t in tax_lines:
        row = acc.setdefault((t.level, t.code, t.name, t.rate), [0, 0, False])
        row[0] += t.taxable_minor
        row[1] += t.tax_minor
        row[2] = bool(row[2]) or t.sample
    return [
        JurisdictionTaxTotal(lvl, code, name, rate, int(a), int(b), bool(s))
        for (lvl, code, name, rate), (a, b, s) in acc.items()
    ]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Invoice {{ number }}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:left}.num{text-align:right}
.sample{color:#a00;font-weight:bold}</style></head>
<body>
<h1>Invoice {{ number }}</h1>
<p>Seller: {{ seller }}</p>
<p>Bill to: {{ customer }}</p>
<p>Status: {{ inv.status }}{% if inv.issued_on %} &middot; Issued {{ inv.issued_on }}{% endif %}
{% if inv.due_on %} &middot; Due {{ inv.due_on }}{% endif %}</p>
{% if inv.sample_data %}<p class="sample">SAMPLE DATA: rates marked * are made up
for demonstration and are not real tax rates.</p>{% endif %}
<table><thead><tr><th>Item</th><th class="num">Qty</th><th class="num">Unit price</th>
<th class="num">Discount</th><th class="num">Amount</th></tr></thead><tbody>
{% for ln in inv.lines %}<tr><td>{{ ln.description }}</td><td class="num">{{ ln.quantity }}</td>
<td class="num">{{ money(ln.unit_price_minor) }}</td><td class="num">{{ money(ln.discount_minor) }}</td>
<td class="num">{{ money(ln.net_minor) }}</td></tr>
{% endfor %}</tbody></table>
{% if inv.discounts %}<h2>Discounts</h2><ul>
{% for d in inv.discounts %}<li>{{ d.label or d.discount_id }}{% if d.code %} (code {{ d.code }}){% endif %}:
-{{ money(d.amount_minor) }}</li>{% endfor %}</ul>{% endif %}
<h2>Tax</h2>
<table><thead><tr><th>Jurisdiction</th><th>Level</th><th class="num">Rate</th>
<th class="num">Taxable</th><th class="num">Tax</th></tr></thead><tbody>
{% for t in taxes %}<tr><td>{{ t.name }} ({{ t.code }})</td><td>{{ t.level }}</td>
<td class="num">{{ pct(t.rate) }}{% if t.sample %} *{% endif %}</td>
<td class="num">{{ money(t.taxable_minor) }}</td><td class="num">{{ money(t.tax_minor) }}</td></tr>
{% else %}<tr><td colspan="5">No tax</td></tr>{% endfor %}</tbody></table>
<table>
<tr><th>Subtotal</th><td class="num">{{ money(inv.subtotal_minor) }}</td></tr>
<tr><th>Shipping</th><td class="num">{{ money(inv.shipping_minor) }}</td></tr>
<tr><th>Tax</th><td class="num">{{ money(inv.tax_minor) }}</td></tr>
<tr><th>Total</th><td class="num">{{ money(inv.total_minor) }} {{ inv.currency }}</td></tr>
{% for n in notes %}<tr><th>Credit note {{ n.credit_note_id }}</th>
<td class="num">-{{ money(n.total_minor) }}</td></tr>{% endfor %}
<tr><th>Paid</th><td class="num">{{ money(inv.amount_paid_minor) }}</td></tr>
<tr><th>Amount remaining</th><td class="num">{{ money(inv.amount_remaining_minor) }} {{ inv.currency }}</td></tr>
</table>
</body></html>
"""

_ENV = Environment(
    autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True
)
_COMPILED = _ENV.from_string(_TEMPLATE)


def render_invoice_html(
    invoice: Invoice, credit_notes: Sequence[CreditNote] = (), seller: str = ""
) -> str:
    """A self-contained HTML page for ``invoice`` (all values escaped).

    Parameters
    ----------
    invoice : Invoice
        A draft shows ``DRAFT`` instead of a number; an erased customer shows
        only the customer id.
    credit_notes : credit notes issued against it, shown under the total.
    seller : str
        The tenant's display name.
    """
    customer = invoice.customer_name or f"customer {invoice.customer_id}"

    def money(minor: int) -> str:
        return format_minor(minor, invoice.currency)

    def pct(rate: Decimal) -> str:
        return f"{(rate * 100).normalize():f}%"

    return _COMPILED.render(
        inv=invoice,
        number=invoice.number or "DRAFT",
        seller=seller,
        customer=customer,
        taxes=tax_by_jurisdiction(invoice.tax_lines),
        notes=[n for n in credit_notes if n.invoice_id == invoice.invoice_id],
        money=money,
        pct=pct,
    )
