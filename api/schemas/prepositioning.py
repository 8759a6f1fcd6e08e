"""Schemas of warehouse pre-positioning."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from api.schemas.common import RequestModel


class WarehouseIn(RequestModel):
    """A warehouse (``PUT /v1/prepositioning/warehouses/{code}`` creates or replaces it).

    The delivery promise is a great-circle ``promise_radius_m`` or a driving time
    ``promise_travel_s`` (e.g. 7200 for "within two hours"; converted with the
    route planner's great-circle model). ``stock`` (SKU -> units on hand)
    replaces the stored stock when given.
    """

    name: str = Field(default="", max_length=200)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    capacity_units: int = Field(ge=0, le=10**12)
    promise_radius_m: float | None = Field(default=None, gt=0, le=2_000_000)
    promise_travel_s: int | None = Field(default=None, gt=0, le=7 * 86_400)
    outbound_cost_per_km_minor: Decimal = Field(ge=0, le=10**9, decimal_places=4)
    stock: dict[str, Annotated[int, Field(ge=0, le=10**12)]] | None = None


class PlacementParamsIn(RequestModel):
    promise_value_minor: int = Field(default=500, ge=0, le=10**9)
    sale_value_minor: int = Field(default=2000, ge=0, le=10**9)
    safety_z: float = Field(default=1.0, ge=0, le=5)
    safety_value_share: float = Field(default=0.5, ge=0, le=1)
    transfer_cost_per_unit_km_minor: Decimal = Field(
        default=Decimal("0.2"), ge=0, le=10**6
    )
    time_limit_s: float = Field(default=60.0, gt=0, le=600)


class PrepositioningPlanIn(RequestModel):
    """Learn from ``weeks`` whole weeks of placed orders before ``as_of`` (default:
    today, midnight UTC), plan next week's stock and evaluate on the last week."""

    weeks: int = Field(default=52, ge=1, le=156)
    as_of: datetime | None = None
    h3_res: int | None = Field(
        default=None, ge=5, le=9, description="default: the tenant's setting (7)"
    )
    evaluate: bool = True
    placement: PlacementParamsIn = Field(default_factory=PlacementParamsIn)
