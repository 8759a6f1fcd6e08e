"""Tenants and API keys: creation, listing, revocation (used by the CLI and the API).

A key reads ``gck_<key_id>_<secret>``: ``key_id`` (16 hex characters) is public and
indexed; only the SHA-256 of the 256-bit random ``secret`` is stored. A slow hash
would add nothing for a secret of that entropy, and authentication stays fast.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

import shapely
import shapely.geometry
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import SCOPES
from data.repository import (
    ApiKeyRecord,
    AuditRepository,
    TenantRecord,
    TenantRepository,
)
from geoengine.errors import InvalidInputError
from geoengine.geometry import FenceShape, GeometryParams, fence_geometry_from_geojson

KEY_PREFIX = "gck"
_KEY_RE = re.compile(r"^gck_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})$")


class UnknownScopeError(ValueError):
    """A scope that is not one of device, checkout, dispatcher, admin."""


@dataclass(frozen=True)
class NewKey:
    record: ApiKeyRecord
    api_key: str  # shown once, never stored


def parse_api_key(raw: str) -> tuple[str, str] | None:
    """Split ``gck_<key_id>_<secret>`` into ``(key_id, secret)``; None if malformed."""
    match = _KEY_RE.match(raw)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, expected_sha256: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), expected_sha256)


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise UnknownScopeError(
            f"scope must be one or more of {', '.join(SCOPES)}; got {scopes!r}"
        )
    return sorted(set(scopes))


class TenancyService:
    """Creates tenants and keys, and audits what it does (in the caller's transaction)."""

    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.repo = TenantRepository(session)
        self.audit = AuditRepository(session)
        self.actor = actor

    async def create_tenant(self, name: str) -> TenantRecord:
        name = name.strip()
        if not name:
            raise ValueError("name must not be empty")
        tenant = await self.repo.create_tenant(name)
        await self.audit.append(
            tenant_id=tenant.id,
            actor=self.actor,
            action="tenant.created",
            subject_type="tenant",
            subject_id=str(tenant.id),
            details={"name": name},
        )
        return tenant

    async def create_key(
        self, tenant_id: uuid.UUID, scopes: list[str], name: str = ""
    ) -> NewKey:
        scopes = check_scopes(scopes)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = await self.repo.create_key(
            tenant_id, key_id, hash_secret(secret), scopes, name
        )
        await self.audit.append(
            tenant_id=tenant_id,
            actor=self.actor,
            action="api_key.created",
            subject_type="api_key",
            subject_id=str(record.id),
            details={"scopes": scopes, "key_id": key_id},
        )
        return NewKey(record, f"{KEY_PREFIX}_{key_id}_{secret}")

    async def settings(self, tenant_id: uuid.UUID) -> dict[str, object]:
        return await self.repo.settings(tenant_id)

    async def update_settings(
        self, tenant_id: uuid.UUID, changes: dict[str, object]
    ) -> dict[str, object]:
        """Apply ``changes``; ``service_area`` is validated and normalised."""
        changes = normalise_settings(changes)
        updated = await self.repo.update_settings(tenant_id, changes)
        await self.audit.append(
            tenant_id=tenant_id,
            actor=self.actor,
            action="tenant.settings_changed",
            subject_type="tenant",
            subject_id=str(tenant_id),
            details=dict(changes),
        )
        return updated

    async def audit_log(self, limit: int = 100) -> list[dict[str, object]]:
        return await self.audit.recent(min(max(limit, 1), 1000))

    async def list_keys(self) -> list[ApiKeyRecord]:
        return await self.repo.list_keys()

    async def get_key(self, id_: uuid.UUID) -> ApiKeyRecord | None:
        return await self.repo.get_key(id_)

    async def revoke_key(self, id_: uuid.UUID) -> ApiKeyRecord | None:
        record = await self.repo.revoke_key(id_)
        if record is not None:
            await self.audit.append(
                tenant_id=record.tenant_id,
                actor=self.actor,
                action="api_key.revoked",
                subject_type="api_key",
                subject_id=str(id_),
            )
        return record


SERVICE_AREA_PARAMS = GeometryParams(max_area_m2=5.2e14)  # up to the whole Earth


def normalise_settings(changes: dict[str, object]) -> dict[str, object]:
    """Validate settings changes: ``ping_precision`` may not be null; a
    ``service_area`` is checked like a fence geometry (closed rings, no
    self-intersection, antimeridian split) and stored normalised."""
    out = dict(changes)
    for key, value in out.items():
        if value is None and key != "service_area":
            raise InvalidInputError(key, "may not be null")
    area = out.get("service_area")
    if area is not None:
        if not isinstance(area, dict) or area.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            raise InvalidInputError(
                "service_area.type", "must be a GeoJSON Polygon or MultiPolygon"
            )
        try:
            geometry = fence_geometry_from_geojson(area, params=SERVICE_AREA_PARAMS)
        except InvalidInputError as exc:
            field = exc.field.removeprefix("geometry")
            raise InvalidInputError(f"service_area{field}", exc.problem) from exc
        out["service_area"] = shapely.geometry.mapping(geometry.geometry)
    return out


def service_area_shape(settings: dict[str, object]) -> FenceShape | None:
    """The tenant's service area as a prepared shapely geometry, or ``None``."""
    area = settings.get("service_area")
    if not area:
        return None
    shape = shapely.geometry.shape(area)
    shapely.prepare(shape)
    return shape  # type: ignore[return-value]
