"""SQL for tenants, API keys and the audit log. Only this module touches their tables.

Repositories are built with a session and only ``flush()``; the caller owns the
transaction (one per request, or one per administration command).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from data.models import ApiKey, AuditLog, Tenant


@dataclass(frozen=True)
class TenantRecord:
    id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    tenant_id: uuid.UUID
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyLookup:
    """What authentication needs to know about a key, before any tenant is bound."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    secret_sha256: str
    scopes: tuple[str, ...]
    revoked: bool


def _key_record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.id,
        row.tenant_id,
        row.key_id,
        row.name,
        tuple(row.scopes),
        row.created_at,
        row.revoked_at,
    )


class TenantRepository:
    """Tenants and their API keys."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create_tenant(self, name: str) -> TenantRecord:
        row = Tenant(name=name)
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return TenantRecord(row.id, row.name, row.created_at)

    async def get_tenant(self, tenant_id: uuid.UUID) -> TenantRecord | None:
        row = await self.session.get(Tenant, tenant_id)
        return TenantRecord(row.id, row.name, row.created_at) if row else None

    async def settings(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        row = await self.session.get(Tenant, tenant_id)
        return dict(row.settings) if row else {}

    async def update_settings(
        self, tenant_id: uuid.UUID, changes: dict[str, Any]
    ) -> dict[str, Any]:
        row = await self.session.get(Tenant, tenant_id)
        if row is None:
            return {}
        row.settings = {**row.settings, **changes}
        await self.session.flush()
        return dict(row.settings)

    async def create_key(
        self,
        tenant_id: uuid.UUID,
        key_id: str,
        secret_sha256: str,
        scopes: list[str],
        name: str = "",
    ) -> ApiKeyRecord:
        row = ApiKey(
            tenant_id=tenant_id,
            key_id=key_id,
            secret_sha256=secret_sha256,
            scopes=scopes,
            name=name,
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return _key_record(row)

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.session.scalars(select(ApiKey).order_by(ApiKey.created_at))
        return [_key_record(r) for r in rows]

    async def get_key(self, id_: uuid.UUID) -> ApiKeyRecord | None:
        row = await self.session.get(ApiKey, id_)
        return _key_record(row) if row else None

    async def revoke_key(self, id_: uuid.UUID) -> ApiKeyRecord | None:
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == id_, ApiKey.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(ApiKey.id)
        )
        if result.first() is None and await self.session.get(ApiKey, id_) is None:
            return None
        await self.session.flush()
        row = await self.session.get(ApiKey, id_, populate_existing=True)
        return _key_record(row) if row else None

    async def lookup_key(self, key_id: str) -> KeyLookup | None:
        """Find a key by its public id through the SECURITY DEFINER function."""
        row = (
            await self.session.execute(
                text("SELECT * FROM geocommerce_lookup_api_key(:k)"), {"k": key_id}
            )
        ).first()
        if row is None:
            return None
        return KeyLookup(
            row.id, row.tenant_id, row.secret_sha256, tuple(row.scopes), row.revoked
        )


class AuditRepository:
    """Appends to the audit log; there is no update or delete."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self,
        *,
        tenant_id: uuid.UUID | None,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditLog(
                tenant_id=tenant_id,
                actor=actor,
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                details=details or {},
            )
        )
        await self.session.flush()

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.session.scalars(
            select(AuditLog).order_by(AuditLog.occurred_at.desc()).limit(limit)
        )
        return [
            {
                "occurred_at": r.occurred_at,
                "actor": r.actor,
                "action": r.action,
                "subject_type": r.subject_type,
                "subject_id": r.subject_id,
                "details": r.details,
            }
            for r in rows
        ]
