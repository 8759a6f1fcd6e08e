"""Request and response bodies of proximity offers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, StrictInt, model_validator

from api.schemas.common import RequestModel
from geoengine.offer_report import CampaignReport
from geoengine.offers import DAYS, Campaign
from geoengine.offers_repository import StoredCampaign
from geoengine.offers_service import reward_json

Count = StrictInt


class NearStoreIn(RequestModel):
    tag: str = Field(min_length=1, max_length=100)
    within_m: float = Field(gt=0, le=5000)


class TargetIn(RequestModel):
    fence_ids: list[int] | None = Field(default=None, min_length=1, max_length=10_000)
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    near_store: NearStoreIn | None = None

    @model_validator(mode="after")
    def _one(self) -> TargetIn:
        given = [self.fence_ids is not None, self.tag is not None, self.near_store]
        if sum(bool(g) for g in given) != 1:
            raise ValueError("give exactly one of fence_ids, tag or near_store")
        return self


class HoursIn(RequestModel):
    start: str = Field(pattern=r"^\d\d:\d\d$")
    end: str = Field(pattern=r"^\d\d:\d\d$")


class ScheduleIn(RequestModel):
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    hours: HoursIn | None = None
    days: list[Literal[DAYS]] | None = None  # type: ignore[valid-type]
    timezone: str = Field(default="UTC", max_length=64)


class AudienceIn(RequestModel):
    segments: list[str] | None = Field(default=None, max_length=100)
    customer: Literal["any", "first_time", "returning"] = "any"
    min_lifetime_spend_minor: Count | None = Field(default=None, ge=0)
    max_lifetime_spend_minor: Count | None = Field(default=None, ge=0)
    last_order_within_days: Count | None = Field(default=None, ge=1)
    last_order_older_than_days: Count | None = Field(default=None, ge=1)


class RewardIn(RequestModel):
    kind: Literal["percent", "fixed"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    percent: Decimal | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    amount_minor: Count | None = Field(default=None, ge=1)
    max_discount_minor: Count | None = Field(default=None, ge=1)
    min_basket_minor: Count = Field(default=0, ge=0)
    eligible_skus: list[str] | None = Field(default=None, max_length=1000)


class LimitsIn(RequestModel):
    per_device_per_day: Count | None = Field(default=1, ge=1)
    per_device_per_week: Count | None = Field(default=None, ge=1)
    budget_minor: Count | None = Field(default=None, ge=1)
    budget_redemptions: Count | None = Field(default=None, ge=1)


class CampaignIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    active: bool = True
    trigger: Literal["enter", "dwell"] = "enter"
    target: TargetIn
    schedule: ScheduleIn | None = None
    audience: AudienceIn | None = None
    reward: RewardIn
    limits: LimitsIn = Field(default_factory=LimitsIn)
    holdout_share: float = Field(default=0.0, ge=0.0, le=0.5)
    code_ttl_s: Count = Field(default=7200, ge=60, le=90 * 86400)
    attribution_days: Count = Field(default=7, ge=1, le=90)

    def spec(self) -> dict[str, Any]:
        """The JSON spec stored and parsed by the domain (``limits`` kept whole:
        an explicit null cap means "no cap")."""
        out = self.model_dump(mode="json", exclude_none=True, exclude={"limits"})
        out["limits"] = self.limits.model_dump(mode="json")
        return out


class DeviceCustomerIn(RequestModel):
    customer_id: uuid.UUID


class OfferSettingsIn(RequestModel):
    device_cap_per_day: Count | None = Field(ge=1)
    device_cap_per_week: Count | None = Field(ge=1)


class VerifyIn(RequestModel):
    code: str = Field(min_length=1, max_length=400)


def campaign_document(stored: StoredCampaign, c: Campaign) -> dict[str, Any]:
    return {
        "id": stored.campaign_id,
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
        **stored.spec,
        "active": stored.active,
        "reward_summary": reward_json(c),
    }


def report_document(r: CampaignReport) -> dict[str, Any]:
    def group(g: Any) -> dict[str, Any]:
        return {"devices": g.devices, "converted": g.converted, "rate": g.rate}

    return {
        "campaign_id": r.campaign_id,
        "triggers": r.triggers,
        "issued": r.issued,
        "suppressed": dict(r.suppressed),
        "redeemed": r.redeemed,
        "redemption_rate": r.redemption_rate,
        "currency": r.currency,
        "discount_minor": r.discount_minor,
        "revenue_minor": r.revenue_minor,
        "attribution_days": r.attribution_days,
        "treatment": group(r.treatment),
        "holdout": group(r.holdout),
        "lift": r.lift,
        "lift_ci95": (
            {"low": r.lift_ci95.low, "high": r.lift_ci95.high}
            if r.lift_ci95 is not None
            else None
        ),
        "lift_method": "difference of conversion proportions, Newcombe hybrid score interval",
        "notes": list(r.notes),
    }
