"""After the quote: reversals, liability reports, economic-nexus monitoring."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from tax_zones.errors import InvalidQuoteError
from tax_zones.money import allocate, round_half_up
from tax_zones.quotes import LineResult, Quote, Registration
from tax_zones.rates import NexusThreshold
from tax_zones.types import Level


@dataclass(frozen=True)
class Reversal:
    """Negative lines undoing (part of) a committed quote at its tax date."""

    quote_id: str
    tax_date: date
    currency: str
    lines: tuple[LineResult, ...]
    tax_minor: int


def reverse(quote: Quote, refunds: Mapping[str, int] | None = None) -> Reversal:
    """Reverse a committed quote fully or per line, proportionally.

    Parameters
    ----------
    quote : Quote
        The committed quote; its rates and tax date are reused, never re-rated.
    refunds : mapping of line id -> refunded amount in minor units, optional
        None reverses everything. A partial refund reverses
        ``round_half_up(line tax x refund / line amount)``, split over the
        line's jurisdictions in proportion to their original tax.

    Raises
    ------
    InvalidQuoteError
        For an unknown line id or a refund above the line amount.
    """
    by_id = {ln.line_id: ln for ln in quote.lines}
    wanted = (
        refunds
        if refunds is not None
        else {ln.line_id: ln.amount_minor for ln in quote.lines}
    )
    out: list[LineResult] = []
    for line_id, refund in wanted.items():
        ln = by_id.get(line_id)
        if ln is None:
            raise InvalidQuoteError(f"refunds[{line_id!r}]: no such line in quote")
        if not 0 <= refund <= ln.amount_minor:
            raise InvalidQuoteError(
                f"refunds[{line_id!r}]: must be within 0..{ln.amount_minor}"
            )
        if refund == ln.amount_minor:
            tax = ln.tax_minor
        elif ln.amount_minor == 0:
            tax = 0
        else:
            tax = round_half_up(Decimal(ln.tax_minor * refund) / ln.amount_minor)
        parts = allocate(tax, [Decimal(t.tax_minor) for t in ln.jurisdictions])
        ratio = (Decimal(refund) / ln.amount_minor) if ln.amount_minor else Decimal(0)
        jur = tuple(
            replace(
                t,
                taxable_minor=-round_half_up(t.taxable_minor * ratio),
                tax_minor=-p,
            )
            for t, p in zip(ln.jurisdictions, parts, strict=True)
        )
        out.append(LineResult(ln.line_id, ln.category, -refund, -tax, jur))
    return Reversal(
        quote.quote_id,
        quote.tax_date,
        quote.currency,
        tuple(out),
        sum(r.tax_minor for r in out),
    )


@dataclass(frozen=True)
class LiabilityRow:
    """Tax owed to one jurisdiction for one period (``YYYY-MM``) and currency."""

    period: str
    level: Level
    code: str
    name: str
    currency: str
    taxable_minor: int
    tax_minor: int
    documents: int


def liability_report(documents: Iterable[Quote | Reversal]) -> list[LiabilityRow]:
    """Aggregate committed quotes and reversals per jurisdiction and month.

    Reversals count in the period of the original tax date.
    """
    acc: dict[tuple[str, Level, str, str], list] = {}
    for doc in documents:
        period = doc.tax_date.strftime("%Y-%m")
        seen: set[tuple[str, Level, str, str]] = set()
        for ln in doc.lines:
            for t in ln.jurisdictions:
                key = (period, t.level, t.code, doc.currency)
                row = acc.setdefault(key, [t.name, 0, 0, 0])
                row[1] += t.taxable_minor
                row[2] += t.tax_minor
                if key not in seen:
                    row[3] += 1
                    seen.add(key)
    return [
        LiabilityRow(p, lvl, code, name, cur, taxable, tax, n)
        for (p, lvl, code, cur), (name, taxable, tax, n) in sorted(acc.items())
    ]


class NexusStatus(StrEnum):
    """Where a tenant stands against a state's threshold."""

    APPROACHING = "approaching"
    EXCEEDED = "exceeded"


@dataclass(frozen=True)
class Sale:
    """One sale into a state, in USD minor units (cents)."""

    state: str
    day: date
    amount_usd_minor: int


@dataclass(frozen=True)
class NexusAlert:
    """A state whose threshold is near or passed over the trailing 12 months."""

    state: str
    status: NexusStatus
    sales_usd: Decimal
    transactions: int
    sales_pct: Decimal
    transactions_pct: Decimal | None
    registered: bool
    threshold: NexusThreshold


def check_economic_nexus(
    sales: Iterable[Sale],
    as_of: date,
    thresholds: Mapping[str, NexusThreshold],
    registrations: Sequence[Registration] = (),
    *,
    approach_pct: Decimal = Decimal(80),
) -> list[NexusAlert]:
    """Alerts for states approaching or exceeding economic nexus.

    Sales dated in the 365 days ending on ``as_of`` count. A threshold with
    ``combine == "any"`` triggers on either measure, ``"all"`` on both.
    States without a threshold on file are not judged.
    """
    start = as_of - timedelta(days=365)
    amount: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for s in sales:
        if start < s.day <= as_of:
            amount[s.state] += s.amount_usd_minor
            count[s.state] += 1
    alerts: list[NexusAlert] = []
    for state in sorted(amount):
        thr = thresholds.get(state)
        if thr is None:
            continue
        usd = Decimal(amount[state]) / 100
        s_pct = 100 * usd / thr.sales_usd
        t_pct = (
            Decimal(100 * count[state]) / thr.transactions if thr.transactions else None
        )
        measures = [s_pct] + ([t_pct] if t_pct is not None else [])
        level = min(measures) if thr.combine == "all" else max(measures)
        if level < approach_pct:
            continue
        status = NexusStatus.EXCEEDED if level >= 100 else NexusStatus.APPROACHING
        registered = any(
            r.jurisdiction_code == state and r.valid_on(as_of) for r in registrations
        )
        alerts.append(
            NexusAlert(state, status, usd, count[state], s_pct, t_pct, registered, thr)
        )
    return alerts
