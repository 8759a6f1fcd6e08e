"""Proximity offers: campaigns, eligibility and ranking (pure, no I/O).

A :class:`Campaign` says *where* (fences by id or tag, or "within N metres of
any store with tag X"), *when* (an ``enter`` or ``dwell`` event, dates, local
hours in the store's time zone, days of week), *who* (audience rules over what
commerce knows about the device's customer), *what* (the reward) and *how
often* (per-device caps and budgets; the caps themselves are enforced
atomically in Redis by :mod:`geoengine.offers_state`).

:func:`evaluate_triggers` turns the few enter/dwell events of a ping batch into
decisions: a suppression with its reason, a holdout, or a candidate to reserve.
Candidates of one trigger form a group ranked best first; at most one offer is
granted per trigger.

Suppression reasons (stable strings, reported per campaign):
``schedule``, ``inaccurate``, ``untrusted_position``, ``no_marketing_consent``,
``audience``, ``holdout``, ``outranked``, ``device_cap_day``,
``device_cap_week``, ``global_cap_day``, ``global_cap_week``,
``budget_money``, ``budget_redemptions``, ``state_unavailable``.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geoengine.errors import InvalidInputError
from geoengine.types import EventKind, FenceId

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_S = 86_400

# Trust flags that forbid an offer (names of geoengine.types.Flag values).
UNTRUSTED_FLAGS = frozenset({"jumped", "mocked", "ip_gps_conflict"})


class Reason(StrEnum):
    """Why a (trigger, campaign) pair got no offer."""

    SCHEDULE = "schedule"
    INACCURATE = "inaccurate"
    UNTRUSTED_POSITION = "untrusted_position"
    NO_MARKETING_CONSENT = "no_marketing_consent"
    AUDIENCE = "audience"
    HOLDOUT = "holdout"
    OUTRANKED = "outranked"
    DEVICE_CAP_DAY = "device_cap_day"
    DEVICE_CAP_WEEK = "device_cap_week"
    GLOBAL_CAP_DAY = "global_cap_day"
    GLOBAL_CAP_WEEK = "global_cap_week"
    BUDGET_MONEY = "budget_money"
    BUDGET_REDEMPTIONS = "budget_redemptions"
    STATE_UNAVAILABLE = "state_unavailable"


# Codes returned by the reservation script, in order (0 = granted).
RESERVE_REASONS: tuple[Reason | None, ...] = (
    None,
    Reason.OUTRANKED,
    Reason.DEVICE_CAP_DAY,
    Reason.DEVICE_CAP_WEEK,
    Reason.GLOBAL_CAP_DAY,
    Reason.GLOBAL_CAP_WEEK,
    Reason.BUDGET_MONEY,
    Reason.BUDGET_REDEMPTIONS,
)


class CustomerKind(StrEnum):
    ANY = "any"
    FIRST_TIME = "first_time"
    RETURNING = "returning"


class RewardKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


# ---- campaign ------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Fences by id, fences by tag, or ``within_m`` of any store tagged ``store_tag``."""

    fence_ids: frozenset[FenceId] = frozenset()
    tag: str | None = None
    store_tag: str | None = None
    within_m: float | None = None

    @property
    def near_store(self) -> bool:
        return self.store_tag is not None


@dataclass(frozen=True)
class Schedule:
    """Dates (UTC instants), local hours ``[start, end)`` and days of week.

    Hours are read in the store's time zone (the fence's ``timezone`` property)
    or, when the fence has none, in ``timezone``. ``end <= start`` spans midnight.
    """

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    hour_start: time | None = None
    hour_end: time | None = None
    days: frozenset[int] = frozenset(range(7))
    timezone: str = "UTC"

    @property
    def always(self) -> bool:
        """No dates, no hours, every day: no clock arithmetic needed."""
        return (
            self.starts_at is None
            and self.ends_at is None
            and self.hour_start is None
            and len(self.days) == 7
        )


@dataclass(frozen=True)
class Audience:
    """Rules over the device's customer; all must hold (absent rule: no filter)."""

    segments: frozenset[str] = frozenset()
    customer: CustomerKind = CustomerKind.ANY
    min_lifetime_spend_minor: int | None = None
    max_lifetime_spend_minor: int | None = None
    last_order_within_days: int | None = None
    last_order_older_than_days: int | None = None

    @property
    def needs_facts(self) -> bool:
        return self != Audience()


@dataclass(frozen=True)
class Reward:
    """Percentage (capped by ``max_discount_minor``) or fixed minor units."""

    kind: RewardKind
    currency: str
    percent: Decimal = Decimal(0)
    amount_minor: int = 0
    max_discount_minor: int | None = None
    min_basket_minor: int = 0
    eligible_skus: frozenset[str] = frozenset()

    @property
    def max_value_minor(self) -> int | None:
        """The most one redemption can take off (None: unbounded)."""
        if self.kind is RewardKind.FIXED:
            return self.amount_minor
        return self.max_discount_minor


@dataclass(frozen=True)
class Limits:
    """Per-device caps (per calendar day and ISO week, UTC) and campaign budgets.

    ``None`` means no limit. Budgets are reservations: an issued code holds its
    maximum value and one redemption until it is redeemed (then its actual
    discount) or expires (then nothing, after reconciliation).
    """

    per_device_per_day: int | None = 1
    per_device_per_week: int | None = None
    budget_minor: int | None = None
    budget_redemptions: int | None = None


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    trigger: EventKind
    target: Target
    reward: Reward
    schedule: Schedule = field(default_factory=Schedule)
    audience: Audience = field(default_factory=Audience)
    limits: Limits = field(default_factory=Limits)
    holdout_share: float = 0.0
    code_ttl_s: int = 7200
    attribution_days: int = 7
    active: bool = True


@dataclass(frozen=True)
class OfferParams:
    """Tenant-wide offer settings: the global per-device caps across campaigns."""

    device_cap_per_day: int | None = 3
    device_cap_per_week: int | None = 10


def _err(field_: str, problem: str) -> InvalidInputError:
    return InvalidInputError(field_, problem)


def _int(spec: Mapping[str, Any], key: str, path: str, lo: int = 0) -> int | None:
    v = spec.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise _err(f"{path}.{key}", f"must be an integer >= {lo}")
    return v


def _parse_time(v: Any, path: str) -> time:
    try:
        return time.fromisoformat(str(v))
    except ValueError:
        raise _err(path, "must be HH:MM") from None


def _parse_dt(v: Any, path: str) -> datetime | None:
    if v is None:
        return None
    try:
        dt = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    except ValueError:
        raise _err(path, "must be an ISO 8601 date-time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def check_timezone(name: str, path: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _err(path, f"unknown time zone {name!r}") from None
    return name


def campaign_from_spec(campaign_id: str, spec: Mapping[str, Any]) -> Campaign:
    """Build and validate a campaign from its JSON spec (errors name the field).

    Examples
    --------
    >>> c = campaign_from_spec("c1", {"name": "Coffee", "trigger": "enter",
    ...     "target": {"tag": "cafe"},
    ...     "reward": {"kind": "fixed", "amount_minor": 200, "currency": "USD"}})
    >>> c.reward.max_value_minor, c.limits.per_device_per_day
    (200, 1)
    """
    name = str(spec.get("name") or "")
    if not name:
        raise _err("name", "required")
    try:
        trigger = EventKind(spec.get("trigger", "enter"))
    except ValueError:
        raise _err("trigger", "must be 'enter' or 'dwell'") from None
    if trigger is EventKind.EXIT:
        raise _err("trigger", "must be 'enter' or 'dwell'")

    t = spec.get("target") or {}
    fence_ids = frozenset(int(f) for f in t.get("fence_ids") or ())
    near = t.get("near_store")
    target = Target(
        fence_ids,
        t.get("tag"),
        near.get("tag") if near else None,
        float(near["within_m"]) if near and near.get("within_m") is not None else None,
    )
    given = sum((bool(fence_ids), target.tag is not None, near is not None))
    if given != 1:
        raise _err("target", "give exactly one of fence_ids, tag or near_store")
    if near is not None and not (
        target.store_tag
        and target.within_m is not None
        and 0 < target.within_m <= 5000
        and math.isfinite(target.within_m)
    ):
        raise _err("target.near_store", "needs tag and within_m in (0, 5000]")

    s = spec.get("schedule") or {}
    days = s.get("days")
    try:
        day_set = (
            frozenset(DAYS.index(str(d).lower()[:3]) for d in days)
            if days
            else frozenset(range(7))
        )
    except ValueError:
        raise _err("schedule.days", f"each must be one of {', '.join(DAYS)}") from None
    hours = s.get("hours")
    schedule = Schedule(
        _parse_dt(s.get("starts_at"), "schedule.starts_at"),
        _parse_dt(s.get("ends_at"), "schedule.ends_at"),
        _parse_time(hours["start"], "schedule.hours.start") if hours else None,
        _parse_time(hours["end"], "schedule.hours.end") if hours else None,
        day_set,
        check_timezone(str(s.get("timezone") or "UTC"), "schedule.timezone"),
    )
    if (
        schedule.starts_at
        and schedule.ends_at
        and schedule.ends_at <= schedule.starts_at
    ):
        raise _err("schedule.ends_at", "must be after starts_at")

    a = spec.get("audience") or {}
    try:
        kind = CustomerKind(a.get("customer", "any"))
    except ValueError:
        raise _err(
            "audience.customer", "must be any, first_time or returning"
        ) from None
    audience = Audience(
        frozenset(a.get("segments") or ()),
        kind,
        _int(a, "min_lifetime_spend_minor", "audience"),
        _int(a, "max_lifetime_spend_minor", "audience"),
        _int(a, "last_order_within_days", "audience", 1),
        _int(a, "last_order_older_than_days", "audience", 1),
    )

    r = spec.get("reward") or {}
    try:
        rkind = RewardKind(r.get("kind"))
    except ValueError:
        raise _err("reward.kind", "must be 'percent' or 'fixed'") from None
    currency = str(r.get("currency") or "")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise _err("reward.currency", "must be an ISO 4217 code such as USD")
    try:
        percent = Decimal(str(r.get("percent", 0)))
    except InvalidOperation:
        raise _err("reward.percent", "must be a decimal number") from None
    reward = Reward(
        rkind,
        currency,
        percent,
        _int(r, "amount_minor", "reward") or 0,
        _int(r, "max_discount_minor", "reward", 1),
        _int(r, "min_basket_minor", "reward") or 0,
        frozenset(str(x) for x in r.get("eligible_skus") or ()),
    )
    if rkind is RewardKind.PERCENT and not (
        percent.is_finite() and Decimal(0) < percent <= 100
    ):
        raise _err("reward.percent", "must be in (0, 100]")
    if rkind is RewardKind.FIXED and reward.amount_minor <= 0:
        raise _err("reward.amount_minor", "must be > 0 for a fixed reward")

    lim = spec.get("limits") or {}
    limits = Limits(
        _int(lim, "per_device_per_day", "limits", 1)
        if "per_device_per_day" in lim
        else 1,
        _int(lim, "per_device_per_week", "limits", 1),
        _int(lim, "budget_minor", "limits", 1),
        _int(lim, "budget_redemptions", "limits", 1),
    )
    if limits.budget_minor is not None and reward.max_value_minor is None:
        raise _err(
            "reward.max_discount_minor",
            "required for a percentage reward when limits.budget_minor is set",
        )
    holdout = spec.get("holdout_share", 0.0)
    if (
        isinstance(holdout, bool)
        or not isinstance(holdout, int | float)
        or not 0.0 <= holdout <= 0.5
    ):
        raise _err("holdout_share", "must be a number in [0, 0.5]")
    ttl = _int(spec, "code_ttl_s", "", 60)
    attribution = _int(spec, "attribution_days", "", 1)
    return Campaign(
        campaign_id,
        name,
        trigger,
        target,
        reward,
        schedule,
        audience,
        limits,
        float(holdout),
        ttl if ttl is not None else 7200,
        attribution if attribution is not None else 7,
        bool(spec.get("active", True)),
    )


# ---- facts about triggers --------------------------------------------------------
@dataclass(frozen=True)
class FenceFacts:
    """What eligibility needs to know about a fence (a store or zone)."""

    fence_id: FenceId
    tag: str | None
    resolvable_m: float
    timezone: str | None = None


def resolvable_m(
    radius_m: float | None, area_m2: float, metadata: Mapping[str, Any]
) -> float:
    """Size a fence can resolve: ``metadata.resolvable_m``, else its radius
    (circles) or the radius of the circle of the same area.

    Examples
    --------
    >>> resolvable_m(150.0, 0.0, {})
    150.0
    >>> round(resolvable_m(None, math.pi * 100**2, {}))
    100
    """
    given = metadata.get("resolvable_m")
    if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
        return float(given)
    if radius_m:
        return float(radius_m)
    return math.sqrt(max(area_m2, 0.0) / math.pi)


@dataclass(frozen=True)
class CustomerFacts:
    """What commerce knows about a device's customer (amounts per currency)."""

    customer_id: str | None
    segment: str | None = None
    orders: int = 0
    lifetime_spend_minor: Mapping[str, int] = field(default_factory=dict)
    last_order_ts_s: float | None = None


NO_CUSTOMER = CustomerFacts(None)


class Trigger(NamedTuple):
    """One enter/dwell event of a batch, with what the ping knew.

    The per-event value types of the issuing path (this, :class:`Candidate`,
    :class:`Decision`) are named tuples: a batch makes thousands of them, and a
    named tuple is built several times faster than a frozen dataclass.
    """

    row: int
    device_id: str
    fence_id: FenceId
    kind: EventKind
    ts_s: float
    accuracy_m: float
    flags: frozenset[str]
    marketing: bool
    stores: tuple[tuple[FenceId, float], ...] = ()  # (store fence, distance m)


class Candidate(NamedTuple):
    """A (trigger, campaign) pair that passed every rule but the Redis caps."""

    group: int
    trigger: Trigger
    campaign: Campaign
    value_minor: int
    store_id: FenceId


class Decision(NamedTuple):
    """The outcome of one (trigger, campaign) pair: ``issued`` or a reason."""

    trigger: Trigger
    campaign: Campaign
    outcome: str
    store_id: FenceId


# ---- rules -------------------------------------------------------------------------
def in_schedule(s: Schedule, ts_s: float, tz: str | None = None) -> bool:
    """True when ``ts_s`` falls in the dates, days and local hours of ``s``.

    Examples
    --------
    >>> s = Schedule(hour_start=time(9), hour_end=time(17), days=frozenset({0}),
    ...              timezone="America/Denver")
    >>> ts = datetime(2026, 11, 23, 16, 30, tzinfo=UTC).timestamp()  # Mon 09:30 MST
    >>> in_schedule(s, ts), in_schedule(s, ts - 3600)
    (True, False)
    """
    if s.always:
        return True
    now = datetime.fromtimestamp(ts_s, UTC)
    if s.starts_at and now < s.starts_at:
        return False
    if s.ends_at and now >= s.ends_at:
        return False
    local = now.astimezone(ZoneInfo(tz or s.timezone))
    if s.hour_start is None or s.hour_end is None:
        return local.weekday() in s.days
    t = local.time().replace(tzinfo=None)
    if s.hour_start < s.hour_end:
        return s.hour_start <= t < s.hour_end and local.weekday() in s.days
    # spans midnight: the part after midnight belongs to the previous day
    if t >= s.hour_start:
        return local.weekday() in s.days
    if t < s.hour_end:
        return (local.weekday() - 1) % 7 in s.days
    return False


def matches_audience(
    a: Audience, facts: CustomerFacts, currency: str, now_s: float
) -> bool:
    """True when the customer behind a device satisfies every audience rule.

    A device with no known customer is a first-time customer with no spend.
    """
    if a.segments and facts.segment not in a.segments:
        return False
    if a.customer is CustomerKind.FIRST_TIME and facts.orders > 0:
        return False
    if a.customer is CustomerKind.RETURNING and facts.orders == 0:
        return False
    spend = facts.lifetime_spend_minor.get(currency, 0)
    if a.min_lifetime_spend_minor is not None and spend < a.min_lifetime_spend_minor:
        return False
    if a.max_lifetime_spend_minor is not None and spend > a.max_lifetime_spend_minor:
        return False
    age_days = (
        (now_s - facts.last_order_ts_s) / DAY_S
        if facts.last_order_ts_s is not None
        else None
    )
    if a.last_order_within_days is not None and (
        age_days is None or age_days > a.last_order_within_days
    ):
        return False
    return a.last_order_older_than_days is None or (
        age_days is None or age_days >= a.last_order_older_than_days
    )


def in_holdout(campaign_id: str, device_id: str, share: float) -> bool:
    """Deterministic assignment of a device to a campaign's holdout group.

    Examples
    --------
    >>> in_holdout("c", "d", 0.0), in_holdout("c", "d", 1.0)
    (False, True)
    """
    h = hashlib.sha256(f"{campaign_id}\x00{device_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64 < share


def reward_rank(r: Reward) -> tuple[int, Decimal]:
    """Sort key, best first: larger maximum value, then larger percentage."""
    return (-(r.max_value_minor or 0), -r.percent)


def day_week(ts_s: float) -> tuple[int, int]:
    """UTC day number and ISO-week number (weeks start on Monday).

    Examples
    --------
    >>> day_week(0.0)  # Thursday 1970-01-01
    (0, 0)
    >>> day_week(4 * 86400.0)  # Monday 1970-01-05
    (4, 1)
    """
    day = int(ts_s // DAY_S)
    return day, (day + 3) // 7


# ---- the campaign index and the evaluation -----------------------------------------
@dataclass(frozen=True)
class CampaignSet:
    """Active campaigns indexed by trigger target."""

    campaigns: tuple[Campaign, ...]
    by_fence: Mapping[FenceId, tuple[Campaign, ...]]
    by_tag: Mapping[str, tuple[Campaign, ...]]
    near_store: tuple[Campaign, ...]
    near_by_store_tag: Mapping[str, tuple[Campaign, ...]] = field(default_factory=dict)
    # per campaign id: rank key (best first), whether audience facts are needed
    rank: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    needs_facts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, campaigns: Iterable[Campaign]) -> CampaignSet:
        active = tuple(c for c in campaigns if c.active)
        by_fence: dict[FenceId, list[Campaign]] = {}
        by_tag: dict[str, list[Campaign]] = {}
        for c in active:
            for f in c.target.fence_ids:
                by_fence.setdefault(f, []).append(c)
            if c.target.tag is not None:
                by_tag.setdefault(c.target.tag, []).append(c)
        near = tuple(c for c in active if c.target.near_store)
        by_store_tag: dict[str, list[Campaign]] = {}
        for c in near:
            by_store_tag.setdefault(c.target.store_tag or "", []).append(c)
        return cls(
            active,
            {k: tuple(v) for k, v in by_fence.items()},
            {k: tuple(v) for k, v in by_tag.items()},
            near,
            {k: tuple(v) for k, v in by_store_tag.items()},
            {c.campaign_id: (*reward_rank(c.reward), c.campaign_id) for c in active},
            frozenset(c.campaign_id for c in active if c.audience.needs_facts),
        )

    @property
    def max_within_m(self) -> float:
        return max((c.target.within_m or 0.0 for c in self.near_store), default=0.0)

    @property
    def store_tags(self) -> frozenset[str]:
        return frozenset(
            c.target.store_tag for c in self.near_store if c.target.store_tag
        )

    def matching(
        self, t: Trigger, fence: FenceFacts | None, store_tags: Mapping[FenceId, str]
    ) -> list[tuple[Campaign, FenceId]]:
        """Campaigns whose target and trigger kind match, with the store they use."""
        out: list[tuple[Campaign, FenceId]] = []
        seen: set[str] = set()
        direct = list(self.by_fence.get(t.fence_id, ()))
        if fence is not None and fence.tag is not None:
            direct += self.by_tag.get(fence.tag, ())
        for c in direct:
            if c.trigger is t.kind and c.campaign_id not in seen:
                seen.add(c.campaign_id)
                out.append((c, t.fence_id))
        for store, dist in t.stores:  # nearest first
            for c in self.near_by_store_tag.get(store_tags.get(store, ""), ()):
                if (
                    c.trigger is t.kind
                    and c.campaign_id not in seen
                    and dist <= (c.target.within_m or 0.0)
                ):
                    seen.add(c.campaign_id)
                    out.append((c, store))
        return out


def evaluate_triggers(
    triggers: Sequence[Trigger],
    campaigns: CampaignSet,
    fences: Mapping[FenceId, FenceFacts],
    customers: Mapping[str, CustomerFacts],
) -> tuple[list[Decision], list[Candidate]]:
    """Decide every (trigger, campaign) pair up to the Redis caps.

    Returns the final decisions (suppressed, holdout) and the candidates to
    reserve; candidates of one trigger share a ``group`` and are ranked best
    first (the reservation grants at most one per group).

    The position must be trustworthy for the fence: no ``jumped``, ``mocked`` or
    ``ip_gps_conflict`` flag, and an accuracy radius at most half the size the
    *store* fence can resolve (:func:`resolvable_m`).
    """
    decisions: list[Decision] = []
    candidates: list[Candidate] = []
    tags = {f.fence_id: f.tag for f in fences.values() if f.tag is not None}
    rank, needs_facts = campaigns.rank, campaigns.needs_facts
    for g, t in enumerate(triggers):
        matched = campaigns.matching(t, fences.get(t.fence_id), tags)
        if not matched:
            continue
        if len(matched) > 1:
            matched.sort(key=lambda cs: rank[cs[0].campaign_id])
        facts = customers.get(t.device_id, NO_CUSTOMER)
        # the same for every campaign of this trigger
        common = (
            Reason.UNTRUSTED_POSITION
            if t.flags and t.flags & UNTRUSTED_FLAGS
            else Reason.NO_MARKETING_CONSENT
            if not t.marketing
            else None
        )
        for c, store in matched:
            reason = _rule_reason(
                t, c, fences.get(store), facts, c.campaign_id in needs_facts, common
            )
            if (
                reason is None
                and c.holdout_share
                and in_holdout(c.campaign_id, t.device_id, c.holdout_share)
            ):
                reason = Reason.HOLDOUT
            if reason is not None:
                decisions.append(Decision(t, c, reason.value, store))
            else:
                value = c.reward.max_value_minor or 0
                candidates.append(Candidate(g, t, c, value, store))
    return decisions, candidates


def _rule_reason(
    t: Trigger,
    c: Campaign,
    store: FenceFacts | None,
    facts: CustomerFacts,
    needs_facts: bool,
    common: Reason | None,
) -> Reason | None:
    """The first rule (in reporting order) that refuses this pair, if any."""
    if not c.schedule.always and not in_schedule(
        c.schedule, t.ts_s, store.timezone if store is not None else None
    ):
        return Reason.SCHEDULE
    if common is Reason.UNTRUSTED_POSITION:
        return common
    limit = 0.5 * store.resolvable_m if store is not None else 0.0
    if not t.accuracy_m <= limit:  # NaN fails too
        return Reason.INACCURATE
    if common is not None:
        return common
    if needs_facts and not matches_audience(
        c.audience, facts, c.reward.currency, t.ts_s
    ):
        return Reason.AUDIENCE
    return None


def new_offer_id() -> uuid.UUID:
    return uuid.uuid4()
