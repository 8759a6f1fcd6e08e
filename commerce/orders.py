"""Orders: lines, discounts, shipping, tax lines, exact totals and the lifecycle.

Pricing rules (stated once, used by invoices too):

* a line's gross is ``quantity x unit_price_minor``;
* line discounts apply first, in order; a percentage discount is
  ``round_half_up(net x percent / 100)``; a fixed one is capped at what is left,
  so no line goes below zero;
* basket discounts then apply in order to the basket's net; the amount is split
  over the lines in proportion to their net by largest remainder, so the
  per-line discounts add up to the basket discount exactly;
* tax is computed by the tax engine on each line's net (and on shipping) and
  attached as :class:`TaxLine` rows;
* ``total = gross - discounts + shipping + tax`` in minor units, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from commerce.errors import (
    CurrencyMismatchError,
    InvalidDocumentError,
    require_transition,
)
from commerce.money import allocate, currency_exponent, parse_minor, round_half_up
from tax_zones import Quote, QuoteLine, TaxCategory

SHIPPING_LINE = "shipping"
MAX_QUANTITY = 1_000_000


class OrderStatus(StrEnum):
    """Order lifecycle: draft -> placed -> paid -> fulfilled, or cancelled."""

    DRAFT = "draft"
    PLACED = "placed"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.DRAFT: frozenset({OrderStatus.PLACED, OrderStatus.CANCELLED}),
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    # a paid order may still be cancelled; the money goes back by credit note
    OrderStatus.PAID: frozenset({OrderStatus.FULFILLED, OrderStatus.CANCELLED}),
    OrderStatus.FULFILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class DiscountKind(StrEnum):
    """A percentage of the amount, or a fixed amount of minor units."""

    PERCENT = "percent"
    FIXED = "fixed"


@dataclass(frozen=True)
class Discount:
    """A discount on one line (``line_id``) or on the basket (``line_id=None``).

    ``percent`` is a Decimal in 0..100 for ``PERCENT``; ``amount_minor`` is the
    fixed amount for ``FIXED``. ``code`` is the offer code when it came from one.
    """

    discount_id: str
    kind: DiscountKind
    percent: Decimal = Decimal(0)
    amount_minor: int = 0
    line_id: str | None = None
    code: str | None = None
    label: str = ""


@dataclass(frozen=True)
class OrderLine:
    """A product line: SKU, quantity and unit price in minor units."""

    line_id: str
    sku: str
    quantity: int
    unit_price_minor: int
    tax_code: str = TaxCategory.GENERAL
    description: str = ""

    @property
    def gross_minor(self) -> int:
        """``quantity x unit_price_minor``."""
        return self.quantity * self.unit_price_minor


@dataclass(frozen=True)
class TaxLine:
    """Tax of one line (or ``shipping``) in one jurisdiction, as committed."""

    line_id: str
    level: str
    code: str
    name: str
    rate: Decimal
    taxable_minor: int
    tax_minor: int
    sample: bool = False


@dataclass(frozen=True)
class Order:
    """An order; amounts in minor units of ``currency``."""

    order_id: str
    customer_id: str
    currency: str
    lines: tuple[OrderLine, ...]
    discounts: tuple[Discount, ...] = ()
    shipping_minor: int = 0
    tax_lines: tuple[TaxLine, ...] = ()
    status: OrderStatus = OrderStatus.DRAFT

    def __post_init__(self) -> None:
        validate_order(self)


def validate_order(order: Order) -> None:
    """Check an order's fields; errors name the field (``lines[1].quantity``)."""
    currency_exponent(order.currency)
    if not order.lines:
        raise InvalidDocumentError("lines", "an order needs at least one line")
    seen: set[str] = set()
    for i, ln in enumerate(order.lines):
        if ln.line_id in seen or ln.line_id == SHIPPING_LINE or not ln.line_id:
            raise InvalidDocumentError(
                f"lines[{i}].line_id", "empty, duplicated or reserved"
            )
        seen.add(ln.line_id)
        parse_minor(ln.unit_price_minor, f"lines[{i}].unit_price_minor")
        parse_minor(
            ln.quantity,
            f"lines[{i}].quantity",
            allow_zero=False,
            max_value=MAX_QUANTITY,
        )
    parse_minor(order.shipping_minor, "shipping_minor")
    for i, d in enumerate(order.discounts):
        f = f"discounts[{i}]"
        if d.line_id is not None and d.line_id not in seen:
            raise InvalidDocumentError(f"{f}.line_id", "no such line")
        if d.kind == DiscountKind.PERCENT:
            if not isinstance(d.percent, Decimal) or not Decimal(0) <= d.percent <= 100:
                raise InvalidDocumentError(
                    f"{f}.percent", "must be a Decimal in 0..100"
                )
        elif d.kind == DiscountKind.FIXED:
            parse_minor(d.amount_minor, f"{f}.amount_minor")
        else:
            raise InvalidDocumentError(f"{f}.kind", "must be 'percent' or 'fixed'")
    for i, t in enumerate(order.tax_lines):
        if t.line_id not in seen and t.line_id != SHIPPING_LINE:
            raise InvalidDocumentError(f"tax_lines[{i}].line_id", "no such line")
        if isinstance(t.tax_minor, bool) or not isinstance(t.tax_minor, int):
            raise InvalidDocumentError(
                f"tax_lines[{i}].tax_minor", "must be an integer"
            )


@dataclass(frozen=True)
class AppliedDiscount:
    """What one discount took off, in total and per line."""

    discount_id: str
    code: str | None
    label: str
    amount_minor: int
    per_line: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class LinePrice:
    """One line after discounts."""

    line_id: str
    gross_minor: int
    discount_minor: int
    net_minor: int


@dataclass(frozen=True)
class OrderTotals:
    """Exact totals; ``total = gross - discount + shipping + tax``."""

    currency: str
    lines: tuple[LinePrice, ...]
    discounts: tuple[AppliedDiscount, ...]
    gross_minor: int
    discount_minor: int
    net_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int


def _discount_amount(d: Discount, base: int) -> int:
    if d.kind == DiscountKind.PERCENT:
        return min(base, round_half_up(Decimal(base) * d.percent / 100))
    return min(base, d.amount_minor)


def price_order(order: Order) -> OrderTotals:
    """Apply discounts and add shipping and tax, exactly (rules in the module doc).

    Examples
    --------
    >>> o = Order("o1", "c1", "USD", (OrderLine("a", "SKU", 3, 999),),
    ...           (Discount("d", DiscountKind.PERCENT, percent=Decimal(10)),),
    ...           shipping_minor=500)
    >>> t = price_order(o)
    >>> t.gross_minor, t.discount_minor, t.total_minor
    (2997, 300, 3197)
    """
    net = {ln.line_id: ln.gross_minor for ln in order.lines}
    applied: list[AppliedDiscount] = []
    for d in order.discounts:
        if d.line_id is not None:
            amount = _discount_amount(d, net[d.line_id])
            net[d.line_id] -= amount
            per_line: tuple[tuple[str, int], ...] = ((d.line_id, amount),)
        else:
            ids = [ln.line_id for ln in order.lines]
            amount = _discount_amount(d, sum(net.values()))
            parts = allocate(amount, [Decimal(net[i]) for i in ids])
            for i, p in zip(ids, parts, strict=True):
                net[i] -= p
            per_line = tuple((i, p) for i, p in zip(ids, parts, strict=True) if p)
        applied.append(
            AppliedDiscount(d.discount_id, d.code, d.label, amount, per_line)
        )
    lines = tuple(
        LinePrice(
            ln.line_id,
            ln.gross_minor,
            ln.gross_minor - net[ln.line_id],
            net[ln.line_id],
        )
        for ln in order.lines
    )
    gross = sum(lp.gross_minor for lp in lines)
    discount = sum(a.amount_minor for a in applied)
    tax = sum(t.tax_minor for t in order.tax_lines)
    return OrderTotals(
        order.currency,
        lines,
        tuple(applied),
        gross,
        discount,
        gross - discount,
        order.shipping_minor,
        tax,
        gross - discount + order.shipping_minor + tax,
    )


def tax_basis(order: Order) -> tuple[QuoteLine, ...]:
    """The lines to send to the tax engine: each line's net after discounts.

    Shipping is passed separately (``QuoteRequest.shipping_minor``).
    """
    totals = price_order(order)
    codes = {ln.line_id: ln.tax_code for ln in order.lines}
    return tuple(
        QuoteLine(lp.line_id, lp.net_minor, 1, TaxCategory(codes[lp.line_id]))
        for lp in totals.lines
    )


def tax_lines_from_quote(quote: Quote) -> tuple[TaxLine, ...]:
    """Flatten a committed quote into per-line, per-jurisdiction tax lines."""
    return tuple(
        TaxLine(
            ln.line_id,
            str(j.level),
            j.code,
            j.name,
            j.rate,
            j.taxable_minor,
            j.tax_minor,
            j.sample,
        )
        for ln in quote.lines
        for j in ln.jurisdictions
    )


def transition_order(order: Order, target: OrderStatus) -> Order:
    """Move an order to ``target``; raises :class:`IllegalTransitionError`."""
    require_transition("order", ORDER_TRANSITIONS, order.status, target)
    return replace(order, status=OrderStatus(target))


def place_order(order: Order, tax_lines: Sequence[TaxLine], currency: str) -> Order:
    """Attach the committed tax lines and move a draft order to ``placed``.

    Parameters
    ----------
    currency : str
        Currency of the quote the tax lines came from; must equal the order's.
    """
    if currency != order.currency:
        raise CurrencyMismatchError(
            "currency", f"tax quote in {currency}, order in {order.currency}"
        )
    require_transition("order", ORDER_TRANSITIONS, order.status, OrderStatus.PLACED)
    return replace(order, tax_lines=tuple(tax_lines), status=OrderStatus.PLACED)
