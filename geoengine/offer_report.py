"""Campaign measurement: counts, redemption and lift against the holdout (pure).

Lift is the difference of conversion proportions between devices that were
offered (treatment: eligible and issued) and devices held out (eligible, no
offer by design), with Newcombe's hybrid score interval (method 10 of
Newcombe 1998, built from two Wilson intervals); it behaves well for small
groups and proportions near 0 or 1, where the Wald interval does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion.

    Examples
    --------
    >>> i = wilson(0, 10)
    >>> round(i.low, 4), round(i.high, 4)
    (0.0, 0.2775)
    """
    if n <= 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, z: float = Z95
) -> tuple[float, Interval]:
    """``p1 - p2`` and Newcombe's hybrid score interval for it.

    Examples
    --------
    >>> d, ci = newcombe_difference(56, 70, 48, 80)  # Newcombe 1998, example (a)
    >>> round(d, 4), round(ci.low, 4), round(ci.high, 4)
    (0.2, 0.0524, 0.3339)
    """
    p1 = x1 / n1 if n1 else 0.0
    p2 = x2 / n2 if n2 else 0.0
    a, b = wilson(x1, n1, z), wilson(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return d, Interval(max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class GroupStats:
    devices: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.devices if self.devices else None


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: str
    triggers: int
    issued: int
    suppressed: Mapping[str, int]
    redeemed: int
    redemption_rate: float | None
    discount_minor: int
    revenue_minor: int
    currency: str
    treatment: GroupStats
    holdout: GroupStats
    lift: float | None
    lift_ci95: Interval | None
    attribution_days: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def build_report(
    campaign_id: str,
    currency: str,
    attribution_days: int,
    outcomes: Mapping[str, int],
    redeemed: int,
    discount_minor: int,
    revenue_minor: int,
    treatment: GroupStats,
    holdout: GroupStats,
) -> CampaignReport:
    """Assemble a report from counts (``outcomes``: decision outcome -> count)."""
    issued = outcomes.get("issued", 0)
    suppressed = {k: v for k, v in sorted(outcomes.items()) if k != "issued"}
    notes: list[str] = []
    lift: float | None = None
    ci: Interval | None = None
    if treatment.devices and holdout.devices:
        lift, ci = newcombe_difference(
            treatment.converted, treatment.devices, holdout.converted, holdout.devices
        )
    else:
        notes.append("lift needs devices in both the treatment and the holdout group")
    return CampaignReport(
        campaign_id,
        sum(outcomes.values()),
        issued,
        suppressed,
        redeemed,
        redeemed / issued if issued else None,
        discount_minor,
        revenue_minor,
        currency,
        treatment,
        holdout,
        lift,
        ci,
        attribution_days,
        tuple(notes),
    )
