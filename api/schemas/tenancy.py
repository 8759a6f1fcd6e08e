"""Schemas for the caller's identity, API keys and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel

Scope = Literal["device", "checkout", "dispatcher", "admin"]


class Me(ResponseModel):
    tenant_id: uuid.UUID
    tenant_name: str
    key_id: str
    scopes: list[str]


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreate(RequestModel):
    scopes: list[Scope] = Field(min_length=1)
    name: str = Field(default="", max_length=200)


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The secret key; shown only once.")


class TenantSettingsIn(RequestModel):
    """Tenant-wide settings; omitted fields are left as they are."""

    ping_precision: Literal["exact", "h3_9"] | None = Field(
        default=None,
        description="Store pings' exact points, or only their H3 cell (resolution 9).",
    )
    service_area: dict[str, Any] | None = Field(
        default=None,
        description=(
            "GeoJSON Polygon or MultiPolygon where the tenant's devices are expected. "
            "A GPS fix outside it is flagged `outside_service_area`; one that lands "
            "inside once latitude and longitude are swapped is flagged "
            "`swapped_coordinates` and not used as a position. `null` removes it."
        ),
    )
    prepositioning_h3_res: int | None = Field(
        default=None,
        ge=5,
        le=9,
        description="H3 resolution of pre-positioning forecasts (default 7).",
    )


class TenantSettings(ResponseModel):
    ping_precision: Literal["exact", "h3_9"] = "exact"
    service_area: dict[str, Any] | None = None
    prepositioning_h3_res: int = 7


class AuditEntry(ResponseModel):
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    details: dict[str, Any]
