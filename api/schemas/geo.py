"""Schemas of geofences (GeoJSON), point queries, pings, consent and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from api.schemas.common import RequestModel, ResponseModel

DeviceId = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")


class FenceProperties(RequestModel):
    """Fence properties; unknown keys are kept in ``metadata``."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)

    name: str = Field(default="", max_length=200)
    tag: str | None = Field(default=None, max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    opening_hours: dict[str, Any] | None = None
    dwell_s: int | None = Field(default=None, ge=0, le=7 * 86400)
    active: bool = True
    radius_m: float | None = Field(
        default=None, gt=0, description="Circle radius for Point geometries."
    )

    def merged_metadata(self) -> dict[str, Any]:
        return {**(self.model_extra or {}), **self.metadata}


class FeatureIn(RequestModel):
    type: Literal["Feature"]
    geometry: dict[str, Any] = Field(
        description="Polygon, MultiPolygon, or Point with properties.radius_m"
    )
    properties: FenceProperties = Field(default_factory=FenceProperties)
    id: str | int | None = None


class FeatureCollectionIn(RequestModel):
    type: Literal["FeatureCollection"]
    features: list[FeatureIn] = Field(min_length=1)


class FeatureOut(ResponseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: dict[str, Any]
    properties: dict[str, Any]


class ImportResult(ResponseModel):
    created: int
    ids: list[dict[str, Any]] = Field(
        description="Per feature: id and external_id, in input order."
    )


class PointsIn(RequestModel):
    points: list[tuple[float, float]] = Field(
        description="[[lon, lat], ...], up to 100,000"
    )


class ContainsOut(ResponseModel):
    results: list[list[int]]


class NearbyIn(RequestModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=50_000)
    limit: int = Field(default=50, ge=1, le=1000)


class NearbyFence(ResponseModel):
    id: int
    name: str
    tag: str | None
    external_id: str | None
    distance_m: float


class NearbyOut(ResponseModel):
    fences: list[NearbyFence]


class PingIn(RequestModel):
    device_id: str = DeviceId
    timestamp: datetime
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, gt=0, le=1_000_000)
    ip: str | None = Field(default=None, max_length=64)
    speed_mps: float | None = Field(default=None, ge=0, le=400)
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    mocked: bool = False

    @model_validator(mode="after")
    def _position_or_ip(self) -> PingIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.lat is None and not self.ip:
            raise ValueError("give lat/lon (with accuracy_m) or ip, or both")
        return self


class PingBatchIn(RequestModel):
    pings: list[PingIn] = Field(min_length=1, max_length=10_000)


class EventOut(ResponseModel):
    event_id: str
    fence_id: int
    kind: str
    ts: datetime
    probability: float


class IpOut(ResponseModel):
    status: str
    city: str | None = None
    country_code: str | None = None
    radius_m: float | None = None
    attribution: str = "IP geolocation by DB-IP"


class OfferOut(ResponseModel):
    """An issued proximity offer: a signed single-use code (see /v1/campaigns)."""

    offer_id: str
    code: str
    campaign_id: str
    campaign_name: str
    fence_id: int
    store_fence_id: int
    expires_at: datetime
    reward: dict[str, Any]


class PingOut(ResponseModel):
    status: Literal["accepted", "refused"]
    reason: str | None = None
    position: dict[str, float] | None = None
    accuracy_m: float | None = None
    sources: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    events: list[EventOut] = Field(default_factory=list)
    ip: IpOut | None = None
    offers: list[OfferOut] = Field(default_factory=list)


class PingBatchOut(ResponseModel):
    results: list[PingOut]


class ConsentIn(RequestModel):
    location: bool
    marketing: bool = False


class ConsentItem(ConsentIn):
    device_id: str = DeviceId


class ConsentBatchIn(RequestModel):
    items: list[ConsentItem] = Field(min_length=1, max_length=10_000)


class StoredEventOut(ResponseModel):
    event_id: str
    ts: datetime
    device_id: str
    fence_id: int
    kind: str
    probability: float
    lat: float | None
    lng: float | None
    accuracy_m: float | None
