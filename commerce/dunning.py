"""Dunning and receivables: reminders, credit hold, DSO, ageing, success rate.

Days overdue is ``(as_of - due_on).days``; an invoice is overdue from the day
after its due date. Reminder schedules are per customer segment, as offsets in
days overdue (``3, 7, 14``). When a run finds several stages due at once (the
job was down), it emits only the latest, so a customer never gets a burst.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from commerce.errors import InvalidDocumentError

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class ReminderSchedule:
    """Reminder offsets (days overdue, strictly increasing, >= 0) of a segment."""

    segment: str
    offsets_days: tuple[int, ...] = (3, 7, 14)

    def __post_init__(self) -> None:
        offs = self.offsets_days
        if not offs or any(
            isinstance(o, bool) or not isinstance(o, int) or o < 0 for o in offs
        ):
            raise InvalidDocumentError(
                f"schedules[{self.segment!r}].offsets_days", "need whole days >= 0"
            )
        if any(b <= a for a, b in pairwise(offs)):
            raise InvalidDocumentError(
                f"schedules[{self.segment!r}].offsets_days",
                "must be strictly increasing",
            )


@dataclass(frozen=True)
class DunningItem:
    """An open invoice as seen by dunning and the receivables KPIs."""

    invoice_id: str
    customer_id: str
    currency: str
    remaining_minor: int
    due_on: date | None
    segment: str = "default"


@dataclass(frozen=True)
class ReminderEvent:
    """A reminder to send; ``event_key`` makes the outbox write idempotent."""

    invoice_id: str
    customer_id: str
    segment: str
    stage: int  # 1-based index into the schedule
    offset_days: int
    days_overdue: int
    remaining_minor: int
    currency: str

    @property
    def event_key(self) -> str:
        """``<invoice id>:reminder:<stage>``."""
        return f"{self.invoice_id}:reminder:{self.stage}"


def days_overdue(due_on: date | None, as_of: date) -> int:
    """Days past the due date (0 or negative when not yet overdue)."""
    return 0 if due_on is None else (as_of - due_on).days


def due_reminders(
    items: Iterable[DunningItem],
    schedules: Mapping[str, ReminderSchedule],
    as_of: date,
    sent: Mapping[str, int] | None = None,
    default_segment: str = "default",
) -> list[ReminderEvent]:
    """Reminders due on ``as_of`` that were not sent yet.

    Parameters
    ----------
    items : open invoices
    schedules : segment -> schedule; unknown segments use ``default_segment``
    as_of : the day of the run
    sent : invoice id -> highest stage already sent (default none)

    Raises
    ------
    InvalidDocumentError
        When neither the item's segment nor the default has a schedule.

    Examples
    --------
    >>> it = DunningItem("i1", "c1", "USD", 100, date(2026, 1, 1))
    >>> [e.stage for e in due_reminders([it], {"default": ReminderSchedule("default")},
    ...                                 date(2026, 1, 9))]
    [2]
    """
    sent = sent or {}
    out: list[ReminderEvent] = []
    for it in items:
        if it.remaining_minor <= 0 or it.due_on is None:
            continue
        sched = schedules.get(it.segment) or schedules.get(default_segment)
        if sched is None:
            raise InvalidDocumentError(
                f"segment {it.segment!r}", "no reminder schedule"
            )
        late = days_overdue(it.due_on, as_of)
        stage = sum(1 for off in sched.offsets_days if late >= off)
        if stage and stage > sent.get(it.invoice_id, 0):
            out.append(
                ReminderEvent(
                    it.invoice_id,
                    it.customer_id,
                    sched.segment,
                    stage,
                    sched.offsets_days[stage - 1],
                    late,
                    it.remaining_minor,
                    it.currency,
                )
            )
    return out


@dataclass(frozen=True)
class CreditHoldParams:
    """Hold when an invoice is more than ``overdue_days`` late (and at least
    ``min_overdue_minor`` is overdue in some currency)."""

    overdue_days: int = 30
    min_overdue_minor: int = 1
    lift_on_any_payment: bool = True


@dataclass(frozen=True)
class HoldDecision:
    """Whether new credit orders are blocked, and why."""

    on_hold: bool
    invoice_ids: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def credit_hold(
    items: Sequence[DunningItem],
    as_of: date,
    last_payment_on: date | None = None,
    params: CreditHoldParams | None = None,
) -> HoldDecision:
    """Credit hold of one customer, from their open invoices.

    An invoice triggers the hold the day it becomes more than
    ``overdue_days`` late. A successful payment on or after that day lifts the
    hold (``lift_on_any_payment``); the hold comes back only when another
    invoice crosses the threshold after that payment. With
    ``lift_on_any_payment=False`` only settling the late invoices lifts it.
    """
    params = params or CreditHoldParams()
    late: list[DunningItem] = []
    for it in items:
        if it.remaining_minor <= 0 or it.due_on is None:
            continue
        crossed_on = it.due_on + timedelta(days=params.overdue_days + 1)
        if as_of < crossed_on:
            continue
        if (
            params.lift_on_any_payment
            and last_payment_on
            and last_payment_on >= crossed_on
        ):
            continue
        late.append(it)
    per_ccy: dict[str, int] = defaultdict(int)
    for it in late:
        per_ccy[it.currency] += it.remaining_minor
    hit = {c: v for c, v in per_ccy.items() if v >= params.min_overdue_minor}
    if not hit:
        return HoldDecision(False)
    ids = tuple(sorted(it.invoice_id for it in late if it.currency in hit))
    reasons = tuple(
        f"{v} {c} minor units more than {params.overdue_days} days overdue"
        for c, v in sorted(hit.items())
    )
    return HoldDecision(True, ids, reasons)


@dataclass(frozen=True)
class AgeingReport:
    """Open receivables per currency and bucket, in minor units and counts."""

    as_of: date
    amounts: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def ageing_bucket(late_days: int) -> str:
    """``current`` (not overdue), ``1-30``, ``31-60``, ``61-90`` or ``90+``."""
    if late_days <= 0:
        return "current"
    if late_days <= 30:
        return "1-30"
    if late_days <= 60:
        return "31-60"
    if late_days <= 90:
        return "61-90"
    return "90+"


def ageing(items: Iterable[DunningItem], as_of: date) -> AgeingReport:
    """Age open receivables into :data:`BUCKETS`, per currency."""
    amounts: dict[str, dict[str, int]] = {}
    counts: dict[str, dict[str, int]] = {}
    for it in items:
        if it.remaining_minor <= 0:
            continue
        b = ageing_bucket(days_overdue(it.due_on, as_of))
        amounts.setdefault(it.currency, dict.fromkeys(BUCKETS, 0))[b] += (
            it.remaining_minor
        )
        counts.setdefault(it.currency, dict.fromkeys(BUCKETS, 0))[b] += 1
    return AgeingReport(as_of, amounts, counts)


def days_sales_outstanding(
    receivables_minor: int, credit_sales_minor: int, period_days: int
) -> Decimal | None:
    """DSO = receivables / credit sales of the period x days, one decimal.

    None when there were no sales in the period.

    Examples
    --------
    >>> days_sales_outstanding(50_000, 300_000, 90)
    Decimal('15.0')
    """
    if period_days <= 0:
        raise InvalidDocumentError("period_days", "must be > 0")
    if credit_sales_minor <= 0:
        return None
    value = Decimal(receivables_minor) * period_days / Decimal(credit_sales_minor)
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def payment_success_rate(statuses: Iterable[str]) -> Decimal | None:
    """Share of finished payment attempts that succeeded (0..1, 4 decimals).

    ``succeeded`` counts as success, ``failed`` as failure; anything else
    (pending, cancelled by the customer) is not finished and is ignored.

    Examples
    --------
    >>> payment_success_rate(["succeeded", "failed", "succeeded", "pending"])
    Decimal('0.6667')
    """
    ok = failed = 0
    for s in statuses:
        if s == "succeeded":
            ok += 1
        elif s == "failed":
            failed += 1
    if ok + failed == 0:
        return None
    return (Decimal(ok) / (ok + failed)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )
