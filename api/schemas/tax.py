"""Schemas of tax resolution, quotes, commitments, reversals and reports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from api.schemas.common import RequestModel

Policy = Literal["most_likely", "highest_rate", "require_precise_location", "split"]
Category = Literal["general", "clothing", "food", "digital_goods", "shipping"]


class LocationIn(RequestModel):
    """A point with its accuracy radius, or an IP, or a US ZIP: exactly one."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=1_000_000)
    ip: str | None = Field(default=None, max_length=64)
    zip: str | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _one_form(self) -> LocationIn:
        forms = [
            self.lat is not None or self.lon is not None,
            self.ip is not None,
            self.zip is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("give exactly one of: lat+lon (+accuracy_m), ip, zip")
        if forms[0] and (self.lat is None or self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


class ResolveIn(LocationIn):
    date: dt.date | None = None
    policy: Policy | None = None


class ResolveBatchIn(RequestModel):
    items: list[ResolveIn] = Field(min_length=1, max_length=10_000)


class QuoteLineIn(RequestModel):
    line_id: str = Field(min_length=1, max_length=100)
    amount_minor: int = Field(ge=0, description="Unit amount in minor units")
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    category: Category = "general"


class ExemptionIn(RequestModel):
    certificate_id: str = Field(min_length=1, max_length=100)
    jurisdiction_codes: list[str] | None = None
    reason: str = "exemption certificate"


class QuoteIn(RequestModel):
    currency: str = Field(min_length=3, max_length=3)
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=1000)
    shipping_minor: int = Field(default=0, ge=0)
    ship_to: LocationIn
    ship_from: LocationIn | None = None
    exemption: ExemptionIn | None = None
    tax_date: dt.date | None = None
    policy: Policy | None = None

    @model_validator(mode="after")
    def _unique_lines(self) -> QuoteIn:
        ids = [ln.line_id for ln in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("lines: line_id values must be unique")
        return self


class CommitIn(RequestModel):
    order_id: str = Field(min_length=1, max_length=100)


class ReverseIn(RequestModel):
    refunds: dict[str, int] | None = Field(
        default=None, description="line_id -> refunded amount (minor units); null: all"
    )


class RegistrationIn(RequestModel):
    jurisdiction_code: str = Field(min_length=2, max_length=20)
    registration_id: str = Field(min_length=1, max_length=100)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class RegistrationsIn(RequestModel):
    registrations: list[RegistrationIn] = Field(max_length=1000)


Document = dict[str, Any]
